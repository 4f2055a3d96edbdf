//! `relsign verify`: parse → checked types → crypto → policy.
//!
//! 1. **Parse**: find the release directory from the target, read `release.json`, the DSSE
//!    envelope, the Sigstore bundles, and the policy chain (each policy version's signatures
//!    are checked against the previous version's root keys before its payload is parsed).
//! 2. **Crypto**: the provenance envelope's signatures over the PAE by the policy's release keys
//!    (before the payload is parsed); each DSSE bundle; each artifact's SHA-256 against its
//!    subject, with the message-signature bundles verified over the same bytes in one read.
//! 3. **Policy**: key validity windows judged at the statement's self-asserted signing time,
//!    revocations, thresholds, the claims against the expectations, and the last-seen state.
//!
//! Every refusal is a [`VerifyError::Refused`] naming the check; any other problem (an
//! unreadable file, a usage error) is another variant.

use crate::attest;
use crate::attest::bundle::{Bundle, Content};
use crate::attest::statement::{parse_provenance, Provenance};
use crate::digest::{hex, Sha256Hex};
use crate::dsse::{Envelope, INTOTO_PAYLOAD_TYPE};
use crate::fsutil::{self, FsError};
use crate::keys::PublicKey;
use crate::model::{Artifact, ReleaseManifest};
use crate::policy::{self, PolicyError, TrustedPolicy};
use crate::report::Reporter;
use crate::time;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Allowed clock skew for a signing time in the future.
pub const FUTURE_SKEW_SECS: i64 = 300;

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Verification refused the target: exit 1.
    #[error("verification refused: check `{check}` failed: {reason}")]
    Refused { check: &'static str, reason: String },
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    Policy(PolicyError),
    #[error("{0}")]
    Usage(String),
}

impl VerifyError {
    pub fn is_refusal(&self) -> bool {
        matches!(self, VerifyError::Refused { .. })
    }
    pub fn check(&self) -> Option<&'static str> {
        match self {
            VerifyError::Refused { check, .. } => Some(check),
            _ => None,
        }
    }
}

impl From<PolicyError> for VerifyError {
    fn from(e: PolicyError) -> Self {
        match e {
            PolicyError::Refused { check, reason } => VerifyError::Refused { check, reason },
            PolicyError::Fs(e) => VerifyError::Fs(e),
            e => VerifyError::Policy(e),
        }
    }
}

fn refused(check: &'static str, reason: impl Into<String>) -> VerifyError {
    VerifyError::Refused {
        check,
        reason: reason.into(),
    }
}

pub struct VerifyOptions {
    /// The trust policy directory (holding `policy/1.json …`).
    pub policy_dir: PathBuf,
    /// Each must match a source of the provenance: its location, its digest, or
    /// `location@digest`.
    pub expect_source: Vec<String>,
    pub expect_version: Option<String>,
    pub allow_downgrade: bool,
    /// The last-seen state file; `None` disables the rollback check.
    pub state_file: Option<PathBuf>,
    /// Refuse a release directory holding files no signature covers (else: notes).
    pub strict: bool,
    /// The current time (unix seconds): policy expiry and future signing times.
    pub now: i64,
    /// The transparency log's directory or URL: the checkpoints met are checked for
    /// consistency with its current checkpoint.
    pub log: Option<String>,
}

/// The default state file: `$RELSIGN_STATE`, else `$XDG_STATE_HOME/relsign/last-seen.json`,
/// else `~/.local/state/relsign/last-seen.json`.
pub fn default_state_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("RELSIGN_STATE") {
        return Some(PathBuf::from(p));
    }
    if let Some(p) = std::env::var_os("XDG_STATE_HOME").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p).join("relsign/last-seen.json"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state/relsign/last-seen.json"))
}

/// The outcome of a successful verification.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub ok: bool,
    pub target: PathBuf,
    pub release: String,
    pub version: String,
    /// The self-asserted signing time of the statement.
    pub signed_on: String,
    pub policy_version: u64,
    pub policy_test_only: bool,
    pub provenance_signers: Vec<String>,
    pub provenance_threshold: u32,
    pub artifacts: Vec<ArtifactReport>,
    pub checks: Vec<CheckReport>,
    /// Notes that did not fail verification (unknown keys, …).
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ArtifactReport {
    pub file: String,
    pub kind: crate::model::ArtifactKind,
    pub sha256: String,
    pub size: u64,
    /// Distinct release keys with a valid bundle for this file: a signed publish statement
    /// naming it, or (releases signed before) a message signature over its bytes.
    pub bundle_signers: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub check: &'static str,
    /// "ok", or "not-checked" for hooks that later issues fill in.
    pub status: &'static str,
    pub detail: String,
}

fn ok(check: &'static str, detail: impl Into<String>) -> CheckReport {
    CheckReport {
        check,
        status: "ok",
        detail: detail.into(),
    }
}

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

