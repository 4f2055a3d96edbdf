//! The error of locking or reading a Python lock (shared by [`super::python`] and
//! [`super::builds`]).

use crate::digest::Sha256Hex;
use crate::fetch::FetchError;
use crate::fsutil::FsError;
use crate::lock::index::IndexError;
use crate::python::metadata::MetadataError;
use crate::python::requirements::RequirementError;
use crate::store::StoreError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum PyLockError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{file}: {reason}")]
    Parse { file: PathBuf, reason: String },
    #[error("{file}: key `{key}`: {reason}")]
    Invalid {
        file: PathBuf,
        key: String,
        reason: String,
    },
    #[error("{file}: key `{key}`: {reason}")]
    Recipe {
        file: PathBuf,
        key: String,
        reason: String,
    },
    #[error(transparent)]
    Requirements(#[from] RequirementError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error("{project}: not found on any index ({})", .indexes.join(", "))]
    NotOnIndex {
        project: String,
        indexes: Vec<String>,
    },
    #[error("{project}=={version} ({origin}): no file fits the target {target}: {reason}")]
    NoFile {
        project: String,
        version: String,
        origin: String,
        target: String,
        reason: String,
    },
    #[error("{file}: its metadata says {got}, expected={expected}")]
    MetadataMismatch {
        file: String,
        expected: String,
        got: String,
    },
    #[error(
        "the pins are not closed under their dependencies for the target (pin them, or pass \
         --allow-incomplete):\n  {}",
        .problems.join("\n  ")
    )]
    Incomplete { problems: Vec<String> },
    #[error("{file} (sha256:{sha256}): not offered by any index ({})", .indexes.join(", "))]
    FileNotFound {
        file: String,
        sha256: Sha256Hex,
        indexes: Vec<String>,
    },
    #[error("{} locked Python files could not be fetched:\n  {}", .failures.len(), .failures.join("\n  "))]
    FetchFailed {
        failures: Vec<String>,
        integrity: bool,
    },
}

impl PyLockError {
    /// True for integrity failures (digest or size mismatches): exit code 1.
    pub fn is_integrity(&self) -> bool {
        match self {
            PyLockError::Fetch(e) => e.is_integrity(),
            PyLockError::Store(e) => e.is_integrity(),
            PyLockError::FetchFailed { integrity, .. } => *integrity,
            _ => false,
        }
    }
}
