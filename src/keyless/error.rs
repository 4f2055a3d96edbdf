//! The errors of keyless signing.

use crate::attest;
use crate::fsutil::FsError;

#[derive(Debug, thiserror::Error)]
pub enum KeylessError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    Attest(#[from] attest::AttestError),
    #[error("keyless signing: the OIDC token: {0}")]
    Token(String),
    #[error("keyless signing: {url}: {reason}")]
    Service { url: String, reason: String },
    #[error("keyless signing: {0}")]
    Other(String),
}
