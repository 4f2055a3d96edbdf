//! A release directory as relsign reads it back: `release.json` (untrusted: read with limits,
//! its `_type` checked), the recipe copy it names by digest, and the not-a-release marker.
//! Used by everything that opens a release (sign, verify, rebuild, SBOMs, scans, stable
//! branches), so none of them reaches into another for it.

use crate::digest::Sha256Hex;
use crate::fsutil::{self, FsError};
use crate::model::{ReleaseManifest, RELEASE_TYPE};
use std::path::{Path, PathBuf};

/// Reading a release directory failed: a file is unreadable, or its bytes are not what a
/// release holds (`{file}: {reason}`).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{file}: {reason}")]
    Format { file: PathBuf, reason: String },
}

/// Read `DIR/release.json`.
pub fn read_release(dir: &Path) -> Result<ReleaseManifest, ReadError> {
    let path = dir.join("release.json");
    let bytes = fsutil::read(&path)?;
    let m: ReleaseManifest =
        crate::json::from_slice(&bytes, crate::json::limit::RELEASE).map_err(|e| {
            ReadError::Format {
                file: path.clone(),
                reason: e.to_string(),
            }
        })?;
    if m.type_ != RELEASE_TYPE {
        return Err(ReadError::Format {
            file: path,
            reason: format!("_type: expected={RELEASE_TYPE}, got={}", m.type_),
        });
    }
    Ok(m)
}

/// The release's recipe copy as a TOML table, after checking its digest against release.json.
pub fn recipe_copy(dir: &Path, m: &ReleaseManifest) -> Result<toml::Table, ReadError> {
    recipe_copy_with_digest(dir, &m.recipe.path, &m.recipe.sha256, "release.json")
}

/// A release's recipe copy (`recipe_path`, as release.json names it, under `dir`; read as
/// untrusted input: a regular file of at most 1 MiB) as a TOML table, after checking that its
/// sha256 is `want`, the digest `recorded_in` records.
pub fn recipe_copy_with_digest(
    dir: &Path,
    recipe_path: &str,
    want: &Sha256Hex,
    recorded_in: &str,
) -> Result<toml::Table, ReadError> {
    let path = match fsutil::relative_path(recipe_path) {
        Some(r) => dir.join(r),
        None => {
            return Err(ReadError::Format {
                file: dir.join("release.json"),
                reason: format!("recipe.path {recipe_path:?} is not a relative path"),
            })
        }
    };
    let bytes =
        crate::json::read_limited(&path, crate::json::limit::POLICY).map_err(|e| match e {
            crate::json::ReadError::Fs(e) => ReadError::Fs(e),
            crate::json::ReadError::Json { source, .. } => ReadError::Format {
                file: path.clone(),
                reason: source.to_string(),
            },
        })?;
    let got = Sha256Hex::of(&bytes);
    if got != *want {
        return Err(ReadError::Format {
            file: path,
            reason: format!("sha256 expected={want} ({recorded_in}), got={got}"),
        });
    }
    std::str::from_utf8(&bytes)
        .ok()
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| ReadError::Format {
            file: path.clone(),
            reason: "not a TOML recipe".into(),
        })
}

/// The marker a failed gate leaves in the output directory.
pub const NOT_A_RELEASE: &str = "NOT-A-RELEASE.txt";

/// True when the directory carries the not-a-release marker.
pub fn is_marked(dir: &Path) -> bool {
    dir.join(NOT_A_RELEASE).exists()
}
