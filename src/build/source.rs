//! Package sources: a directory, an sdist from the store, or a git commit from the git cache.
//! Each is materialized into a work directory with its SOURCE_DATE_EPOCH.

use crate::archive;
use crate::build::error::BuildError;
use crate::digest::Sha256Hex;
use crate::fsutil;
use crate::model::SourceRecord;
use crate::recipe::{Package, Recipe, Source};
use crate::store::Store;
use std::path::Path;

pub fn extract_sdist(path: &Path, shown: &str, dest: &Path) -> Result<(), BuildError> {
    let f = std::fs::File::open(path).map_err(fsutil::err("open", path))?;
    let gz = flate2::read::MultiGzDecoder::new(std::io::BufReader::new(f));
    let opts = archive::safe::ExtractOptions {
        strip_components: 1,
        input_size: std::fs::metadata(path).map(|m| m.len()).ok(),
        ..Default::default()
    };
    archive::safe::extract_tar(gz, dest, &opts).map_err(|e| BuildError::Other {
        context: format!("extracting {shown}"),
        source: Box::new(e),
    })?;
    Ok(())
}

/// Put a package's source at `dest` and work out its SOURCE_DATE_EPOCH.
pub fn materialize_source(
    recipe: &Recipe,
    pkg: &Package,
    store: &Store,
    dest: &Path,
    reverse_order: bool,
) -> Result<SourceRecord, BuildError> {
    match &pkg.source {
        Source::Dir(rel) => {
            let dir = recipe.resolve(rel);
            if !dir.is_dir() {
                return Err(BuildError::Message(format!(
                    "{}: package {}: source directory {} does not exist",
                    recipe.path.display(),
                    pkg.name,
                    dir.display()
                )));
            }
            let epoch = dir_epoch(&dir)?;
            copy_tree_ordered(&dir, dest, epoch, reverse_order)?;
            let digest = tree_digest(dest)?;
            Ok(SourceRecord {
                package: pkg.name.clone(),
                kind: "dir".into(),
                location: rel.display().to_string(),
                digest: digest.to_string(),
                source_date_epoch: epoch,
            })
        }
        Source::Sdist { file, sha256 } => {
            let p = store.get(sha256, file)?;
            let epoch = sdist_epoch(&p, file)?;
            extract_sdist(&p, file, dest)?;
            Ok(SourceRecord {
                package: pkg.name.clone(),
                kind: "sdist".into(),
                location: file.clone(),
                digest: sha256.to_string(),
                source_date_epoch: epoch,
            })
        }
        Source::Git {
            url,
            commit,
            subdir,
        } => {
            let repo = store.git_cache_dir(url);
            let run = |args: &[&str]| -> Result<Vec<u8>, BuildError> {
                let out = std::process::Command::new("git")
                    .arg("--git-dir")
                    .arg(&repo)
                    .args(args)
                    .output()
                    .map_err(|e| BuildError::Other {
                        context: "running git".into(),
                        source: Box::new(e),
                    })?;
                if !out.status.success() {
                    return Err(BuildError::Message(format!(
                        "git source {} at {commit} is not in the store ({}); run `relsign fetch`",
                        crate::fetch::redact(url),
                        String::from_utf8_lossy(&out.stderr).trim()
                    )));
                }
                Ok(out.stdout)
            };
            let ct = run(&[
                "show",
                "-s",
                "--format=%ct",
                &format!("{commit}^{{commit}}"),
            ])?;
            let epoch: u64 = String::from_utf8_lossy(&ct)
                .trim()
                .parse()
                .map_err(|_| BuildError::Message(format!("git {commit}: no commit time")))?;
            let mut args = vec!["archive".to_string(), "--format=tar".into(), commit.clone()];
            if let Some(s) = subdir {
                args.push(s.display().to_string());
            }
            let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
            let tar = run(&args)?;
            let opts = archive::safe::ExtractOptions {
                strip_components: subdir.as_ref().map(|s| s.components().count()).unwrap_or(0),
                ..Default::default()
            };
            archive::safe::extract_tar(&tar[..], dest, &opts).map_err(|e| BuildError::Other {
                context: format!("extracting git {commit}"),
                source: Box::new(e),
            })?;
            Ok(SourceRecord {
                package: pkg.name.clone(),
                kind: "git".into(),
                location: crate::fetch::redact(url),
                digest: commit.clone(),
                source_date_epoch: epoch,
            })
        }
    }
}

/// Names skipped when copying a source directory: VCS metadata and build leftovers.
fn skipped(name: &str) -> bool {
    matches!(
        name,
        ".git" | ".hg" | ".svn" | "build" | "dist" | "__pycache__" | ".eggs" | ".tox" | ".venv"
    ) || name.ends_with(".egg-info")
        || name.ends_with(".pyc")
}

