//! The error of signing a release.

use crate::digest::Sha256Hex;
use crate::fsutil::FsError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{file}: {reason}")]
    Format { file: PathBuf, reason: String },
    #[error("{file}: reading the lock for the provenance: {reason}")]
    Lock { file: PathBuf, reason: String },
    #[error("{file}: sha256 expected={expected} (release.json), got={got}; refusing to sign")]
    Digest {
        file: PathBuf,
        expected: Sha256Hex,
        got: Sha256Hex,
    },
    #[error(
        "{file}: the existing provenance describes other artifacts than release.json \
         ({reason}); remove {file} to sign the new release"
    )]
    Mismatch { file: PathBuf, reason: String },
    /// The signer failed (a keyless session: the certificate authority or the log).
    #[error("{0}")]
    Signer(String),
}

impl From<crate::reldir::ReadError> for AttestError {
    fn from(e: crate::reldir::ReadError) -> Self {
        match e {
            crate::reldir::ReadError::Fs(e) => AttestError::Fs(e),
            crate::reldir::ReadError::Format { file, reason } => {
                AttestError::Format { file, reason }
            }
        }
    }
}