/// Read untrusted bytes with a size limit: too large is a refusal under `check`.
fn read_untrusted(path: &Path, limit: u64, check: &'static str) -> Result<Vec<u8>, VerifyError> {
    crate::json::read_limited(path, limit).map_err(|e| match e {
        // A symlink, FIFO or device where a file should be is a refusal, like bad content.
        crate::json::ReadError::Fs(e) if e.source.kind() == std::io::ErrorKind::InvalidData => {
            refused(check, e.to_string())
        }
        crate::json::ReadError::Fs(e) => VerifyError::Fs(e),
        e => refused(check, e.to_string()),
    })
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

/// Where the release is and what part of it the target names.
struct Located {
    dir: PathBuf,
    /// `None`: the whole release; `Some(file)`: one artifact.
    only: Option<String>,
}

fn locate(target: &Path) -> Result<Located, VerifyError> {
    let meta = std::fs::metadata(target).map_err(fsutil::err("stat", target))?;
    if meta.is_dir() {
        if target.join("release.json").is_file() {
            return Ok(Located {
                dir: target.to_path_buf(),
                only: None,
            });
        }
        if target.join("oci-layout").is_file() {
            // An OCI layout inside a release directory (DIR/image): verify it as the release's
            // image artifact. A bare layout, or a registry reference, carries its attestations
            // as referrers: that is the OCI hook for issue 3.
            let parent = fsutil::parent_dir(target);
            let name = target
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if parent.join("release.json").is_file() {
                return Ok(Located {
                    dir: parent.to_path_buf(),
                    only: Some(name),
                });
            }
            return Err(VerifyError::Usage(format!(
                "{}: an OCI layout outside a release directory; verifying a bare layout \
                 (attestations stored as OCI referrers) is not supported yet",
                target.display()
            )));
        }
        return Err(VerifyError::Usage(format!(
            "{}: neither a release directory (no release.json) nor an OCI layout",
            target.display()
        )));
    }
    let parent = fsutil::parent_dir(target);
    if !parent.join("release.json").is_file() {
        return Err(VerifyError::Usage(format!(
            "{}: no release.json beside this file; verify needs the release directory's \
             release.json and attestations/",
            target.display()
        )));
    }
    Ok(Located {
        dir: parent.to_path_buf(),
        only: Some(
            target
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        ),
    })
}

/// One parsed bundle file.
struct BundleFile {
    path: PathBuf,
    name: String,
    bundle: Bundle,
}

fn read_bundles(dir: &Path) -> Result<Vec<BundleFile>, VerifyError> {
    let att = dir.join(attest::ATTESTATIONS_DIR);
    let mut out = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(&att)
        .map_err(fsutil::err("read directory", &att))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(fsutil::err("read directory", &att))?
        .into_iter()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sigstore.json"))
        .collect();
    names.sort();
    if names.len() > crate::json::MAX_BUNDLES {
        return Err(refused(
            "format",
            format!(
                "{}: {} bundles, over the limit of {}",
                att.display(),
                names.len(),
                crate::json::MAX_BUNDLES
            ),
        ));
    }
    let mut total = 0u64;
    for name in names {
        let path = att.join(&name);
        let bytes = read_untrusted(&path, crate::json::limit::STATEMENT, "bundle")?;
        total += bytes.len() as u64;
        if total > crate::json::limit::ALL_BUNDLES {
            return Err(refused(
                "format",
                format!(
                    "{}: the bundles hold more than {} bytes in all",
                    att.display(),
                    crate::json::limit::ALL_BUNDLES
                ),
            ));
        }
        let bundle = Bundle::from_json(&bytes)
            .map_err(|e| refused("bundle", format!("{}: {e}", path.display())))?;
        out.push(BundleFile { path, name, bundle });
    }
    Ok(out)
}

/// Parse, crypto, policy. `r` receives progress. On success the state file (if any) is
/// updated.
pub fn verify(
    target: &Path,
    o: &VerifyOptions,
    r: &dyn Reporter,
) -> Result<VerifyReport, VerifyError> {
    // ---- Phase 1: parse into checked types -------------------------------------------
    let loc = locate(target)?;
    let dir = &loc.dir;
    let rel_path = dir.join("release.json");
    let rel_bytes = read_untrusted(&rel_path, crate::json::limit::RELEASE, "format")?;
    let manifest: ReleaseManifest =
        crate::json::from_slice(&rel_bytes, crate::json::limit::RELEASE)
            .map_err(|e| refused("format", format!("{}: {e}", rel_path.display())))?;
    let env_path = attest::provenance_path(dir);
    if !env_path.is_file() {
        return Err(refused(
            "provenance signature",
            format!("{}: missing: the release is not signed", env_path.display()),
        ));
    }
    let env_bytes = read_untrusted(&env_path, crate::json::limit::PROVENANCE, "format")?;
    let env = Envelope::from_json(&env_bytes)
        .map_err(|e| refused("format", format!("{}: {e}", env_path.display())))?;
    if env.payload_type != INTOTO_PAYLOAD_TYPE {
        return Err(refused(
            "format",
            format!(
                "{}: payloadType expected={INTOTO_PAYLOAD_TYPE}, got={}",
                env_path.display(),
                env.payload_type
            ),
        ));
    }
    let bundles = read_bundles(dir)?;
    // Every file of the release directory a check below binds (relative paths); the rest is
    // reported by `unsigned_files`.
    let mut covered: BTreeSet<PathBuf> = BTreeSet::new();
    covered.insert("release.json".into());
    covered.insert(Path::new(attest::ATTESTATIONS_DIR).join(attest::PROVENANCE_FILE));
    for b in &bundles {
        covered.insert(Path::new(attest::ATTESTATIONS_DIR).join(&b.name));
    }
    r.step(&format!(
        "checking the trust policy in {}",
        o.policy_dir.display()
    ));
    let trusted: TrustedPolicy = policy::load_chain(&o.policy_dir, o.now)?;
    let pol = &trusted.policy;
    let mut checks = vec![ok(
        "policy chain",
        format!(
            "versions 1..{} of {} verified{}",
            trusted.version,
            o.policy_dir.display(),
            if pol.doc.test_only {
                " (TEST-ONLY policy)"
            } else {
                ""
            }
        ),
    )];
    let mut notes = Vec::new();

    // ---- Phase 2: crypto ------------------------------------------------------------
    let all_release_keys: Vec<&PublicKey> = pol.release_keys.iter().map(|k| &k.key).collect();
    let v = env.verify(&all_release_keys);
    let known: BTreeSet<&str> = all_release_keys.iter().map(|k| k.key_id()).collect();
    for (i, s) in env.signatures.iter().enumerate() {
        if !s.keyid.is_empty() && !known.contains(s.keyid.as_str()) {
            notes.push(format!(
                "{}: signatures[{i}] by key {} is not a release key of the policy; ignored",
                env_path.display(),
                s.keyid
            ));
        }
    }
    let bad: Vec<&String> = v
        .failures
        .iter()
        .filter(|f| !f.contains("is not a trusted key"))
        .collect();
    if !bad.is_empty() {
        return Err(refused(
            "provenance signature",
            format!(
                "{}: {}",
                env_path.display(),
                bad.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        ));
    }
    if v.keys.is_empty() {
        return Err(refused(
            "provenance signature",
            format!(
                "{}: no valid signature by a release key of the policy",
                env_path.display()
            ),
        ));
    }
    // Only now is the payload parsed.
    let prov: Provenance = parse_provenance(&env.payload)
        .map_err(|e| refused("format", format!("{}: payload: {e}", env_path.display())))?;
    checks.push(ok(
        "provenance signature",
        format!("{} valid signature(s) over the PAE", v.keys.len()),
    ));

    // release.json is bound by the provenance's byproducts.
    let rel_digest = Sha256Hex::of(&rel_bytes);
    match prov.byproducts.get("release.json") {
        Some(d) if *d == rel_digest => {}
        Some(d) => {
            return Err(refused(
                "release.json digest",
                format!(
                    "{}: sha256 expected={d} (provenance), got={rel_digest}",
                    rel_path.display()
                ),
            ))
        }
        None => {
            return Err(refused(
                "release.json digest",
                "the provenance has no release.json byproduct",
            ))
        }
    }
    let subjects: BTreeMap<&str, &Sha256Hex> = prov
        .subjects
        .iter()
        .map(|s| (s.name.as_str(), &s.sha256))
        .collect();
    if manifest.name != prov.name || manifest.version != prov.version {
        return Err(refused(
            "format",
            format!(
                "release.json names {} {}, the provenance {} {}",
                manifest.name, manifest.version, prov.name, prov.version
            ),
        ));
    }

    // DSSE bundles: the same statement, one valid signature by the hinted key; message
    // bundles sorted by the artifact they sign.
    let classified = classify_bundles(
        dir,
        &bundles,
        &env,
        &all_release_keys,
        &manifest,
        &subjects,
        &mut notes,
    )?;
    let (provenance_bundles, message_bundles) = (classified.provenance, &classified.message);

    // Artifacts in scope: digests against the subjects, and their message bundles.
    let in_scope: Vec<&Artifact> = match &loc.only {
        None => manifest.artifacts.iter().collect(),
        Some(f) => {
            let a = manifest
                .artifacts
                .iter()
                .find(|a| &a.file == f)
                .ok_or_else(|| {
                    refused(
                        "artifact digest",
                        format!("{f}: not an artifact of {}", rel_path.display()),
                    )
                })?;
            vec![a]
        }
    };
    if let Some(extra) = manifest
        .artifacts
        .iter()
        .find(|a| !subjects.contains_key(a.file.as_str()))
    {
        return Err(refused(
            "artifact digest",
            format!("{}: not a subject of the provenance", extra.file),
        ));
    }
    // With thresholds.artifact = 0 no decision rests on the message-signature bundles (the
    // provenance's threshold signatures bind every file's SHA-256): their shape, hint and
    // digest are checked, their Ed25519 signatures over the file bytes (SHA-512-bound) are not.
    let art_threshold = pol.doc.thresholds.artifact;
    let check_bundle_sigs = art_threshold > 0;
    let mut artifacts = Vec::new();
    let mut bundle_signers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // Pass 1: the bundles of each file (cheap checks), and the image layouts.
    let mut jobs = Vec::new();
    for a in &in_scope {
        let subject = *subjects.get(a.file.as_str()).expect("checked above");
        if a.kind == crate::model::ArtifactKind::OciImage {
            r.step(&format!("hashing the blobs of {}", a.file));
            check_layout(dir, a, subject, &mut covered)?;
            continue;
        }
        let mut verifiers = Vec::new();
        for b in message_bundles.get(&a.file).into_iter().flatten() {
            let Content::Message { sha256, signature } = &b.bundle.content else {
                continue;
            };
            if sha256.as_slice() != attest::sha2_bytes(subject).as_slice() {
                return Err(refused(
                    "bundle",
                    format!(
                        "{}: messageDigest expected={} (provenance), got={}",
                        b.path.display(),
                        subject,
                        hex(sha256)
                    ),
                ));
            }
            let Some(key) = hinted_key(&all_release_keys, b, &mut notes) else {
                continue;
            };
            if !check_bundle_sigs {
                continue;
            }
            let sv = key.stream_verifier(signature).ok_or_else(|| {
                refused(
                    "bundle",
                    format!("{}: not an Ed25519 signature", b.path.display()),
                )
            })?;
            verifiers.push((*b, key.key_id().to_string(), sv));
        }
        if fsutil::relative_path(&a.file).is_none() {
            return Err(refused(
                "artifact digest",
                format!(
                    "release.json names the artifact {:?}, not a relative path",
                    a.file
                ),
            ));
        }
        let path = attest::artifact_path(dir, a);
        if !path.is_file() {
            return Err(refused(
                "artifact digest",
                format!(
                    "{}: missing: a signed artifact of the release is not there",
                    path.display()
                ),
            ));
        }
        covered.insert(PathBuf::from(&a.file));
        jobs.push((*a, subject, path, verifiers));
    }
    // Pass 2: read each file once (SHA-256 and the signatures), files in parallel.
    r.step(&format!("hashing {} file(s)", jobs.len()));
    let hashed = parallel_map(
        jobs.into_iter()
            .map(|(a, subject, path, verifiers)| {
                (a, subject, path, std::sync::Mutex::new(Some(verifiers)))
            })
            .collect(),
        |(_, _, path, v)| hash_and_verify(path, v.lock().expect("lock").take().unwrap_or_default()),
    );
    // Pass 3: judge, in order.
    for ((a, subject, path, _), res) in hashed {
        let (got, size, results) = res?;
        if got != *subject {
            return Err(refused(
                "artifact digest",
                format!(
                    "{}: sha256 expected={subject} (provenance subject), got={got}",
                    path.display()
                ),
            ));
        }
        // Signers of the file's publish statement (checked above, no file read needed), then
        // of legacy message-signature bundles (checked over the bytes just read).
        let mut signers = classified
            .statement_signers
            .get(&a.file)
            .cloned()
            .unwrap_or_default();
        for (b, keyid, valid) in results {
            if !valid {
                return Err(refused(
                    "bundle",
                    format!(
                        "{}: the signature by {keyid} over {} does not verify",
                        b.path.display(),
                        a.file
                    ),
                ));
            }
            if !signers.contains(&keyid) {
                signers.push(keyid);
            }
        }
        bundle_signers.insert(a.file.clone(), signers.clone());
        artifacts.push(ArtifactReport {
            file: a.file.clone(),
            kind: a.kind,
            sha256: got.to_string(),
            size,
            bundle_signers: signers,
        });
    }
    for a in in_scope
        .iter()
        .filter(|a| a.kind == crate::model::ArtifactKind::OciImage)
    {
        artifacts.push(ArtifactReport {
            file: a.file.clone(),
            kind: a.kind,
            sha256: subjects[a.file.as_str()].to_string(),
            size: a.size,
            bundle_signers: vec![],
        });
    }
    checks.push(ok(
        "artifact digest",
        format!(
            "{} artifact(s) match their provenance subjects",
            artifacts.len()
        ),
    ));
    checks.push(ok("bundle", {
        let statements: usize = classified.statement_signers.values().map(Vec::len).sum();
        let legacy: usize = message_bundles.values().map(Vec::len).sum();
        let mut s = format!(
            "{provenance_bundles} provenance bundle(s) and {statements} artifact publish \
                 statement bundle(s) verified"
        );
        if legacy > 0 {
            s.push_str(&if check_bundle_sigs {
                format!("; {legacy} legacy message-signature bundle(s) verified over the bytes")
            } else {
                format!(
                    "; {legacy} legacy message-signature bundle(s): digests checked, \
                         signatures not (the policy's artifact threshold is 0)"
                )
            });
        }
        s
    }));

    // ---- Phase 3: policy ------------------------------------------------------------
    if prov.signed_on > o.now + FUTURE_SKEW_SECS {
        return Err(refused(
            "signing time",
            format!(
                "the statement claims to be signed at {}, in the future",
                time::format(prov.signed_on)
            ),
        ));
    }
    let at = prov.signed_on;
    let counts = |keyid: &str| -> Result<(), String> {
        let k = pol.release_key(keyid).ok_or("not a release key")?;
        if pol.key_revoked(keyid) {
            return Err(format!(
                "key {keyid} is revoked by policy version {}",
                trusted.version
            ));
        }
        if at < k.not_before {
            return Err(format!(
                "key {keyid} is not valid before {} (signed at {})",
                time::format(k.not_before),
                time::format(at)
            ));
        }
        if at > k.not_after {
            return Err(format!(
                "key {keyid} expired at {} (signed at {})",
                time::format(k.not_after),
                time::format(at)
            ));
        }
        if let Some((a, _)) = pol
            .key_advisories(keyid)
            .into_iter()
            .find(|(_, d)| at >= *d)
        {
            return Err(format!(
                "key {keyid} is revoked by {} (signed at {})",
                a.describe(),
                time::format(at)
            ));
        }
        Ok(())
    };
    let mut signers = Vec::new();
    let mut rejected = Vec::new();
    for k in &v.keys {
        match counts(k.key_id()) {
            Ok(()) => signers.push(k.key_id().to_string()),
            Err(e) => rejected.push(e),
        }
    }
    let logged = transparency_proofs(
        dir,
        pol,
        &env.payload,
        &prov,
        &v.keys,
        &mut signers,
        &mut rejected,
        &mut covered,
    )?;
    advisory_order(pol, logged.as_ref(), &mut signers, &mut rejected);
    let threshold = pol.doc.thresholds.provenance;
    if (signers.len() as u32) < threshold {
        let check = if rejected.iter().any(|e| e.contains("revoked")) {
            "key revoked"
        } else if rejected.iter().any(|e| e.contains(NOT_LOGGED)) {
            crate::tlog::CHECK_LOG
        } else if !rejected.is_empty() {
            "key validity"
        } else {
            "threshold"
        };
        let mut reason = format!(
            "provenance: {} signature(s) by valid release keys, threshold {threshold} (policy version {})",
            signers.len(),
            trusted.version
        );
        if !rejected.is_empty() {
            reason.push_str(&format!("; {}", rejected.join("; ")));
        }
        return Err(refused(check, reason));
    }
    checks.push(ok(
        "threshold",
        format!(
            "provenance: {} of threshold {threshold} (keys valid at {}, none revoked)",
            signers.len(),
            time::format(at)
        ),
    ));
    if art_threshold > 0 {
        for a in &artifacts {
            if a.kind == crate::model::ArtifactKind::OciImage {
                continue;
            }
            let mut good = 0;
            let mut why = Vec::new();
            for k in &a.bundle_signers {
                match counts(k) {
                    Ok(()) => good += 1,
                    Err(e) => why.push(e),
                }
            }
            if good < art_threshold {
                let check = if why.iter().any(|e| e.contains("revoked")) {
                    "key revoked"
                } else if !why.is_empty() {
                    "key validity"
                } else {
                    "artifact threshold"
                };
                let mut reason = format!(
                    "{}: {good} message-signature bundle(s) by valid release keys, threshold {art_threshold}",
                    a.file
                );
                if !why.is_empty() {
                    reason.push_str(&format!("; {}", why.join("; ")));
                }
                return Err(refused(check, reason));
            }
        }
        checks.push(ok(
            "artifact threshold",
            format!("each file signed by ≥ {art_threshold} release key(s)"),
        ));
    }
    if let Some(a) = pol.release_advisory(&prov.name, &prov.version) {
        return Err(refused(
            "release revoked",
            format!(
                "{} {} is withdrawn by {} (policy version {})",
                prov.name,
                prov.version,
                a.describe(),
                trusted.version
            ),
        ));
    }
    if pol.release_revoked(&prov.name, &prov.version) {
        return Err(refused(
            "release revoked",
            format!(
                "{} {} is revoked by policy version {}",
                prov.name, prov.version, trusted.version
            ),
        ));
    }
    if let Some(want) = &o.expect_version {
        if *want != prov.version {
            return Err(refused(
                "expectation",
                format!("version expected={want}, got={}", prov.version),
            ));
        }
    }
    for want in &o.expect_source {
        let hit = prov.sources.iter().any(|s| {
            *want == s.location
                || *want == s.digest
                || *want == format!("{}@{}", s.location, s.digest)
        });
        if !hit {
            let have: Vec<String> = prov
                .sources
                .iter()
                .map(|s| format!("{}@{}", s.location, s.digest))
                .collect();
            return Err(refused(
                "expectation",
                format!("source expected={want}, got={}", have.join(", ")),
            ));
        }
    }
    if !o.expect_source.is_empty() || o.expect_version.is_some() {
        checks.push(ok("expectation", "the claims match the expectations"));
    }
    let signed = Signed {
        keys: &all_release_keys,
        counts: &counts,
        threshold,
    };
    checks.extend(statement_checks(
        dir,
        &manifest,
        &in_scope,
        &prov,
        &signed,
        &mut covered,
    )?);
    match input_checks(dir, &manifest, &mut covered)? {
        Some(c) => checks.push(c),
        None => notes.push(format!(
            "{}: no inputs/ beside release.json; the recipe, locks and sources were not checked",
            dir.display()
        )),
    }
    if loc.only.is_none() {
        let (extra, work) = unsigned_files(dir, &covered)?;
        if work > 0 {
            notes.push(format!(
                "{work} file(s) under {PUBLISH_WORK_DIR}/ (relsign publish's journal and \
                 generated referrers; not part of the release) were not checked"
            ));
        }
        if extra.is_empty() {
            checks.push(ok(
                "unsigned files",
                format!(
                    "every file of {} is covered by a check above",
                    dir.display()
                ),
            ));
        } else if o.strict {
            return Err(refused(
                "unsigned files",
                format!(
                    "{} file(s) of {} are covered by no signature: {}{}",
                    extra.len(),
                    dir.display(),
                    extra
                        .iter()
                        .take(20)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", "),
                    if extra.len() > 20 { ", …" } else { "" }
                ),
            ));
        } else {
            for f in extra {
                notes.push(format!("{f}: covered by no signature (not verified)"));
            }
        }
    }

    // Last-seen state: no rollback of the policy, no older release.
    if let Some(state_path) = &o.state_file {
        checks.extend(last_seen_check(
            state_path,
            o,
            &trusted,
            &prov,
            logged.as_ref(),
            &mut notes,
        )?);
    } else if let Some(l) = &logged {
        checks.push(log_consistency(None, None, l, o, &mut notes)?);
    }

    Ok(VerifyReport {
        ok: true,
        target: target.to_path_buf(),
        release: prov.name,
        version: prov.version,
        signed_on: time::format(prov.signed_on),
        policy_version: trusted.version,
        policy_test_only: pol.doc.test_only,
        provenance_signers: signers,
        provenance_threshold: threshold,
        artifacts,
        checks,
        notes,
    })
}

/// The release key a bundle's hint names; a hint the policy does not know gets a note and the
/// bundle is ignored (unknown signers never count, and never refuse).
fn hinted_key<'k>(
    keys: &[&'k PublicKey],
    b: &BundleFile,
    notes: &mut Vec<String>,
) -> Option<&'k PublicKey> {
    let key = keys.iter().find(|k| k.key_id() == b.bundle.hint).copied();
    if key.is_none() {
        notes.push(format!(
            "{}: hint {} is not a release key; ignored",
            b.name, b.bundle.hint
        ));
    }
    key
}

