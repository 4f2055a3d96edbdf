//! The trust policy: a chain of versioned documents `DIR/policy/1.json … N.json`, each a DSSE
//! envelope (payloadType `application/vnd.relsign.policy+json`) over the canonical JSON of a
//! [`Policy`].
//!
//! * Version 1 is the trust anchor: it must carry a threshold of its own root keys'
//!   signatures. The verifier's last-seen state pins its digest, so a later swap of 1.json is
//!   noticed.
//! * Version N+1 must be signed by a threshold of version N's root keys (checked before its
//!   payload is parsed) **and** a threshold of its own root keys.
//! * The newest version must not be past its `expires` time.
//!
//! Editing: `init` writes version 1 unsigned; `add-key`, `remove-key`, `revoke` edit the newest
//! version in place while it has no signature yet, and otherwise start version N+1; `sign`
//! adds a root key's signature to the newest version.

use crate::dsse::Envelope;
use crate::fsutil::{self, FsError};
use crate::keys::{KeyError, PublicKey, SecretKey};
use crate::time;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub const POLICY_PAYLOAD_TYPE: &str = "application/vnd.relsign.policy+json";
pub const POLICY_TYPE: &str = "https://relsign.dev/policy/v1";

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The chain, a signature or a field is not acceptable: verification refuses it.
    #[error("policy check failed ({check}): {reason}")]
    Refused { check: &'static str, reason: String },
    #[error("{0}")]
    Usage(String),
}

impl PolicyError {
    pub fn is_refusal(&self) -> bool {
        matches!(self, PolicyError::Refused { .. })
    }
}