/// Copy a source tree in sorted order, skipping VCS metadata and build leftovers, and set every
/// file's mtime to `epoch` so the copy carries no trace of when it was made.
pub fn copy_source_tree(from: &Path, to: &Path, epoch: u64) -> Result<(), BuildError> {
    copy_tree_ordered(from, to, epoch, false)
}

/// [`copy_source_tree`], creating entries in reverse order when `reverse` is set (so the copy's
/// directory order differs: a `--check-reproducible` variation).
pub fn copy_tree_ordered(
    from: &Path,
    to: &Path,
    epoch: u64,
    reverse: bool,
) -> Result<(), BuildError> {
    fsutil::create_dir_all(to)?;
    let mut entries: Vec<_> = std::fs::read_dir(from)
        .map_err(fsutil::err("read directory", from))?
        .collect::<Result<_, _>>()
        .map_err(fsutil::err("read directory", from))?;
    entries.sort_by_key(|e| e.file_name());
    if reverse {
        entries.reverse();
    }
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch);
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        if skipped(&name) {
            continue;
        }
        let src = e.path();
        let dst = to.join(&name);
        let ft = e.file_type().map_err(fsutil::err("stat", &src))?;
        if ft.is_dir() {
            copy_tree_ordered(&src, &dst, epoch, reverse)?;
        } else if ft.is_file() {
            std::fs::copy(&src, &dst).map_err(fsutil::err("copy to", &dst))?;
            let f = std::fs::File::options()
                .write(true)
                .open(&dst)
                .map_err(fsutil::err("open", &dst))?;
            f.set_modified(time)
                .map_err(fsutil::err("set mtime of", &dst))?;
        } else if ft.is_symlink() {
            return Err(BuildError::Message(format!(
                "{}: symlinks are not supported in source directories",
                src.display()
            )));
        }
    }
    Ok(())
}

/// A digest over a tree's sorted listing: path, mode class and content digest of each file.
pub fn tree_digest(root: &Path) -> Result<Sha256Hex, BuildError> {
    fn walk(root: &Path, dir: &Path, lines: &mut Vec<String>) -> Result<(), BuildError> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(fsutil::err("read directory", dir))?
            .collect::<Result<_, _>>()
            .map_err(fsutil::err("read directory", dir))?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let rel = p
                .strip_prefix(root)
                .unwrap_or(&p)
                .to_string_lossy()
                .into_owned();
            if p.is_dir() {
                walk(root, &p, lines)?;
            } else {
                use std::os::unix::fs::PermissionsExt;
                let meta = p.metadata().map_err(fsutil::err("stat", &p))?;
                let x = if meta.permissions().mode() & 0o111 != 0 {
                    "x"
                } else {
                    "-"
                };
                let (d, _) = crate::digest::hash_file(&p).map_err(fsutil::err("read", &p))?;
                lines.push(format!("{d} {x} {rel}\n"));
            }
        }
        Ok(())
    }
    let mut lines = Vec::new();
    walk(root, root, &mut lines)?;
    Ok(Sha256Hex::of(lines.concat().as_bytes()))
}

/// SOURCE_DATE_EPOCH of a directory: the time of the last git commit that touched it, or,
/// outside git, the newest file mtime in it.
fn dir_epoch(dir: &Path) -> Result<u64, BuildError> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["log", "-1", "--format=%ct", "--", "."])
        .output();
    if let Ok(out) = out {
        if out.status.success() {
            if let Ok(t) = String::from_utf8_lossy(&out.stdout).trim().parse::<u64>() {
                return Ok(t);
            }
        }
    }
    fn newest(dir: &Path) -> Result<u64, BuildError> {
        let mut max = 0;
        for e in std::fs::read_dir(dir).map_err(fsutil::err("read directory", dir))? {
            let e = e.map_err(fsutil::err("read directory", dir))?;
            if skipped(&e.file_name().to_string_lossy()) {
                continue;
            }
            let meta = e.metadata().map_err(fsutil::err("stat", &e.path()))?;
            let t = if meta.is_dir() {
                newest(&e.path())?
            } else {
                meta.modified()
                    .ok()
                    .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_secs())
                    .unwrap_or(0)
            };
            max = max.max(t);
        }
        Ok(max)
    }
    newest(dir)
}

/// SOURCE_DATE_EPOCH of an sdist: its newest member's mtime.
fn sdist_epoch(path: &Path, shown: &str) -> Result<u64, BuildError> {
    let f = std::fs::File::open(path).map_err(fsutil::err("open", path))?;
    let mut ar = tar::Archive::new(flate2::read::MultiGzDecoder::new(std::io::BufReader::new(
        f,
    )));
    let mut max = 0;
    let entries = ar.entries().map_err(|e| BuildError::Other {
        context: format!("reading {shown}"),
        source: Box::new(e),
    })?;
    for e in entries {
        let e = e.map_err(|e| BuildError::Other {
            context: format!("reading {shown}"),
            source: Box::new(e),
        })?;
        max = max.max(e.header().mtime().unwrap_or(0));
    }
    Ok(max)
}