/// The bundles, sorted: provenance bundles checked, per artifact file the keys whose DSSE
/// publish statement about it verified, and the legacy message-signature bundles.
struct Classified<'b> {
    provenance: usize,
    statement_signers: BTreeMap<String, Vec<String>>,
    message: BTreeMap<String, Vec<&'b BundleFile>>,
}

/// The file artifact a bundle's name (`<file>.<16 hex>.sigstore.json`) belongs to.
fn bundle_artifact<'m>(m: &'m ReleaseManifest, bundle_name: &str) -> Option<&'m Artifact> {
    m.artifacts
        .iter()
        .filter(|a| attest::is_file_artifact(a))
        .find(|a| {
            let prefix = format!("{}.", a.file.replace('/', "_"));
            bundle_name
                .strip_prefix(&prefix)
                .and_then(|r| r.strip_suffix(".sigstore.json"))
                .is_some_and(|fp| fp.len() == 16 && fp.bytes().all(|c| c.is_ascii_hexdigit()))
        })
}

/// An artifact's DSSE bundle: a publish statement (PEP 740's shape) signed by its hinted key,
/// naming exactly this file with its provenance subject digest. Returns the signer, or `None`
/// for a key the policy does not know (noted).
fn check_publish_bundle(
    b: &BundleFile,
    be: &Envelope,
    a: &Artifact,
    subject: &Sha256Hex,
    keys: &[&PublicKey],
    notes: &mut Vec<String>,
) -> Result<Option<String>, VerifyError> {
    if be.payload_type != INTOTO_PAYLOAD_TYPE {
        return Err(refused(
            "bundle",
            format!("{}: payloadType {}", b.path.display(), be.payload_type),
        ));
    }
    // What it says is checked whoever signed it: a bundle by an unknown key must still name
    // this file with its signed digest (and, unverified, is then left out of `covered`).
    let s = attest::statement::parse_publish(&be.payload)
        .map_err(|e| refused("bundle", format!("{}: {e}", b.path.display())))?;
    let key = hinted_key(keys, b, notes);
    if let Some(key) = key {
        check_bundle_signature(b, be, key)?;
    }
    if s.name != a.file || s.sha256 != *subject {
        return Err(refused(
            "bundle",
            format!(
                "{}: names {} sha256:{}, expected {} sha256:{subject} (provenance)",
                b.path.display(),
                s.name,
                s.sha256,
                a.file
            ),
        ));
    }
    Ok(key.map(|k| k.key_id().to_string()))
}