fn refused(check: &'static str, reason: impl Into<String>) -> PolicyError {
    PolicyError::Refused {
        check,
        reason: reason.into(),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RootKey {
    pub keyid: String,
    pub public_key_pem: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ReleaseKey {
    pub keyid: String,
    pub public_key_pem: String,
    /// RFC 3339, UTC.
    pub not_before: String,
    /// RFC 3339, UTC.
    pub not_after: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Distinct release keys that must sign the provenance statement.
    pub provenance: u32,
    /// Distinct release keys that must sign each artifact file (message-signature bundles).
    pub artifact: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRef {
    pub name: String,
    pub version: String,
}

/// One version of the policy document.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(rename = "_type")]
    pub type_: String,
    pub version: u64,
    /// RFC 3339; the verifier refuses the policy after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// Set on demo and test policies: their keys are generated, never real.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub test_only: bool,
    pub root_keys: Vec<RootKey>,
    pub root_threshold: u32,
    pub release_keys: Vec<ReleaseKey>,
    pub thresholds: Thresholds,
    #[serde(default)]
    pub revoked_keys: Vec<String>,
    #[serde(default)]
    pub revoked_releases: Vec<ReleaseRef>,
    /// The transparency log of releases (issue 14): absent in policies made before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transparency_log: Option<LogPolicy>,
    /// Signed advisories (`relsign revoke`): a key or a release revoked from a date.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub advisories: Vec<Advisory>,
    /// Keyless signers (issue 14): OIDC identities and the Sigstore trusted root their
    /// certificates and log entries must chain to. When present, verify requires a keyless
    /// signature by one of them on the provenance and on each file artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyless: Option<KeylessPolicy>,
}

/// The policy's keyless section: identities (issuer and subject, exact match) and the trusted
/// root (Sigstore's trusted-root JSON: the Fulcio CAs and the transparency logs' keys).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KeylessPolicy {
    pub identities: Vec<crate::keyless::Identity>,
    pub trusted_root: serde_json::Value,
    /// Whether the provenance and every file artifact must carry a keyless bundle whatever the
    /// release keys signed (absent: true, as before the field existed). Either way a keyless
    /// signature by an identity counts toward the thresholds like a release key's.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub required: bool,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

impl KeylessPolicy {
    /// The identities are non-empty, each named once, and the trusted root parses.
    pub fn check(&self) -> Result<crate::keyless::root::TrustedRoot, String> {
        if self.identities.is_empty() {
            return Err("keyless.identities: none".into());
        }
        let mut seen = BTreeSet::new();
        for (i, id) in self.identities.iter().enumerate() {
            if id.issuer.is_empty() || id.subject.is_empty() || !seen.insert(id) {
                return Err(format!("keyless.identities[{i}]: empty, or named twice"));
            }
        }
        crate::keyless::root::TrustedRoot::from_value(&self.trusted_root)
            .map_err(|e| format!("keyless.trusted_root: {e}"))
    }
}

/// An advisory: a release key compromised, or a release withdrawn, from `date` on, with the
/// reason and where to read more. Signed with the policy version that carries it; logged in
/// the transparency log at `log_index`, so that a signature by the key logged after it is
/// refused whatever signing time it claims (a stolen key can backdate a statement, not a
/// log position).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Advisory {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<ReleaseRef>,
    pub reason: String,
    pub url: String,
    /// RFC 3339, UTC.
    pub date: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
}

impl Advisory {
    /// `key:<keyid>` or `release:<name>@<version>`, as the log entry names it.
    pub fn subject(&self) -> String {
        match (&self.keyid, &self.release) {
            (Some(k), _) => format!("key:{k}"),
            (None, Some(r)) => format!("release:{}@{}", r.name, r.version),
            (None, None) => String::new(),
        }
    }
    /// The digest the log entry records: the canonical JSON without `log_index`.
    pub fn digest(&self) -> crate::digest::Sha256Hex {
        let mut a = self.clone();
        a.log_index = None;
        crate::digest::Sha256Hex::of(&crate::model::canonical_json(&a))
    }
    /// `ID (DATE): REASON; details: URL`, for messages.
    pub fn describe(&self) -> String {
        format!(
            "advisory {} ({}): {}; details: {}",
            self.id, self.date, self.reason, self.url
        )
    }
}

/// The transparency log the policy trusts: its origin (the checkpoint's first line and the
/// signed-note key name), the log's Ed25519 public key, and whether every counted release
/// signature must be in it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LogPolicy {
    pub origin: String,
    pub public_key_pem: String,
    pub required: bool,
}

/// A release key, checked: its PEM parsed, its id recomputed, its window parsed.
#[derive(Debug, Clone)]
pub struct CheckedReleaseKey {
    pub key: PublicKey,
    pub not_before: i64,
    pub not_after: i64,
}

/// A policy whose fields were checked (keys parse, ids match, thresholds reachable).
#[derive(Debug, Clone)]
pub struct CheckedPolicy {
    pub doc: Policy,
    pub roots: Vec<PublicKey>,
    pub release_keys: Vec<CheckedReleaseKey>,
    pub expires: Option<i64>,
    /// The log's note verifier key (name = origin), and whether the log is required.
    pub log: Option<(crate::tlog::note::NoteKey, bool)>,
    /// The keyless section's trusted root, parsed.
    pub keyless_root: Option<crate::keyless::root::TrustedRoot>,
}

impl Policy {
    pub fn to_payload(&self) -> Vec<u8> {
        crate::model::canonical_json(self)
    }

    /// Check every field; `what` names the source in messages.
    pub fn check(self, what: &str) -> Result<CheckedPolicy, PolicyError> {
        let bad = |r: String| refused("policy format", format!("{what}: {r}"));
        if self.type_ != POLICY_TYPE {
            return Err(bad(format!(
                "_type: expected={POLICY_TYPE}, got={}",
                self.type_
            )));
        }
        let key = |pem: &str, id: &str, field: String| -> Result<PublicKey, PolicyError> {
            let k = PublicKey::from_pem(pem, Path::new(&field))
                .map_err(|e| bad(format!("{field}: {e}")))?;
            if k.key_id() != id {
                return Err(bad(format!(
                    "{field}.keyid: expected={} (from the PEM), got={id}",
                    k.key_id()
                )));
            }
            Ok(k)
        };
        let mut roots = Vec::new();
        let mut seen = BTreeSet::new();
        for (i, r) in self.root_keys.iter().enumerate() {
            roots.push(key(&r.public_key_pem, &r.keyid, format!("root_keys[{i}]"))?);
            if !seen.insert(r.keyid.clone()) {
                return Err(bad(format!(
                    "root_keys[{i}]: key {} appears twice",
                    r.keyid
                )));
            }
        }
        if self.root_threshold == 0 || self.root_threshold as usize > roots.len() {
            return Err(bad(format!(
                "root_threshold {} is not between 1 and the {} root keys",
                self.root_threshold,
                roots.len()
            )));
        }
        let mut release_keys = Vec::new();
        let mut seen = BTreeSet::new();
        for (i, r) in self.release_keys.iter().enumerate() {
            let f = format!("release_keys[{i}]");
            let k = key(&r.public_key_pem, &r.keyid, f.clone())?;
            let nb = time::parse(&r.not_before).map_err(|e| bad(format!("{f}.not_before: {e}")))?;
            let na = time::parse(&r.not_after).map_err(|e| bad(format!("{f}.not_after: {e}")))?;
            if na <= nb {
                return Err(bad(format!("{f}: not_after is not after not_before")));
            }
            if !seen.insert(r.keyid.clone()) {
                return Err(bad(format!("{f}: key {} appears twice", r.keyid)));
            }
            release_keys.push(CheckedReleaseKey {
                key: k,
                not_before: nb,
                not_after: na,
            });
        }
        if self.thresholds.provenance == 0 {
            return Err(bad("thresholds.provenance must be at least 1".into()));
        }
        let expires = match &self.expires {
            Some(e) => Some(time::parse(e).map_err(|e| bad(format!("expires: {e}")))?),
            None => None,
        };
        let mut ids = BTreeSet::new();
        for (i, a) in self.advisories.iter().enumerate() {
            let f = format!("advisories[{i}]");
            if a.id.is_empty() || !ids.insert(a.id.clone()) {
                return Err(bad(format!("{f}.id {:?}: empty or used twice", a.id)));
            }
            if a.keyid.is_some() == a.release.is_some() {
                return Err(bad(format!("{f}: names exactly one of keyid and release")));
            }
            if a.reason.is_empty() || a.url.is_empty() {
                return Err(bad(format!("{f}: reason and url must not be empty")));
            }
            time::parse(&a.date).map_err(|e| bad(format!("{f}.date: {e}")))?;
        }
        let log = match &self.transparency_log {
            Some(l) => {
                let k = PublicKey::from_pem(&l.public_key_pem, Path::new("transparency_log"))
                    .map_err(|e| bad(format!("transparency_log.public_key_pem: {e}")))?;
                let nk = crate::tlog::note::NoteKey::new(&l.origin, k)
                    .map_err(|e| bad(format!("transparency_log.origin: {e}")))?;
                Some((nk, l.required))
            }
            None => None,
        };
        let keyless_root = match &self.keyless {
            Some(k) => Some(k.check().map_err(bad)?),
            None => None,
        };
        Ok(CheckedPolicy {
            doc: self,
            roots,
            release_keys,
            expires,
            log,
            keyless_root,
        })
    }
}

impl CheckedPolicy {
    pub fn root_refs(&self) -> Vec<&PublicKey> {
        self.roots.iter().collect()
    }
    pub fn release_key(&self, keyid: &str) -> Option<&CheckedReleaseKey> {
        self.release_keys.iter().find(|k| k.key.key_id() == keyid)
    }
    pub fn key_revoked(&self, keyid: &str) -> bool {
        self.doc.revoked_keys.iter().any(|k| k == keyid)
    }
    /// The advisories about this key, with their dates (unix seconds).
    pub fn key_advisories(&self, keyid: &str) -> Vec<(&Advisory, i64)> {
        self.doc
            .advisories
            .iter()
            .filter(|a| a.keyid.as_deref() == Some(keyid))
            .map(|a| (a, time::parse(&a.date).expect("checked")))
            .collect()
    }
    /// The advisory that withdraws this release, if any.
    pub fn release_advisory(&self, name: &str, version: &str) -> Option<&Advisory> {
        self.doc.advisories.iter().find(|a| {
            a.release
                .as_ref()
                .is_some_and(|r| r.name == name && r.version == version)
        })
    }
    pub fn release_revoked(&self, name: &str, version: &str) -> bool {
        self.doc
            .revoked_releases
            .iter()
            .any(|r| r.name == name && r.version == version)
    }
}

/// The verified chain: the newest policy and facts about the chain for the state file.
#[derive(Debug, Clone)]
pub struct TrustedPolicy {
    pub policy: CheckedPolicy,
    pub version: u64,
    /// sha256 of version 1's payload: the anchor the state file pins.
    pub anchor_sha256: String,
    pub dir: PathBuf,
}

fn policy_dir(dir: &Path) -> PathBuf {
    dir.join("policy")
}

/// The version files present, sorted; they must be 1..=N with no gap.
fn version_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>, PolicyError> {
    let pd = policy_dir(dir);
    if !pd.is_dir() {
        return Err(PolicyError::Usage(format!(
            "{}: no trust policy here (expected {}/1.json …); create one with `relsign policy init`",
            dir.display(),
            pd.display()
        )));
    }
    let mut v = Vec::new();
    for e in std::fs::read_dir(&pd).map_err(fsutil::err("read directory", &pd))? {
        let e = e.map_err(fsutil::err("read directory", &pd))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(n) = name
            .strip_suffix(".json")
            .and_then(|s| s.parse::<u64>().ok())
        {
            v.push((n, e.path()));
        }
    }
    v.sort();
    if v.is_empty() {
        return Err(PolicyError::Usage(format!(
            "{}: no N.json policy versions",
            pd.display()
        )));
    }
    for (i, (n, p)) in v.iter().enumerate() {
        if *n != i as u64 + 1 {
            return Err(refused(
                "policy chain",
                format!(
                    "{}: expected version {} here (the chain has a gap)",
                    p.display(),
                    i + 1
                ),
            ));
        }
    }
    Ok(v)
}

fn read_envelope(path: &Path) -> Result<Envelope, PolicyError> {
    let bytes = crate::json::read_limited(path, crate::json::limit::POLICY)
        .map_err(|e| refused("policy format", e.to_string()))?;
    let env = Envelope::from_json(&bytes)
        .map_err(|e| refused("policy format", format!("{}: {e}", path.display())))?;
    if env.payload_type != POLICY_PAYLOAD_TYPE {
        return Err(refused(
            "policy format",
            format!(
                "{}: payloadType expected={POLICY_PAYLOAD_TYPE}, got={}",
                path.display(),
                env.payload_type
            ),
        ));
    }
    Ok(env)
}

fn parse_policy(env: &Envelope, path: &Path) -> Result<CheckedPolicy, PolicyError> {
    let doc: Policy = crate::json::from_slice(&env.payload, crate::json::limit::POLICY)
        .map_err(|e| refused("policy format", format!("{}: {e}", path.display())))?;
    doc.check(&path.display().to_string())
}

fn threshold_check(
    env: &Envelope,
    keys: &[&PublicKey],
    threshold: u32,
    path: &Path,
    whose: &str,
) -> Result<(), PolicyError> {
    let v = env.verify(keys);
    if (v.keys.len() as u32) < threshold {
        let mut reason = format!(
            "{}: {} valid signature(s) by {whose} root keys, threshold {threshold}",
            path.display(),
            v.keys.len()
        );
        if !v.failures.is_empty() {
            reason.push_str(&format!(" ({})", v.failures.join("; ")));
        }
        return Err(refused("policy signature", reason));
    }
    Ok(())
}

/// Verify the whole chain under `dir` at time `now` and return the newest version.
pub fn load_chain(dir: &Path, now: i64) -> Result<TrustedPolicy, PolicyError> {
    let files = version_files(dir)?;
    let mut prev: Option<CheckedPolicy> = None;
    let mut anchor = String::new();
    for (n, path) in &files {
        let env = read_envelope(path)?;
        // N+1: the previous version's roots first, before the payload is parsed.
        if let Some(p) = &prev {
            threshold_check(
                &env,
                &p.root_refs(),
                p.doc.root_threshold,
                path,
                &format!("version {}'s", n - 1),
            )?;
        }
        let pol = parse_policy(&env, path)?;
        if pol.doc.version != *n {
            return Err(refused(
                "policy chain",
                format!(
                    "{}: version expected={n}, got={}",
                    path.display(),
                    pol.doc.version
                ),
            ));
        }
        threshold_check(
            &env,
            &pol.root_refs(),
            pol.doc.root_threshold,
            path,
            "its own",
        )?;
        if *n == 1 {
            anchor = crate::digest::Sha256Hex::of(&env.payload).to_string();
        }
        prev = Some(pol);
    }
    let policy = prev.expect("at least one version");
    if let Some(exp) = policy.expires {
        if now > exp {
            return Err(refused(
                "policy expired",
                format!(
                    "{}: version {} expired at {} (now {})",
                    dir.display(),
                    policy.doc.version,
                    time::format(exp),
                    time::format(now)
                ),
            ));
        }
    }
    Ok(TrustedPolicy {
        version: policy.doc.version,
        policy,
        anchor_sha256: anchor,
        dir: dir.to_path_buf(),
    })
}

/// What `policy init` needs.
pub struct InitOptions {
    pub roots: Vec<PublicKey>,
    pub root_threshold: u32,
    pub release_keys: Vec<(PublicKey, String, String)>,
    pub thresholds: Thresholds,
    pub expires: Option<String>,
    pub test_only: bool,
}

pub fn release_key_entry(
    k: &PublicKey,
    not_before: &str,
    not_after: &str,
) -> Result<ReleaseKey, PolicyError> {
    let nb = time::parse(not_before).map_err(PolicyError::Usage)?;
    let na = time::parse(not_after).map_err(PolicyError::Usage)?;
    Ok(ReleaseKey {
        keyid: k.key_id().to_string(),
        public_key_pem: k.to_pem(),
        not_before: time::format(nb),
        not_after: time::format(na),
    })
}

/// Write version 1, unsigned.
pub fn init(dir: &Path, o: InitOptions) -> Result<PathBuf, PolicyError> {
    let pd = policy_dir(dir);
    if pd.join("1.json").exists() {
        return Err(PolicyError::Usage(format!(
            "{} already has a policy; edit it with add-key, remove-key or revoke",
            dir.display()
        )));
    }
    let mut release_keys = Vec::new();
    for (k, nb, na) in &o.release_keys {
        release_keys.push(release_key_entry(k, nb, na)?);
    }
    let expires = match o.expires {
        Some(e) => Some(time::format(time::parse(&e).map_err(PolicyError::Usage)?)),
        None => None,
    };
    let doc = Policy {
        type_: POLICY_TYPE.into(),
        version: 1,
        expires,
        test_only: o.test_only,
        root_keys: o
            .roots
            .iter()
            .map(|k| RootKey {
                keyid: k.key_id().into(),
                public_key_pem: k.to_pem(),
            })
            .collect(),
        root_threshold: o.root_threshold,
        release_keys,
        thresholds: o.thresholds,
        revoked_keys: vec![],
        revoked_releases: vec![],
        transparency_log: None,
        advisories: vec![],
        keyless: None,
    };
    let checked = doc
        .check("the new policy")
        .map_err(|e| PolicyError::Usage(e.to_string()))?;
    let path = pd.join("1.json");
    write_version(
        &path,
        &Envelope::new(POLICY_PAYLOAD_TYPE, checked.doc.to_payload()),
    )?;
    Ok(path)
}

fn write_version(path: &Path, env: &Envelope) -> Result<(), PolicyError> {
    fsutil::write_atomic(path, &env.to_json())?;
    Ok(())
}

/// The newest version file and its parsed (unverified) document, for editing.
fn newest(dir: &Path) -> Result<(u64, PathBuf, Envelope, Policy), PolicyError> {
    let files = version_files(dir)?;
    let (n, path) = files.last().cloned().expect("non-empty");
    let env = read_envelope(&path)?;
    let doc: Policy = crate::json::from_slice(&env.payload, crate::json::limit::POLICY)
        .map_err(|e| refused("policy format", format!("{}: {e}", path.display())))?;
    Ok((n, path, env, doc))
}

/// Apply `edit` to the newest version when it is unsigned, or to a new version N+1 otherwise.
/// Returns the file written and its version.
pub fn edit(
    dir: &Path,
    edit: impl FnOnce(&mut Policy) -> Result<(), PolicyError>,
) -> Result<(PathBuf, u64), PolicyError> {
    let (n, path, env, mut doc) = newest(dir)?;
    let (path, version) = if env.signatures.is_empty() {
        (path, n)
    } else {
        doc.version = n + 1;
        (policy_dir(dir).join(format!("{}.json", n + 1)), n + 1)
    };
    edit(&mut doc)?;
    let checked = doc
        .check("the edited policy")
        .map_err(|e| PolicyError::Usage(e.to_string()))?;
    write_version(
        &path,
        &Envelope::new(POLICY_PAYLOAD_TYPE, checked.doc.to_payload()),
    )?;
    Ok((path, version))
}

/// The signing status of the newest version.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SignStatus {
    pub file: PathBuf,
    pub version: u64,
    pub own_signatures: usize,
    pub own_threshold: u32,
    /// For version > 1: signatures by the previous version's roots, and its threshold.
    pub previous_signatures: Option<(usize, u32)>,
    pub complete: bool,
}

