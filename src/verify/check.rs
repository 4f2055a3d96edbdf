//! What a check is and what verify reports: the error that refuses, each check's outcome
//! (`Check`), the options, the report, and the run's parallel map. Every check module uses
//! these; none of them uses the orchestrator in [`super`].

use crate::policy::PolicyError;
use serde::Serialize;
use std::path::PathBuf;

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

pub(super) fn refused(check: &'static str, reason: impl Into<String>) -> VerifyError {
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

pub(super) fn ok(check: &'static str, detail: impl Into<String>) -> CheckReport {
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
pub(super) struct Check {
    pub(super) name: &'static str,
    pub(super) passed: bool,
    pub(super) message: String,
    pub(super) bound: Vec<PathBuf>,
    pub(super) listed: bool,
}

impl Check {
    /// Passed, with a line in the report.
    pub(super) fn ok(name: &'static str, message: impl Into<String>) -> Check {
        Check {
            name,
            passed: true,
            message: message.into(),
            bound: Vec::new(),
            listed: true,
        }
    }
    /// Passed, without a line in the report.
    pub(super) fn quiet(name: &'static str) -> Check {
        Check {
            listed: false,
            ..Check::ok(name, "")
        }
    }
    pub(super) fn refused(name: &'static str, reason: impl Into<String>) -> Check {
        Check {
            passed: false,
            ..Check::ok(name, reason)
        }
    }
    /// The same check, binding `files` too.
    pub(super) fn binding(mut self, files: impl IntoIterator<Item = PathBuf>) -> Check {
        self.bound.extend(files);
        self
    }
}

/// Map `f` over `items` on the machine's cores; the items with their results, in order.
pub(super) fn parallel_map<T: Sync, R: Send>(
    items: Vec<T>,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<(T, R)> {
    let results = crate::par::map(crate::par::cores(), &items, f);
    items.into_iter().zip(results).collect()
}