/// A DSSE bundle's one signature must verify with its hinted key.
fn check_bundle_signature(
    b: &BundleFile,
    be: &Envelope,
    key: &PublicKey,
) -> Result<(), VerifyError> {
    if be.verify(&[key]).keys.is_empty() {
        return Err(refused(
            "bundle",
            format!(
                "{}: the DSSE signature by {} does not verify",
                b.path.display(),
                b.bundle.hint
            ),
        ));
    }
    Ok(())
}

/// Check every DSSE bundle (it carries its statement's envelope, and its one signature by the
/// hinted release key verifies; an artifact's names that file with its subject digest) and
/// sort the legacy message-signature bundles by the artifact file they name.
fn classify_bundles<'b>(
    dir: &Path,
    bundles: &'b [BundleFile],
    env: &Envelope,
    all_release_keys: &[&PublicKey],
    manifest: &ReleaseManifest,
    subjects: &BTreeMap<&str, &Sha256Hex>,
    notes: &mut Vec<String>,
) -> Result<Classified<'b>, VerifyError> {
    let mut provenance_bundles = 0;
    let mut message_bundles: BTreeMap<String, Vec<&BundleFile>> = BTreeMap::new();
    let mut statement_signers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for b in bundles {
        match &b.bundle.content {
            Content::Dsse(be) if bundle_artifact(manifest, &b.name).is_some() => {
                let a = bundle_artifact(manifest, &b.name).expect("matched");
                let subject = subjects.get(a.file.as_str()).ok_or_else(|| {
                    refused(
                        "artifact digest",
                        format!("{}: not a subject of the provenance", a.file),
                    )
                })?;
                if let Some(k) = check_publish_bundle(b, be, a, subject, all_release_keys, notes)? {
                    let v = statement_signers.entry(a.file.clone()).or_default();
                    if !v.contains(&k) {
                        v.push(k);
                    }
                }
            }
            Content::Dsse(be) => {
                // The provenance's bundles carry its envelope; another statement's (test
                // result, SBOM) carry that statement's, from the .dsse.json beside them.
                let is_provenance = b.name.starts_with("provenance.");
                let other;
                let (expected, what) = if is_provenance {
                    (env, "the release's provenance statement".to_string())
                } else {
                    let stem = b
                        .name
                        .strip_suffix(".sigstore.json")
                        .and_then(|n| n.rsplit_once('.'))
                        .map(|(s, _)| s)
                        .unwrap_or("");
                    let st_path = crate::release::statement_path(dir, stem);
                    other = read_untrusted(&st_path, crate::json::limit::STATEMENT, "bundle")
                        .ok()
                        .and_then(|bytes| Envelope::from_json(&bytes).ok())
                        .ok_or_else(|| {
                            refused(
                                "bundle",
                                format!(
                                    "{}: no statement {} beside it",
                                    b.path.display(),
                                    st_path.display()
                                ),
                            )
                        })?;
                    (&other, st_path.display().to_string())
                };
                if be.payload != expected.payload || be.payload_type != expected.payload_type {
                    return Err(refused(
                        "bundle",
                        format!("{}: its envelope is not {what}", b.path.display()),
                    ));
                }
                let Some(key) = hinted_key(all_release_keys, b, notes) else {
                    continue;
                };
                check_bundle_signature(b, be, key)?;
                if is_provenance {
                    provenance_bundles += 1;
                }
            }
            Content::Message { .. } => match bundle_artifact(manifest, &b.name) {
                Some(a) => message_bundles.entry(a.file.clone()).or_default().push(b),
                None => {
                    return Err(refused(
                        "bundle",
                        format!(
                            "{}: names no artifact file of the release",
                            b.path.display()
                        ),
                    ))
                }
            },
        }
    }
    Ok(Classified {
        provenance: provenance_bundles,
        statement_signers,
        message: message_bundles,
    })
}

/// The last-seen state: refuse a policy older than (or rooted elsewhere than) the one accepted
/// before, and a release older than the newest accepted; then record this one.
fn last_seen_check(
    state_path: &Path,
    o: &VerifyOptions,
    trusted: &TrustedPolicy,
    prov: &Provenance,
    logged: Option<&LogProofs>,
    notes: &mut Vec<String>,
) -> Result<Vec<CheckReport>, VerifyError> {
    let mut state = LastSeen::read(state_path)?;
    let mut out = Vec::new();
    if let Some(l) = logged {
        out.push(log_consistency(
            Some(&mut state),
            Some(state_path),
            l,
            o,
            notes,
        )?);
    }
    let key = std::fs::canonicalize(&o.policy_dir)
        .unwrap_or_else(|_| o.policy_dir.clone())
        .to_string_lossy()
        .into_owned();
    if let Some(seen) = state.policies.get(&key) {
        if seen.anchor_sha256 != trusted.anchor_sha256 {
            return Err(refused(
                "policy chain",
                format!(
                    "{}: version 1 (sha256 {} of its payload) is not the one accepted before \
                     (sha256 {}, {}); if the policy was really re-rooted, remove it from the state file",
                    o.policy_dir.display(),
                    trusted.anchor_sha256,
                    seen.anchor_sha256,
                    state_path.display()
                ),
            ));
        }
        if seen.version > trusted.version {
            return Err(refused(
                "policy rollback",
                format!(
                    "{}: policy version {} is older than version {} accepted before ({})",
                    o.policy_dir.display(),
                    trusted.version,
                    seen.version,
                    state_path.display()
                ),
            ));
        }
    }
    if let Some(last) = state.releases.get(&prov.name) {
        if compare_versions(&prov.version, last) == std::cmp::Ordering::Less {
            if !o.allow_downgrade {
                return Err(refused(
                    "downgrade",
                    format!(
                        "{} {} is older than {last}, accepted before ({}); pass --allow-downgrade to accept it",
                        prov.name,
                        prov.version,
                        state_path.display()
                    ),
                ));
            }
            notes.push(format!(
                "downgrade from {last} to {} allowed by --allow-downgrade",
                prov.version
            ));
        }
    }
    let newer = state
        .releases
        .get(&prov.name)
        .is_none_or(|last| compare_versions(&prov.version, last) == std::cmp::Ordering::Greater);
    if newer {
        state
            .releases
            .insert(prov.name.clone(), prov.version.clone());
    }
    let pv = state.policies.entry(key).or_insert(PolicySeen {
        version: 0,
        anchor_sha256: trusted.anchor_sha256.clone(),
    });
    pv.version = pv.version.max(trusted.version);
    state.write(state_path)?;
    out.push(ok(
        "downgrade",
        format!("not older than the last seen ({})", state_path.display()),
    ));
    Ok(out)
}