/// Add `key`'s signature to the newest version. The key must be a root key of that version or
/// of the previous one.
pub fn sign(dir: &Path, key: &SecretKey) -> Result<SignStatus, PolicyError> {
    let (n, path, mut env, doc) = newest(dir)?;
    let own = doc.clone().check(&path.display().to_string())?;
    let prev = if n > 1 {
        let p = policy_dir(dir).join(format!("{}.json", n - 1));
        let penv = read_envelope(&p)?;
        Some(parse_policy(&penv, &p)?)
    } else {
        None
    };
    let id = key.public().key_id();
    let is_root = |p: &CheckedPolicy| p.roots.iter().any(|k| k.key_id() == id);
    if !is_root(&own) && !prev.as_ref().is_some_and(is_root) {
        return Err(PolicyError::Usage(format!(
            "key {id} is not a root key of policy version {n}{}",
            if n > 1 {
                " or of the previous version"
            } else {
                ""
            }
        )));
    }
    env.sign(key);
    write_version(&path, &env)?;
    status_of(&path, n, &env, &own, prev.as_ref())
}

fn status_of(
    path: &Path,
    n: u64,
    env: &Envelope,
    own: &CheckedPolicy,
    prev: Option<&CheckedPolicy>,
) -> Result<SignStatus, PolicyError> {
    let own_count = env.verify(&own.root_refs()).keys.len();
    let previous = prev.map(|p| (env.verify(&p.root_refs()).keys.len(), p.doc.root_threshold));
    let complete =
        own_count as u32 >= own.doc.root_threshold && previous.is_none_or(|(c, t)| c as u32 >= t);
    Ok(SignStatus {
        file: path.to_path_buf(),
        version: n,
        own_signatures: own_count,
        own_threshold: own.doc.root_threshold,
        previous_signatures: previous,
        complete,
    })
}

