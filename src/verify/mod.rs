//! `relsign verify`: parse → checked types → crypto → policy.
//!
//! 1. **Parse** ([`parse`]): find the release directory from the target, read `release.json`,
//!    the DSSE envelope, the Sigstore bundles, the policy chain (each policy version's
//!    signatures are checked against the previous version's root keys before its payload is
//!    parsed) and the named statements' envelopes, each with its size limit, into typed values.
//! 2. **Crypto**: the provenance envelope's signatures over the PAE by the policy's release keys
//!    (before the payload is parsed into a typed statement); each DSSE bundle; each artifact's
//!    SHA-256 against its subject, with the message-signature bundles verified over the same
//!    bytes in one read.
//! 3. **Policy**: key validity windows judged at the statement's self-asserted signing time,
//!    revocations, thresholds, the claims against the expectations, the named statements
//!    (their signatures checked before their payloads are read as typed statements), and the
//!    last-seen state.
//!
//! Each check is a small function returning a [`Check`] (its name, passed or refused, the
//! message, the files it bound); [`verify`] runs them in order and stops at the first refusal.
//! Every refusal is a [`VerifyError::Refused`] naming the check; any other problem (an
//! unreadable file, a usage error) is another variant.

mod artifacts;
mod bundles;
mod files;
mod layout;
mod parse;
mod provenance;
mod state;
mod statements;
mod tlog;

pub use files::PUBLISH_WORK_DIR;
pub use state::{compare_versions, LastSeen, LogSeen, PolicySeen, STATE_TYPE};

use crate::digest::Sha256Hex;
use crate::keys::PublicKey;
use crate::policy::PolicyError;
use crate::report::Reporter;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Allowed clock skew for a signing time in the future.
pub const FUTURE_SKEW_SECS: i64 = 300;

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Verification refused the target: exit 1.
    #[error("verification refused: check `{check}` failed: {reason}")]
    Refused { check: &'static str, reason: String },
    #[error(transparent)]
    Fs(#[from] crate::fsutil::FsError),
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

/// What one check decided: its name, whether it passed, its message (the report's detail, or
/// the refusal's reason), and the files of the release directory (relative paths) whose bytes
/// it bound. Some checks pass without a line in the report (`format`, `signing time`, …), as
/// they always have: those are not `listed`.
#[derive(Debug)]
struct Check {
    name: &'static str,
    passed: bool,
    message: String,
    bound: Vec<PathBuf>,
    listed: bool,
}

impl Check {
    /// Passed, with a line in the report.
    fn ok(name: &'static str, message: impl Into<String>) -> Check {
        Check {
            name,
            passed: true,
            message: message.into(),
            bound: Vec::new(),
            listed: true,
        }
    }
    /// Passed, without a line in the report.
    fn quiet(name: &'static str) -> Check {
        Check {
            listed: false,
            ..Check::ok(name, "")
        }
    }
    fn refused(name: &'static str, reason: impl Into<String>) -> Check {
        Check {
            passed: false,
            ..Check::ok(name, reason)
        }
    }
    /// The same check, binding `files` too.
    fn binding(mut self, files: impl IntoIterator<Item = PathBuf>) -> Check {
        self.bound.extend(files);
        self
    }
}

/// The checks run so far: the report's lines and notes, and every file a check bound.
struct Run {
    checks: Vec<CheckReport>,
    notes: Vec<String>,
    covered: BTreeSet<PathBuf>,
}

impl Run {
    /// Take a check's outcome: a refusal ends verification; a pass adds its line and files.
    fn record(&mut self, c: Check) -> Result<(), VerifyError> {
        if !c.passed {
            return Err(refused(c.name, c.message));
        }
        self.covered.extend(c.bound);
        if c.listed {
            self.checks.push(ok(c.name, c.message));
        }
        Ok(())
    }
}

/// Parse, crypto, policy. `r` receives progress. On success the state file (if any) is
/// updated.
pub fn verify(
    target: &Path,
    o: &VerifyOptions,
    r: &dyn Reporter,
) -> Result<VerifyReport, VerifyError> {
    // ---- Phase 1: parse into checked types -------------------------------------------
    let mut inp = parse::Inputs::read(target, o, r)?;
    let mut named = std::mem::take(&mut inp.statements);
    let pol = &inp.trusted.policy;
    let keys: Vec<&PublicKey> = pol.release_keys.iter().map(|k| &k.key).collect();
    let mut run = Run {
        checks: Vec::new(),
        notes: Vec::new(),
        covered: inp.read_files(),
    };
    run.record(inp.policy_chain(o))?;

    // ---- Phase 2: crypto ------------------------------------------------------------
    let (check, verified, prov) = provenance::signature(&inp, &keys, &mut run.notes)?;
    run.record(check)?;
    run.record(provenance::release_json_digest(&inp, &prov))?;
    run.record(provenance::names_the_release(&inp, &prov))?;
    let subjects: BTreeMap<&str, &Sha256Hex> = prov
        .subjects
        .iter()
        .map(|s| (s.name.as_str(), &s.sha256))
        .collect();
    // DSSE bundles: the same statement, one valid signature by the hinted key; message
    // bundles sorted by the artifact they sign.
    let classified = bundles::classify(&inp, &keys, &subjects, &mut run.notes)?;
    let in_scope = artifacts::in_scope(&inp, &subjects)?;
    let hashed = artifacts::check(
        &inp,
        &in_scope,
        &subjects,
        &classified,
        &keys,
        r,
        &mut run.notes,
    )?;
    run.record(hashed.digest)?;
    run.record(hashed.bundle)?;
    let artifacts = hashed.reports;

    // ---- Phase 3: policy ------------------------------------------------------------
    run.record(provenance::signing_time(&prov, o.now))?;
    let rule = provenance::KeyRule::new(&inp.trusted, prov.signed_on);
    let (check, signers, logged) = provenance::threshold(&inp, &prov, &verified, &rule)?;
    run.record(check)?;
    run.record(provenance::artifact_threshold(pol, &artifacts, &rule))?;
    run.record(provenance::release_revoked(&inp.trusted, &prov))?;
    run.record(provenance::expectation(o, &prov))?;
    let signed = statements::Signed {
        keys: &keys,
        rule: &rule,
        threshold: pol.doc.thresholds.provenance,
    };
    for c in statements::checks(&inp, &mut named, &in_scope, &prov, &signed)? {
        run.record(c)?;
    }
    match files::input_check(&inp.loc.dir, &inp.manifest)? {
        Some(c) => run.record(c)?,
        None => run.notes.push(format!(
            "{}: no inputs/ beside release.json; the recipe, locks and sources were not checked",
            inp.loc.dir.display()
        )),
    }
    if inp.loc.only.is_none() {
        let c = files::unsigned_check(&inp.loc.dir, &run.covered, o.strict, &mut run.notes)?;
        run.record(c)?;
    }
    // Last-seen state: no rollback of the policy, no older release; the log's consistency.
    for c in state::checks(o, &inp.trusted, &prov, logged.as_ref(), &mut run.notes)? {
        run.record(c)?;
    }
    Ok(VerifyReport {
        ok: true,
        target: target.to_path_buf(),
        release: prov.name,
        version: prov.version,
        signed_on: crate::time::format(prov.signed_on),
        policy_version: inp.trusted.version,
        policy_test_only: pol.doc.test_only,
        provenance_signers: signers,
        provenance_threshold: pol.doc.thresholds.provenance,
        artifacts,
        checks: run.checks,
        notes: run.notes,
    })
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