/// What a reason says when a signature is not in a required log.
const NOT_LOGGED: &str = "is not in the transparency log";

/// A signature by a key an advisory revokes counts only when its proof shows it was logged
/// before the advisory (its signing time, self-asserted, was already judged against the
/// advisory's date): a stolen key can backdate a statement, not a log position.
fn advisory_order(
    pol: &policy::CheckedPolicy,
    logged: Option<&LogProofs>,
    signers: &mut Vec<String>,
    rejected: &mut Vec<String>,
) {
    signers.retain(|keyid| {
        for (a, _) in pol.key_advisories(keyid) {
            let Some(at) = a.log_index else { continue };
            let index = logged.and_then(|l| l.indexes.get(keyid)).copied();
            if index.is_none_or(|i| i >= at) {
                rejected.push(format!(
                    "key {keyid} is revoked by {}, logged at index {at}; this signature is {} \
                     so nothing shows it was made before the advisory",
                    a.describe(),
                    match index {
                        Some(i) => format!("logged at index {i}, after it,"),
                        None => "not in the log,".to_string(),
                    }
                ));
                return false;
            }
        }
        true
    });
}

/// The verified proofs of a release's signatures.
struct LogProofs {
    key: crate::tlog::note::NoteKey,
    seen: Vec<crate::tlog::check::Seen>,
    /// Key id → the index of its signature's entry.
    indexes: BTreeMap<String, u64>,
    /// One line per logged signature: key, index, checkpoint size.
    lines: Vec<String>,
}

/// Check each provenance signature's proof (`attestations/provenance.<fp>.tlog-proof`)
/// against the policy's log: the entry is rebuilt from the verified payload and the key, the
/// checkpoint's signature by the log key and the inclusion are checked. A proof that is there
/// and does not verify refuses the release; with a required log, a signature without a proof
/// stops counting (its reason names the missing proof).
#[allow(clippy::too_many_arguments)]
fn transparency_proofs(
    dir: &Path,
    pol: &policy::CheckedPolicy,
    payload: &[u8],
    prov: &Provenance,
    keys: &[&PublicKey],
    signers: &mut Vec<String>,
    rejected: &mut Vec<String>,
    covered: &mut BTreeSet<PathBuf>,
) -> Result<Option<LogProofs>, VerifyError> {
    use crate::releaselog as release;
    use crate::tlog::check;
    let Some((key, required)) = &pol.log else {
        return Ok(None);
    };
    let mut seen = Vec::new();
    let mut lines = Vec::new();
    let mut indexes = BTreeMap::new();
    for k in keys {
        let name = release::proof_name(&k.fingerprint());
        let rel = Path::new(attest::ATTESTATIONS_DIR).join(&name);
        let path = dir.join(&rel);
        if std::fs::symlink_metadata(&path).is_err() {
            if *required && signers.iter().any(|s| s == k.key_id()) {
                signers.retain(|s| s != k.key_id());
                rejected.push(format!(
                    "the signature by key {} {NOT_LOGGED} {} (no {}): a release missing from \
                     the log is refused (the policy requires the log)",
                    k.key_id(),
                    key.name,
                    rel.display()
                ));
            }
            continue;
        }
        let entry = release::entry_for(payload, prov, k.key_id())
            .encode()
            .map_err(|e| refused(crate::tlog::CHECK_LOG, format!("the log entry: {e}")))?;
        let (index, v) = check::read_proof(&path, &entry, key).map_err(tlog_err)?;
        covered.insert(rel.clone());
        indexes.insert(k.key_id().to_string(), index);
        lines.push(format!(
            "key {} at index {index} under the checkpoint of size {}{}",
            k.key_id(),
            v.checkpoint.size,
            match v.ignored_signatures {
                0 => String::new(),
                n => format!(" ({n} signature line(s) by other keys not checked)"),
            }
        ));
        seen.push(check::Seen {
            checkpoint: v.checkpoint,
            from: format!("in {}", rel.display()),
        });
    }
    Ok(Some(LogProofs {
        key: key.clone(),
        seen,
        indexes,
        lines,
    }))
}

pub(crate) fn tlog_err(e: crate::tlog::TlogError) -> VerifyError {
    use crate::tlog::TlogError as T;
    match e {
        T::Refused { check, reason } => VerifyError::Refused { check, reason },
        T::Fs(e) => VerifyError::Fs(e),
        e => VerifyError::Usage(e.to_string()),
    }
}

/// The proofs' checkpoints against the last seen one (from `state`) and, with `o.log`, the
/// log's current checkpoint; records the newest consistent checkpoint in `state`.
fn log_consistency(
    state: Option<&mut LastSeen>,
    state_path: Option<&Path>,
    l: &LogProofs,
    o: &VerifyOptions,
    notes: &mut Vec<String>,
) -> Result<CheckReport, VerifyError> {
    let origin = l.key.name.clone();
    let last = match (&state, state_path) {
        (Some(st), Some(p)) => st
            .logs
            .get(&origin)
            .map(|s| s.seen(&origin, p))
            .transpose()?,
        _ => None,
    };
    let src = o
        .log
        .as_deref()
        .map(crate::tlog::tiles::Source::new)
        .transpose()
        .map_err(tlog_err)?;
    let j = crate::tlog::check::judge(last.as_ref(), &l.seen, src.as_ref(), &l.key)
        .map_err(tlog_err)?;
    notes.extend(j.notes);
    if let (Some(st), Some(rec)) = (state, &j.record) {
        st.logs.insert(origin.clone(), LogSeen::of(rec));
    }
    Ok(ok(
        "transparency log",
        format!(
            "{} signature(s) in {origin}, proofs verified with the policy's log key: {}; {}",
            l.lines.len(),
            l.lines.join("; "),
            j.detail
        ),
    ))
}

/// The release keys, the rule for which of them count at the signing time, and the threshold:
/// what a named statement's signatures are judged against.
struct Signed<'a> {
    keys: &'a [&'a PublicKey],
    counts: &'a dyn Fn(&str) -> Result<(), String>,
    threshold: u32,
}

/// Verify a named statement envelope (`attestations/<name>.dsse.json`): the PAE signatures by
/// release keys that count at the signing time must meet the threshold; only then is the
/// payload parsed (strictly: no duplicate keys, size and depth limits).
fn signed_statement(
    dir: &Path,
    name: &str,
    check: &'static str,
    s: &Signed,
    covered: &mut BTreeSet<PathBuf>,
) -> Result<serde_json::Value, VerifyError> {
    let path = crate::release::statement_path(dir, name);
    if !path.is_file() {
        return Err(refused(check, format!("{}: missing", path.display())));
    }
    let bytes = read_untrusted(&path, crate::json::limit::STATEMENT, check)?;
    let env = Envelope::from_json(&bytes)
        .map_err(|e| refused(check, format!("{}: {e}", path.display())))?;
    if env.payload_type != INTOTO_PAYLOAD_TYPE {
        return Err(refused(
            check,
            format!(
                "{}: payloadType expected={INTOTO_PAYLOAD_TYPE}, got={}",
                path.display(),
                env.payload_type
            ),
        ));
    }
    let v = env.verify(s.keys);
    let bad: Vec<&str> = v
        .failures
        .iter()
        .filter(|f| !f.contains("is not a trusted key"))
        .map(String::as_str)
        .collect();
    if !bad.is_empty() {
        return Err(refused(
            check,
            format!("{}: {}", path.display(), bad.join("; ")),
        ));
    }
    let good = v
        .keys
        .iter()
        .filter(|k| (s.counts)(k.key_id()).is_ok())
        .count() as u32;
    let threshold = s.threshold.max(1);
    if good < threshold {
        return Err(refused(
            check,
            format!(
                "{}: {good} valid signature(s) by release keys, threshold {threshold}",
                path.display()
            ),
        ));
    }
    let st = crate::json::value(&env.payload, crate::json::limit::STATEMENT)
        .map_err(|e| refused(check, format!("{}: payload: {e}", path.display())))?;
    if let Ok(rel) = path.strip_prefix(dir) {
        covered.insert(rel.to_path_buf());
    }
    Ok(st)
}

