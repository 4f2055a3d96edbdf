//! A static transparency log of releases (issue 14), in the C2SP layouts:
//!
//! * [`merkle`]: RFC 6962 hashing, inclusion and consistency proofs (verified as RFC 9162
//!   §2.1.3.2 and §2.1.4.2 give them), and the compact range a monitor and the writer use;
//! * [`note`]: C2SP signed notes with Ed25519 signatures (signature type 0x01);
//! * [`checkpoint`]: C2SP tlog-checkpoint, the signed tree head;
//! * [`tiles`]: C2SP tlog-tiles paths, reading hash tiles and entry bundles with limits, from a
//!   directory or a URL, and the tree's node hashes computed from them;
//! * [`entry`]: what one log entry binds (a release signature: name, version, provenance
//!   digest, key id, signing time);
//! * [`proof`]: C2SP tlog-proof, the offline inclusion proof a release carries;
//! * [`writer`]: appending entries to a log directory so that a kill at any point leaves a
//!   checkpoint whose tiles are all on disk;
//! * [`check`]: what `relsign verify` checks (proofs, forks, rollbacks) and [`crate::releaselog::monitor`], what
//!   `relsign log monitor` checks.
//!
//! Data flows one way: bytes → parsed and checked types → judgments. Nothing here prints.

pub mod check;
pub mod checkpoint;
pub mod entry;
pub mod merkle;
pub mod note;
pub mod proof;
pub mod rekor;
pub mod tiles;
pub mod writer;

use crate::fsutil::FsError;

/// The checks a refusal names (exit 1).
pub const CHECK_LOG: &str = "transparency log";
pub const CHECK_FORK: &str = "transparency log fork";
pub const CHECK_ROLLBACK: &str = "transparency log rollback";

#[derive(Debug, thiserror::Error)]
pub enum TlogError {
    /// Bytes from a log, a proof or a checkpoint are not acceptable, or what they say does
    /// not fit what was seen before: a security refusal (exit 1).
    #[error("{reason}")]
    Refused { check: &'static str, reason: String },
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    Key(#[from] crate::keys::KeyError),
    #[error("{0}")]
    Fetch(String),
    #[error("{0}")]
    Usage(String),
}

impl TlogError {
    pub fn is_refusal(&self) -> bool {
        matches!(self, TlogError::Refused { .. })
    }
}

pub(crate) fn refused(check: &'static str, reason: impl Into<String>) -> TlogError {
    TlogError::Refused {
        check,
        reason: reason.into(),
    }
}

/// Standard base64 with padding (RFC 4648 §4), as every C2SP text format uses.
pub(crate) fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Strict standard base64 with padding: no other alphabet, no missing padding, no spaces.
pub(crate) fn b64_strict(s: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

/// An ASCII decimal with no leading zeroes (unless it is `0`), as the C2SP formats write
/// sizes and indexes.
pub(crate) fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.len() > 1 && s.starts_with('0') {
        return None;
    }
    s.parse().ok()
}
