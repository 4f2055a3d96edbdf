//! The last-seen state: the newest policy version and release accepted before (and the log
//! checkpoints seen), read strictly and written after each success, so rollback is refused.

use super::check::{refused, VerifyError};
use super::parse::read_untrusted;
use crate::digest::Sha256Hex;
use crate::fsutil;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The `_type` of the last-seen state file.
pub const STATE_TYPE: &str = "https://relsign.dev/last-seen/v1";

/// The last-seen state: blocks rollback of the policy and of releases. Every write increments
/// `sequence`, and a high-water mark beside the file (`<state>.hwm`) records the last one, so
/// a state file replaced by an older copy, or deleted, is refused rather than silently
/// resetting rollback protection.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LastSeen {
    #[serde(rename = "_type")]
    pub type_: String,
    pub sequence: u64,
    pub policies: BTreeMap<String, PolicySeen>,
    pub releases: BTreeMap<String, String>,
    /// Per transparency log origin: the newest checkpoint seen (by verify or a monitor).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub logs: BTreeMap<String, LogSeen>,
    /// Per log origin: the checkpoint up to which `relsign log monitor` found every entry
    /// signed by a trusted key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub monitored: BTreeMap<String, LogSeen>,
}

/// A checkpoint as the state records it: size and base64 root.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LogSeen {
    pub size: u64,
    pub root: String,
}

impl LogSeen {
    pub fn of(cp: &crate::tlog::checkpoint::Checkpoint) -> LogSeen {
        LogSeen {
            size: cp.size,
            root: cp.root_b64(),
        }
    }
    /// As a checkpoint of `origin`, read from the state file `state` (named in messages).
    pub fn seen(
        &self,
        origin: &str,
        state: &Path,
    ) -> Result<crate::tlog::check::Seen, VerifyError> {
        let root = crate::dsse::b64_decode(&self.root)
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| {
                refused(
                    "last-seen state",
                    format!(
                        "{}: logs[{origin:?}].root is not base64 of 32 bytes",
                        state.display()
                    ),
                )
            })?;
        Ok(crate::tlog::check::Seen {
            checkpoint: crate::tlog::checkpoint::Checkpoint {
                origin: origin.to_string(),
                size: self.size,
                root,
            },
            from: format!("last seen, {}", state.display()),
        })
    }
}

impl Default for LastSeen {
    fn default() -> Self {
        LastSeen {
            type_: STATE_TYPE.into(),
            sequence: 0,
            policies: BTreeMap::new(),
            releases: BTreeMap::new(),
            logs: BTreeMap::new(),
            monitored: BTreeMap::new(),
        }
    }
}

/// The state as relsign wrote it before it carried `_type` and `sequence`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LegacyLastSeen {
    policies: BTreeMap<String, PolicySeen>,
    releases: BTreeMap<String, String>,
}

/// Per policy directory (its canonical path): the newest version accepted, and the sha256 of
/// version 1's payload (the anchor).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySeen {
    pub version: u64,
    pub anchor_sha256: String,
}

/// The high-water mark beside the state file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HighWater {
    #[serde(rename = "_type")]
    type_: String,
    sequence: u64,
}

fn hwm_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".hwm");
    PathBuf::from(s)
}

impl LastSeen {
    /// Read the state. A file that is not relsign's state, is malformed, went backwards
    /// (its sequence is below the high-water mark) or vanished while its mark remains is a
    /// refusal (exit 1) with the reason: each would reset rollback protection.
    pub fn read(path: &Path) -> Result<LastSeen, VerifyError> {
        let bad = |why: String| {
            refused(
                "last-seen state",
                format!(
                    "{}: {why}; refusing to verify without the rollback protection it carries \
                     (if you really mean to start afresh, remove it and {})",
                    path.display(),
                    hwm_path(path).display()
                ),
            )
        };
        let mark = match std::fs::symlink_metadata(hwm_path(path)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            _ => {
                let bytes = read_untrusted(&hwm_path(path), 4096, "last-seen state")?;
                let h: HighWater = crate::json::from_slice(&bytes, 4096)
                    .map_err(|e| bad(format!("its high-water mark is malformed: {e}")))?;
                if h.type_ != STATE_TYPE {
                    return Err(bad(format!("its high-water mark has _type {:?}", h.type_)));
                }
                Some(h.sequence)
            }
        };
        if std::fs::symlink_metadata(path).is_err() {
            return match mark {
                Some(n) => Err(bad(format!(
                    "missing, but its high-water mark records write {n}"
                ))),
                None => Ok(LastSeen::default()),
            };
        }
        let bytes = read_untrusted(path, crate::json::limit::STATE, "last-seen state")?;
        let v = crate::json::value(&bytes, crate::json::limit::STATE)
            .map_err(|e| bad(format!("not relsign's last-seen state: {e}")))?;
        let state = match v.get("_type") {
            Some(t) if t == STATE_TYPE => {
                serde_json::from_value::<LastSeen>(v).map_err(|e| bad(format!("malformed: {e}")))?
            }
            Some(t) => return Err(bad(format!("not relsign's last-seen state (_type {t})"))),
            None => {
                let old: LegacyLastSeen = serde_json::from_value(v)
                    .map_err(|e| bad(format!("not relsign's last-seen state: {e}")))?;
                if old.policies.is_empty() {
                    return Err(bad(
                        "records no policy (a state relsign writes always records one)".into(),
                    ));
                }
                LastSeen {
                    policies: old.policies,
                    releases: old.releases,
                    ..LastSeen::default()
                }
            }
        };
        for (dir, p) in &state.policies {
            if p.version == 0 || Sha256Hex::parse(&p.anchor_sha256).is_err() {
                return Err(bad(format!(
                    "policies[{dir:?}]: version must be ≥ 1 and anchor_sha256 64 hex digits"
                )));
            }
        }
        if let Some(n) = mark {
            if state.sequence < n {
                return Err(bad(format!(
                    "went backwards: it is write {} but write {n} was made (an older copy \
                     was put in its place)",
                    state.sequence
                )));
            }
        }
        Ok(state)
    }

    /// Write the state as the next sequence, then its high-water mark.
    pub fn write(&mut self, path: &Path) -> Result<(), VerifyError> {
        self.type_ = STATE_TYPE.into();
        self.sequence += 1;
        let mut v = serde_json::to_vec_pretty(self).expect("json");
        v.push(b'\n');
        fsutil::write_atomic(path, &v)?;
        let h = HighWater {
            type_: STATE_TYPE.into(),
            sequence: self.sequence,
        };
        fsutil::write_atomic(&hwm_path(path), &serde_json::to_vec(&h).expect("json"))?;
        Ok(())
    }
}

/// Order two release versions: PEP 440 when both parse, else numeric-aware segments.
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    use crate::python::version::Version;
    if let (Ok(x), Ok(y)) = (Version::parse(a), Version::parse(b)) {
        return x.cmp(&y);
    }
    let seg = |s: &str| -> Vec<(u64, String)> {
        s.split(['.', '-', '+', '_'])
            .map(|p| {
                let n: String = p.chars().take_while(|c| c.is_ascii_digit()).collect();
                (n.parse().unwrap_or(0), p[n.len()..].to_string())
            })
            .collect()
    };
    seg(a).cmp(&seg(b))
}