/// The SBOM attestations (CycloneDX and SPDX, for every artifact in scope) and, when the
/// signed provenance says the release has a gate, the test-result attestation: present,
/// signed, and about these artifacts.
fn statement_checks(
    dir: &Path,
    manifest: &ReleaseManifest,
    in_scope: &[&Artifact],
    prov: &Provenance,
    s: &Signed,
    covered: &mut BTreeSet<PathBuf>,
) -> Result<Vec<CheckReport>, VerifyError> {
    let mut out = vec![sbom_checks(dir, in_scope, s, covered)?];
    let required = match prov.gate_required {
        Some(r) => r,
        None => legacy_gate_required(dir, manifest, prov)?,
    };
    let path = crate::release::statement_path(dir, "test-result");
    if required || path.is_file() {
        out.push(test_result_check(dir, manifest, s, covered)?);
    }
    let vpath = crate::release::statement_path(dir, crate::vulns::STATEMENT_NAME);
    if prov.vulns_required || vpath.is_file() {
        out.push(vulns_check(dir, manifest, prov, s, covered)?);
    }
    if let Some(c) = stable_check(dir, prov, covered)? {
        out.push(c);
    }
    Ok(out)
}

/// Refuse unless the statement names every artifact of the release with its digest.
fn names_every_artifact(
    st: &serde_json::Value,
    manifest: &ReleaseManifest,
    path: &Path,
    check: &'static str,
) -> Result<(), VerifyError> {
    let subjects: BTreeMap<&str, &str> = st["subject"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            (
                s["name"].as_str().unwrap_or(""),
                s["digest"]["sha256"].as_str().unwrap_or(""),
            )
        })
        .collect();
    for a in &manifest.artifacts {
        if subjects.get(a.file.as_str()).copied() != Some(a.sha256.as_str()) {
            return Err(refused(
                check,
                format!(
                    "{}: does not name {} sha256:{}",
                    path.display(),
                    a.file,
                    a.sha256
                ),
            ));
        }
    }
    Ok(())
}

/// A file of the release that a signed statement names by digest: refused when it differs,
/// covered when it matches; `false` when this copy of the release does not carry it.
fn bound_file(
    dir: &Path,
    name: &str,
    want: &str,
    check: &'static str,
    signed_in: &Path,
    covered: &mut BTreeSet<PathBuf>,
) -> Result<bool, VerifyError> {
    let Some(rel) = fsutil::relative_path(name) else {
        return Err(refused(
            check,
            format!(
                "{}: names {name:?}, not a relative path",
                signed_in.display()
            ),
        ));
    };
    let file = dir.join(&rel);
    if !file.is_file() {
        return Ok(false);
    }
    let (got, _) = fsutil::hash_regular(&file).map_err(|e| refused(check, e.to_string()))?;
    if got.as_str() != want {
        return Err(refused(
            check,
            format!(
                "{}: sha256 expected={want} ({}), got={got}",
                file.display(),
                signed_in.display()
            ),
        ));
    }
    covered.insert(rel);
    Ok(true)
}

