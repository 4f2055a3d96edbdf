//! The Debian lock: InRelease verification, Packages index, dependency resolution, lock file.
//! OWNER: helper A (in progress).

use crate::digest::Sha256Hex;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum DebianLockError {
    #[error("{0}")]
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LockedDeb {
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// Pool path relative to the mirror root, `pool/main/p/python3.13/....deb`.
    pub filename: String,
    pub size: u64,
    pub sha256: Sha256Hex,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DebianLock {
    pub suite: String,
    pub architecture: String,
    pub packages: Vec<LockedDeb>,
}

impl DebianLock {
    pub fn read(_path: &Path) -> Result<DebianLock, DebianLockError> {
        todo!("helper A")
    }
}
