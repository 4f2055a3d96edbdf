//! Git sources: a bare clone per URL in the store's git cache, fetched at a pinned commit.

use crate::fsutil::{self, FsError};
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("running git (is it installed?): {0}")]
    Run(#[source] std::io::Error),
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Fs(#[from] FsError),
}

/// Fetch a git source's commit into the git cache (network). Git checks object ids itself.
pub fn fetch_git(store: &Store, url: &str, commit: &str) -> Result<(), GitError> {
    let repo = store.git_cache_dir(url);
    let git = |args: &[&str]| -> Result<(), GitError> {
        let out = std::process::Command::new("git")
            .args(args)
            .output()
            .map_err(GitError::Run)?;
        if out.status.success() {
            Ok(())
        } else {
            Err(GitError::Failed(format!(
                "git {}: {}",
                args.first().unwrap_or(&""),
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    };
    let repo_s = repo.display().to_string();
    if !repo.join("HEAD").exists() {
        fsutil::create_dir_all(&repo)?;
        git(&["init", "--quiet", "--bare", &repo_s])?;
    }
    let have = std::process::Command::new("git")
        .args([
            "--git-dir",
            &repo_s,
            "cat-file",
            "-e",
            &format!("{commit}^{{commit}}"),
        ])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !have {
        git(&["--git-dir", &repo_s, "fetch", "--quiet", url, commit]).map_err(|e| {
            GitError::Failed(format!(
                "fetching {commit} from {}: {e}",
                crate::fetch::redact(url)
            ))
        })?;
    }
    Ok(())
}