/// The vulnerability attestation: signed, about every artifact, a passing verdict with no
/// failing finding, scanned against the databases the provenance names; the report it names
/// by digest, where the release carries it, is the signed one.
fn vulns_check(
    dir: &Path,
    manifest: &ReleaseManifest,
    prov: &Provenance,
    s: &Signed,
    covered: &mut BTreeSet<PathBuf>,
) -> Result<CheckReport, VerifyError> {
    const CHECK: &str = "vulnerabilities";
    let path = crate::release::statement_path(dir, crate::vulns::STATEMENT_NAME);
    let st = signed_statement(dir, crate::vulns::STATEMENT_NAME, CHECK, s, covered)?;
    let fail = |reason: String| refused(CHECK, format!("{}: {reason}", path.display()));
    if st["predicateType"] != crate::vulns::VULNS_V01 {
        return Err(fail(format!("predicateType {}", st["predicateType"])));
    }
    names_every_artifact(&st, manifest, &path, CHECK)?;
    let x = &st["predicate"]["relsign"];
    if x["result"] != "PASSED" {
        return Err(fail(format!("the gate's result is {}", x["result"])));
    }
    let results = st["predicate"]["scanner"]["result"]
        .as_array()
        .ok_or_else(|| fail("predicate.scanner.result: missing or not a list".into()))?;
    let verdict = |r: &serde_json::Value| -> String {
        r["annotations"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|a| a["verdict"].as_str())
            .unwrap_or("")
            .to_string()
    };
    let verdicts: Vec<String> = results.iter().map(verdict).collect();
    if let Some(i) = verdicts
        .iter()
        .position(|v| v != "allowed" && v != "reported")
    {
        return Err(fail(format!(
            "finding {} has verdict {:?}",
            results[i]["id"], verdicts[i]
        )));
    }
    let dbs: Vec<(String, String)> = x["databases"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            (
                d["name"].as_str().unwrap_or("").to_string(),
                d["digest"]["sha256"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let named: Vec<(String, String)> = prov
        .vuln_databases
        .iter()
        .map(|(n, d)| (n.clone(), d.to_string()))
        .collect();
    if dbs.is_empty() || dbs != named {
        return Err(fail(format!(
            "databases {dbs:?} are not the ones the provenance names ({named:?})"
        )));
    }
    let report = x["report"]["name"].as_str().unwrap_or("");
    let want = x["report"]["digest"]["sha256"].as_str().unwrap_or("");
    if report != crate::vulns::REPORT_FILE || want.is_empty() {
        return Err(fail(format!("relsign.report names {report:?}")));
    }
    let present = bound_file(dir, report, want, CHECK, &path, covered)?;
    let allowed = verdicts.iter().filter(|v| *v == "allowed").count();
    let shown: Vec<String> = dbs.iter().map(|(n, d)| format!("{n} sha256:{d}")).collect();
    Ok(ok(
        CHECK,
        format!(
            "the vulnerability gate passed, signed, about every artifact: {} finding(s) ({allowed} allowed, {} reported, none failing) against {} (as the provenance names them); {}",
            verdicts.len(),
            verdicts.len() - allowed,
            shown.join(", "),
            if present {
                format!("{report} matches")
            } else {
                format!("{report} is not in this copy of the release (not checked)")
            }
        ),
    ))
}

/// The stable-branch report the provenance names as a byproduct: where the release carries
/// it, it is the signed one.
fn stable_check(
    dir: &Path,
    prov: &Provenance,
    covered: &mut BTreeSet<PathBuf>,
) -> Result<Option<CheckReport>, VerifyError> {
    const CHECK: &str = "stable branch";
    let file = crate::stable::REPORT_FILE;
    let Some(want) = prov.byproducts.get(file) else {
        return Ok(None);
    };
    let path = dir.join(file);
    if !path.is_file() {
        return Ok(Some(ok(
            CHECK,
            format!("{file} is not in this copy of the release (not checked)"),
        )));
    }
    // Read once: the bytes hashed are the bytes judged.
    let bytes = read_untrusted(&path, crate::json::limit::SBOM, CHECK)?;
    let got = Sha256Hex::of(&bytes);
    if got != *want {
        return Err(refused(
            CHECK,
            format!(
                "{}: sha256 expected={want} (provenance byproduct), got={got}",
                path.display()
            ),
        ));
    }
    covered.insert(PathBuf::from(file));
    let v = crate::json::value(&bytes, crate::json::limit::SBOM)
        .map_err(|e| refused(CHECK, format!("{file}: {e}")))?;
    if v["offences"].as_array().is_none_or(|o| !o.is_empty()) {
        return Err(refused(CHECK, format!("{file}: the policy found offences")));
    }
    let base = v["baseline"]["version"]
        .as_str()
        .unwrap_or("none (the branch's first release)");
    Ok(Some(ok(
        CHECK,
        format!(
            "{file} matches the provenance: branch {}, baseline {base}, no added dependency or disallowed pin change",
            v["branch"]
        ),
    )))
}

/// A provenance made before relsign recorded `gate.required`: the answer comes from the
/// recipe copy, whose digest the signed provenance names. Without that copy nothing signed
/// says whether a gate was required, and the release is refused.
fn legacy_gate_required(
    dir: &Path,
    m: &ReleaseManifest,
    prov: &Provenance,
) -> Result<bool, VerifyError> {
    let recipe = crate::reldir::recipe_copy_with_digest(
        dir,
        &m.recipe.path,
        &prov.recipe_sha256,
        "the provenance",
    )
    .map_err(|e| {
        refused(
            "test result",
            format!(
                "the provenance does not record whether the release has a gate (made by an \
                 older relsign), and the recipe copy with the signed digest {} is not there \
                 to tell: {e}",
                prov.recipe_sha256
            ),
        )
    })?;
    Ok(recipe.contains_key("test"))
}

fn sbom_checks(
    dir: &Path,
    in_scope: &[&Artifact],
    s: &Signed,
    covered: &mut BTreeSet<PathBuf>,
) -> Result<CheckReport, VerifyError> {
    let mut sbom_files = 0usize;
    for a in in_scope {
        for (kind, predicate) in [
            ("cdx", crate::sbom::CYCLONEDX_PREDICATE),
            ("spdx", crate::sbom::SPDX_PREDICATE),
        ] {
            let name = format!("sbom-{}.{kind}", a.file);
            let st = signed_statement(dir, &name, "sbom", s, covered)?;
            let subject = &st["subject"][0];
            if st["predicateType"] != predicate
                || st["subject"].as_array().map(Vec::len) != Some(1)
                || subject["name"] != a.file.as_str()
                || subject["digest"]["sha256"] != a.sha256.as_str()
            {
                return Err(refused("sbom", format!("{name}: expected a {predicate} statement about {} sha256:{}, got {} about {} sha256:{}", a.file, a.sha256, st["predicateType"], subject["name"], subject["digest"]["sha256"])));
            }
            // The readable copy under sbom/ must be the document that was signed.
            let (cdx, spdx) = crate::sbom::sbom_paths(dir, a);
            let file = if kind == "cdx" { cdx } else { spdx };
            if file.is_file() {
                let bytes = read_untrusted(&file, crate::json::limit::SBOM, "sbom")?;
                let doc = crate::json::value(&bytes, crate::json::limit::SBOM)
                    .map_err(|e| refused("sbom", format!("{}: {e}", file.display())))?;
                if doc != st["predicate"] {
                    return Err(refused(
                        "sbom",
                        format!(
                            "{}: differs from the SBOM signed in {}",
                            file.display(),
                            crate::release::statement_path(dir, &name).display()
                        ),
                    ));
                }
                if let Ok(rel) = file.strip_prefix(dir) {
                    covered.insert(rel.to_path_buf());
                }
                sbom_files += 1;
            }
        }
    }
    Ok(ok(
        "sbom",
        format!(
            "CycloneDX and SPDX attestations signed for {} artifact(s); {sbom_files} file(s) under sbom/ equal them",
            in_scope.len()
        ),
    ))
}

/// The test-result attestation: signed, passed, about every artifact; the records it names
/// (JUnit files, the summary), where the release carries them, are the signed ones.
fn test_result_check(
    dir: &Path,
    manifest: &ReleaseManifest,
    s: &Signed,
    covered: &mut BTreeSet<PathBuf>,
) -> Result<CheckReport, VerifyError> {
    let path = crate::release::statement_path(dir, "test-result");
    let st = signed_statement(dir, "test-result", "test result", s, covered)?;
    if st["predicateType"] != crate::gate::TEST_RESULT_V01 {
        return Err(refused(
            "test result",
            format!("{}: predicateType {}", path.display(), st["predicateType"]),
        ));
    }
    let result = st["predicate"]["result"].as_str().unwrap_or("");
    if result != "PASSED" && result != "WARNED" {
        return Err(refused(
            "test result",
            format!("{}: the gate's result is {result:?}", path.display()),
        ));
    }
    names_every_artifact(&st, manifest, &path, "test result")?;
    let (mut records, mut absent) = (0usize, 0usize);
    for c in st["predicate"]["configuration"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let (Some(name), Some(want)) = (c["name"].as_str(), c["digest"]["sha256"].as_str()) else {
            continue;
        };
        if c["mediaType"] != "application/xml" && c["mediaType"] != "application/json" {
            continue;
        }
        if bound_file(dir, name, want, "test result", &path, covered)? {
            records += 1;
        } else {
            absent += 1;
        }
    }
    let passed = st["predicate"]["passedTests"]
        .as_array()
        .map_or(0, Vec::len);
    Ok(ok(
        "test result",
        format!(
            "the gate passed ({passed} scenario run(s)), signed; {records} record(s) (JUnit, summary) match{}",
            if absent > 0 {
                format!(", {absent} not in this copy of the release (not checked)")
            } else {
                String::new()
            }
        ),
    ))
}

/// The release's copies of its inputs (`inputs/`: the recipe, the locks, directory sources),
/// which `relsign rebuild` builds from: each must have the digest release.json records (and
/// release.json is bound by the provenance). `None` when the release carries no inputs/ (an
/// artifact verified beside the release metadata only).
fn input_checks(
    dir: &Path,
    m: &ReleaseManifest,
    covered: &mut BTreeSet<PathBuf>,
) -> Result<Option<CheckReport>, VerifyError> {
    let inputs = dir.join("inputs");
    if !inputs.is_dir() {
        return Ok(None);
    }
    let bad = |what: String| refused("inputs", what);
    let mut files = vec![(&m.recipe.path, &m.recipe.sha256)];
    files.extend(m.locks.iter().map(|l| (&l.path, &l.sha256)));
    for (rel, want) in &files {
        let Some(r) = fsutil::relative_path(rel) else {
            return Err(bad(format!(
                "release.json names the input {rel:?}, not a relative path"
            )));
        };
        let p = dir.join(&r);
        let got = match fsutil::hash_regular(&p) {
            Ok((d, _)) => d,
            Err(e) if e.source.kind() == std::io::ErrorKind::NotFound => {
                return Err(bad(format!("{}: missing", p.display())))
            }
            Err(e) if e.source.kind() == std::io::ErrorKind::InvalidData => {
                return Err(bad(e.to_string()))
            }
            Err(e) => return Err(e.into()),
        };
        if got != **want {
            return Err(bad(format!(
                "{}: sha256 expected={want} (release.json), got={got}",
                p.display()
            )));
        }
        covered.insert(r);
    }
    let mut trees = 0usize;
    for s in m.sources.iter().filter(|s| s.kind == "dir") {
        let Some(r) = fsutil::relative_path(&s.location) else {
            return Err(bad(format!(
                "release.json names the source {:?}, not a relative path",
                s.location
            )));
        };
        let p = inputs.join(&r);
        if !p.is_dir() {
            return Err(bad(format!(
                "{}: missing (source of {})",
                p.display(),
                s.package
            )));
        }
        // The tree digest's listing is one line per file: a name with a newline could forge
        // lines, and a symlink or special file would be followed or block. Refuse them first.
        check_plain_tree(&p).map_err(bad)?;
        let got = crate::build::source::tree_digest(&p)
            .map_err(|e| bad(format!("{}: {e}", p.display())))?;
        if got.as_str() != s.digest {
            return Err(bad(format!(
                "{}: tree digest expected={} (release.json), got={got}: the source copy was changed",
                p.display(),
                s.digest
            )));
        }
        // The tree digest binds every file under it.
        for f in walk_files(&p)? {
            if let Ok(rel) = f.strip_prefix(dir) {
                covered.insert(rel.to_path_buf());
            }
        }
        trees += 1;
    }
    Ok(Some(ok(
        "inputs",
        format!(
            "the recipe, {} lock(s) and {trees} source tree(s) under inputs/ are the recorded ones",
            m.locks.len()
        ),
    )))
}

/// A source copy must hold only directories and regular files, with UTF-8 names free of
/// newlines (the tree digest lists one file per line), at most 100,000 entries.
fn check_plain_tree(root: &Path) -> Result<(), String> {
    let mut stack = vec![root.to_path_buf()];
    let mut n = 0usize;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))? {
            let e = e.map_err(|e| format!("{}: {e}", d.display()))?;
            n += 1;
            if n > 100_000 {
                return Err(format!("{}: more than 100000 entries", root.display()));
            }
            let p = e.path();
            let name = e.file_name();
            match name.to_str() {
                Some(s) if !s.contains('\n') && !s.contains('\r') => {}
                _ => {
                    return Err(format!(
                        "{}: a name that is not UTF-8 or holds a newline",
                        p.display()
                    ))
                }
            }
            let t = e.file_type().map_err(|e| format!("{}: {e}", p.display()))?;
            if t.is_dir() {
                stack.push(p);
            } else if !t.is_file() {
                return Err(format!(
                    "{}: a symlink or special file in a source copy",
                    p.display()
                ));
            }
        }
    }
    Ok(())
}