/// The newest version's document (not verified: for `policy show`).
pub fn show(dir: &Path) -> Result<(Policy, SignStatus), PolicyError> {
    let (n, path, env, doc) = newest(dir)?;
    let own = doc.clone().check(&path.display().to_string())?;
    let prev = if n > 1 {
        let p = policy_dir(dir).join(format!("{}.json", n - 1));
        Some(parse_policy(&read_envelope(&p)?, &p)?)
    } else {
        None
    };
    let st = status_of(&path, n, &env, &own, prev.as_ref())?;
    Ok((doc, st))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(roots: &[&SecretKey], rel: &SecretKey, t: u32) -> InitOptions {
        InitOptions {
            roots: roots.iter().map(|k| k.public().clone()).collect(),
            root_threshold: t,
            release_keys: vec![(
                rel.public().clone(),
                "2000-01-01T00:00:00Z".into(),
                "2100-01-01T00:00:00Z".into(),
            )],
            thresholds: Thresholds {
                provenance: 1,
                artifact: 1,
            },
            expires: None,
            test_only: true,
        }
    }

    #[test]
    fn chain_rules() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (r1, r2, r3, rel) = (
            SecretKey::generate().unwrap(),
            SecretKey::generate().unwrap(),
            SecretKey::generate().unwrap(),
            SecretKey::generate().unwrap(),
        );
        init(d, opts(&[&r1, &r2], &rel, 2)).unwrap();
        // Unsigned: refused.
        assert!(load_chain(d, 0).unwrap_err().is_refusal());
        let st = sign(d, &r1).unwrap();
        assert!(!st.complete);
        assert!(load_chain(d, 0).is_err());
        let st = sign(d, &r2).unwrap();
        assert!(st.complete);
        assert_eq!(load_chain(d, 0).unwrap().version, 1);
        // Version 2 replaces r2 with r3 as a root: needs 2 of {r1, r2} and 2 of {r1, r3}.
        let (_, v) = edit(d, |p| {
            p.root_keys.retain(|k| k.keyid != r2.public().key_id());
            p.root_keys.push(RootKey {
                keyid: r3.public().key_id().into(),
                public_key_pem: r3.public().to_pem(),
            });
            Ok(())
        })
        .unwrap();
        assert_eq!(v, 2);
        sign(d, &r1).unwrap();
        sign(d, &r3).unwrap();
        // Only r1 of version 1's roots: refused.
        let e = load_chain(d, 0).unwrap_err();
        assert!(e.to_string().contains("version 1's root keys"), "{e}");
        let st = sign(d, &r2).unwrap();
        assert!(st.complete, "{st:?}");
        let t = load_chain(d, 0).unwrap();
        assert_eq!(t.version, 2);
        // r2 is not a root of version 2 nor of a future version 3 built from it.
        edit(d, |p| {
            p.revoked_keys.push("x".into());
            Ok(())
        })
        .unwrap();
        sign(d, &r1).unwrap();
        assert!(sign(d, &r2).is_err());
    }

    #[test]
    fn keyless_section_is_checked() {
        use crate::keyless::Identity;
        let id = |i: &str, s: &str| Identity {
            issuer: i.into(),
            subject: s.into(),
        };
        let root = serde_json::json!({
            "mediaType": crate::keyless::root::ROOT_MEDIA_TYPE,
            "certificateAuthorities": [], "tlogs": [], "ctlogs": [], "timestampAuthorities": [],
        });
        for (ids, want) in [
            (vec![], "keyless.identities: none"),
            (vec![id("https://i.test", "")], "keyless.identities[0]"),
            (
                vec![
                    id("https://i.test", "a@b.test"),
                    id("https://i.test", "a@b.test"),
                ],
                "keyless.identities[1]",
            ),
            (
                vec![id("https://i.test", "a@b.test")],
                "keyless.trusted_root: needs at least one certificate authority",
            ),
        ] {
            let k = KeylessPolicy {
                identities: ids,
                trusted_root: root.clone(),
                required: true,
            };
            let e = k.check().unwrap_err();
            assert!(e.contains(want), "{e} (wanted {want})");
        }
    }
}
