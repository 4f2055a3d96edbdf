//! What several commands share: the store, the recipe, its Debian locks, a release pulled
//! from a registry.

use relsign::error::Result;
use relsign::recipe::Recipe;
use relsign::report::Reporter;
use relsign::store::Store;
use std::path::{Path, PathBuf};

/// The store: --store, else the default.
pub(super) fn store(cli_store: &Option<PathBuf>) -> Result<Store> {
    Ok(match cli_store {
        Some(p) => Store::at(p),
        None => Store::open_default()?,
    })
}

pub(super) fn load(recipe: &Path) -> Result<Recipe> {
    Ok(Recipe::load(recipe)?)
}

/// The Debian locks of a recipe: the build toolchain's, then the image's.
pub(super) fn debian_locks(recipe: &Recipe) -> Vec<(relsign::recipe::Toolchain, PathBuf)> {
    let mut v = vec![(recipe.file.toolchain.clone(), recipe.debian_lock_path())];
    v.extend(recipe.image_toolchain());
    v
}

/// A `docker://` reference pulled (image and release metadata) into a temporary release
/// directory, which the returned guard removes; any other target as it is. What was pulled is
/// not verified here: `relsign verify` is the command that checks it.
pub(super) fn pulled_release(
    target: &Path,
    r: &dyn Reporter,
) -> Result<(Option<tempfile::TempDir>, PathBuf)> {
    let s = target.to_string_lossy();
    if !s.starts_with("docker://") {
        return Ok((None, target.to_path_buf()));
    }
    let tmp = tempfile::tempdir()?;
    let layout = relsign::publish::pull::pull_release(&s, tmp.path(), r)?;
    let dir = relsign::fsutil::parent_dir(&layout).to_path_buf();
    r.info(&format!(
        "{s}: pulled (not verified here; `relsign verify {s}` checks the signatures)"
    ));
    Ok((Some(tmp), dir))
}