/// Every non-directory path under `root` (symlinks included, not followed), sorted.
fn walk_files(root: &Path) -> Result<Vec<PathBuf>, VerifyError> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).map_err(fsutil::err("read directory", &d))? {
            let e = e.map_err(fsutil::err("read directory", &d))?;
            let t = e.file_type().map_err(fsutil::err("stat", &e.path()))?;
            if t.is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The work area `relsign publish` keeps inside a release directory (its journal and the
/// referrer blobs it generates): not part of the release, never published as a file of it,
/// and counted in a note rather than judged.
pub const PUBLISH_WORK_DIR: &str = ".relsign-publish";

/// Files of the release directory that no check bound (relative paths, sorted), and the
/// number of files under the publish work area.
fn unsigned_files(
    dir: &Path,
    covered: &BTreeSet<PathBuf>,
) -> Result<(Vec<String>, usize), VerifyError> {
    let mut work = 0;
    let mut extra = Vec::new();
    for p in walk_files(dir)? {
        let Ok(rel) = p.strip_prefix(dir) else {
            continue;
        };
        if rel.starts_with(PUBLISH_WORK_DIR) {
            work += 1;
        } else if !covered.contains(rel) {
            extra.push(rel.to_string_lossy().into_owned());
        }
    }
    Ok((extra, work))
}

/// Map `f` over `items` on the machine's cores; the items with their results, in order.
fn parallel_map<T: Sync, R: Send>(items: Vec<T>, f: impl Fn(&T) -> R + Sync) -> Vec<(T, R)> {
    let results = crate::par::map(crate::par::cores(), &items, f);
    items.into_iter().zip(results).collect()
}

/// Read a file once: SHA-256 and every streaming Ed25519 verifier over the same chunks. The
/// hash and the signature checks run on two threads when there are signatures to check.
#[allow(clippy::type_complexity)]
fn hash_and_verify<'b>(
    path: &Path,
    verifiers: Vec<(&'b BundleFile, String, crate::keys::StreamVerifier)>,
) -> Result<(Sha256Hex, u64, Vec<(&'b BundleFile, String, bool)>), VerifyError> {
    const CHUNK: usize = 1 << 20;
    let mut f =
        fsutil::open_regular(path).map_err(|e| refused("artifact digest", e.to_string()))?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    if verifiers.is_empty() {
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = f.read(&mut buf).map_err(fsutil::err("read", path))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            size += n as u64;
        }
        return Ok((
            Sha256Hex::parse(&hex(&hasher.finalize())).expect("hex"),
            size,
            vec![],
        ));
    }
    let (tx, rx) = std::sync::mpsc::sync_channel::<std::sync::Arc<Vec<u8>>>(4);
    let results = std::thread::scope(|s| -> Result<_, VerifyError> {
        let h = s.spawn(move || {
            let mut vs = verifiers;
            for chunk in rx {
                for (_, _, v) in vs.iter_mut() {
                    v.update(&chunk);
                }
            }
            vs.into_iter()
                .map(|(b, k, v)| (b, k, v.finish()))
                .collect::<Vec<_>>()
        });
        loop {
            let mut buf = vec![0u8; CHUNK];
            let mut n = 0;
            while n < CHUNK {
                let m = f.read(&mut buf[n..]).map_err(fsutil::err("read", path))?;
                if m == 0 {
                    break;
                }
                n += m;
            }
            if n == 0 {
                break;
            }
            buf.truncate(n);
            let chunk = std::sync::Arc::new(buf);
            hasher.update(&chunk[..]);
            size += n as u64;
            if tx.send(chunk).is_err() {
                break;
            }
        }
        drop(tx);
        Ok(h.join().expect("verifier thread"))
    })?;
    Ok((
        Sha256Hex::parse(&hex(&hasher.finalize())).expect("hex"),
        size,
        results,
    ))
}

/// An image artifact, checked as `skopeo copy oci:…` or `relsign run` would use it: the
/// layout's `index.json` names exactly one manifest, the signed one (digest, size, media
/// type); the manifest blob hashes to the provenance subject; its config and every layer are
/// present as regular files with the size and sha256 the manifest gives. The bound files go
/// into `covered` (any other blob is then an unsigned file).
fn check_layout(
    dir: &Path,
    a: &Artifact,
    subject: &Sha256Hex,
    covered: &mut BTreeSet<PathBuf>,
) -> Result<(), VerifyError> {
    use crate::oci;
    let Some(rel) = fsutil::relative_path(&a.file) else {
        return Err(refused(
            "artifact digest",
            format!(
                "release.json names the image {:?}, not a relative path",
                a.file
            ),
        ));
    };
    let root = dir.join(&rel);
    let bad = |why: String| refused("image layout", format!("{}: {why}", root.display()));
    let layout_file = root.join("oci-layout");
    let v = crate::json::value(&read_untrusted(&layout_file, 4096, "image layout")?, 4096)
        .map_err(|e| bad(format!("oci-layout: {e}")))?;
    if v.get("imageLayoutVersion")
        .and_then(serde_json::Value::as_str)
        != Some("1.0.0")
    {
        return Err(bad("oci-layout: imageLayoutVersion is not \"1.0.0\"".into()));
    }
    let idx_bytes = read_untrusted(
        &root.join("index.json"),
        crate::json::limit::OCI,
        "image layout",
    )?;
    let idx: oci::Index = crate::json::from_slice(&idx_bytes, crate::json::limit::OCI)
        .map_err(|e| bad(format!("index.json: {e}")))?;
    let want = format!("sha256:{subject}");
    let desc = match idx.manifests.as_slice() {
        [d] if d.digest == want => d,
        [] => {
            return Err(bad(format!(
                "index.json names no manifest; it must name the signed manifest {want}"
            )))
        }
        list => {
            let others: Vec<&str> = list
                .iter()
                .filter(|d| d.digest != want)
                .map(|d| d.digest.as_str())
                .collect();
            return Err(bad(format!(
                "index.json names {} manifest(s); it must name only the signed manifest {want}, \
                 and also names {} that no signature covers",
                list.len(),
                others.join(", ")
            )));
        }
    };
    if desc.media_type != oci::MEDIA_MANIFEST {
        return Err(bad(format!(
            "index.json: the manifest's mediaType expected={}, got={}",
            oci::MEDIA_MANIFEST,
            desc.media_type
        )));
    }
    let blobs = rel.join("blobs/sha256");
    let mpath = dir.join(&blobs).join(subject.as_str());
    if !mpath.is_file() {
        return Err(refused(
            "artifact digest",
            format!(
                "{}: the image manifest sha256:{subject} is missing",
                mpath.display()
            ),
        ));
    }
    let mbytes = read_untrusted(&mpath, crate::json::limit::OCI, "image layout")?;
    let got = Sha256Hex::of(&mbytes);
    if got != *subject {
        return Err(refused(
            "artifact digest",
            format!(
                "{}: sha256 expected={subject} (provenance subject), got={got}",
                mpath.display()
            ),
        ));
    }
    if desc.size != mbytes.len() as u64 {
        return Err(bad(format!(
            "index.json gives the manifest size {}, the blob has {} bytes",
            desc.size,
            mbytes.len()
        )));
    }
    let m: oci::Manifest = crate::json::from_slice(&mbytes, crate::json::limit::OCI)
        .map_err(|e| bad(format!("manifest {want}: {e}")))?;
    if m.schema_version != 2 || m.media_type != oci::MEDIA_MANIFEST {
        return Err(bad(format!(
            "manifest {want}: schemaVersion {} mediaType {}, expected 2 {}",
            m.schema_version,
            m.media_type,
            oci::MEDIA_MANIFEST
        )));
    }
    covered.insert(rel.join("oci-layout"));
    covered.insert(rel.join("index.json"));
    covered.insert(blobs.join(subject.as_str()));
    let mut named = vec![("config".to_string(), &m.config)];
    named.extend(
        m.layers
            .iter()
            .enumerate()
            .map(|(i, l)| (format!("layers[{i}]"), l)),
    );
    let mut jobs = Vec::new();
    for (what, d) in named {
        let hex = d
            .digest
            .strip_prefix("sha256:")
            .and_then(|h| Sha256Hex::parse(h).ok())
            .ok_or_else(|| {
                bad(format!(
                    "manifest {want}: {what} digest {:?} is not sha256:<64 hex>",
                    d.digest
                ))
            })?;
        let path = dir.join(&blobs).join(hex.as_str());
        let meta = std::fs::symlink_metadata(&path);
        match meta {
            Ok(meta) if meta.is_file() => {
                if meta.len() != d.size {
                    return Err(refused(
                        "artifact digest",
                        format!(
                            "{}: {what} size expected={} (signed manifest), got={}",
                            path.display(),
                            d.size,
                            meta.len()
                        ),
                    ));
                }
            }
            Ok(_) => {
                return Err(refused(
                    "artifact digest",
                    format!("{}: {what} is not a regular file", path.display()),
                ))
            }
            Err(_) => {
                return Err(refused(
                    "artifact digest",
                    format!(
                        "{}: missing: the signed manifest names {what} {} ({} bytes)",
                        path.display(),
                        d.digest,
                        d.size
                    ),
                ))
            }
        }
        covered.insert(blobs.join(hex.as_str()));
        jobs.push((what, hex, path));
    }
    for ((what, hex, path), res) in parallel_map(jobs, |(_, _, p)| fsutil::hash_regular(p)) {
        let (got, _) = res.map_err(|e| refused("artifact digest", e.to_string()))?;
        if got != hex {
            return Err(refused(
                "artifact digest",
                format!(
                    "{}: {what} sha256 expected={hex} (signed manifest), got={got}",
                    path.display()
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn versions_order() {
        use std::cmp::Ordering::*;
        assert_eq!(compare_versions("0.1.0", "0.2.0"), Less);
        assert_eq!(compare_versions("1.10.3", "1.9"), Greater);
        assert_eq!(compare_versions("1.0rc1", "1.0"), Less);
        assert_eq!(compare_versions("1.0", "1.0"), Equal);
    }
}
