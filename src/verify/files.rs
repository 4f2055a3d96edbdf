//! The files of the release directory beyond the signed statements: its copies of the inputs
//! (`inputs/`), and every file no check bound.

use super::check::{refused, Check, VerifyError};
use crate::fsutil;
use crate::model::ReleaseManifest;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The release's copies of its inputs (`inputs/`: the recipe, the locks, directory sources),
/// which `relsign rebuild` builds from: each must have the digest release.json records (and
/// release.json is bound by the provenance). `None` when the release carries no inputs/ (an
/// artifact verified beside the release metadata only).
pub(super) fn input_check(dir: &Path, m: &ReleaseManifest) -> Result<Option<Check>, VerifyError> {
    let inputs = dir.join("inputs");
    if !inputs.is_dir() {
        return Ok(None);
    }
    let bad = |what: String| refused("inputs", what);
    let mut bound = Vec::new();
    let mut files = vec![(&m.recipe.path, &m.recipe.sha256)];
    files.extend(m.locks.iter().map(|l| (&l.path, &l.sha256)));
    for (rel, want) in &files {
        let Some(r) = fsutil::relative_path(rel) else {
            return Err(bad(format!(
                "release.json names the input {rel:?}, not a relative path"
            )));
        };
        let p = dir.join(&r);
        let got = match fsutil::hash_regular(&p) {
            Ok((d, _)) => d,
            Err(e) if e.source.kind() == std::io::ErrorKind::NotFound => {
                return Err(bad(format!("{}: missing", p.display())))
            }
            Err(e) if e.source.kind() == std::io::ErrorKind::InvalidData => {
                return Err(bad(e.to_string()))
            }
            Err(e) => return Err(e.into()),
        };
        if got != **want {
            return Err(bad(format!(
                "{}: sha256 expected={want} (release.json), got={got}",
                p.display()
            )));
        }
        bound.push(r);
    }
    let mut trees = 0usize;
    for s in m.sources.iter().filter(|s| s.kind == "dir") {
        let Some(r) = fsutil::relative_path(&s.location) else {
            return Err(bad(format!(
                "release.json names the source {:?}, not a relative path",
                s.location
            )));
        };
        let p = inputs.join(&r);
        if !p.is_dir() {
            return Err(bad(format!(
                "{}: missing (source of {})",
                p.display(),
                s.package
            )));
        }
        // The tree digest's listing is one line per file: a name with a newline could forge
        // lines, and a symlink or special file would be followed or block. Refuse them first.
        check_plain_tree(&p).map_err(bad)?;
        let got = crate::build::source::tree_digest(&p)
            .map_err(|e| bad(format!("{}: {e}", p.display())))?;
        if got.as_str() != s.digest {
            return Err(bad(format!(
                "{}: tree digest expected={} (release.json), got={got}: the source copy was changed",
                p.display(),
                s.digest
            )));
        }
        // The tree digest binds every file under it.
        for f in crate::fsutil::files_below(&p)? {
            if let Ok(rel) = f.strip_prefix(dir) {
                bound.push(rel.to_path_buf());
            }
        }
        trees += 1;
    }
    Ok(Some(
        Check::ok(
            "inputs",
            format!(
                "the recipe, {} lock(s) and {trees} source tree(s) under inputs/ are the recorded ones",
                m.locks.len()
            ),
        )
        .binding(bound),
    ))
}

/// A source copy must hold only directories and regular files, with UTF-8 names free of
/// newlines (the tree digest lists one file per line), at most 100,000 entries.
fn check_plain_tree(root: &Path) -> Result<(), String> {
    let mut stack = vec![root.to_path_buf()];
    let mut n = 0usize;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))? {
            let e = e.map_err(|e| format!("{}: {e}", d.display()))?;
            n += 1;
            if n > 100_000 {
                return Err(format!("{}: more than 100000 entries", root.display()));
            }
            let p = e.path();
            let name = e.file_name();
            match name.to_str() {
                Some(s) if !s.contains('\n') && !s.contains('\r') => {}
                _ => {
                    return Err(format!(
                        "{}: a name that is not UTF-8 or holds a newline",
                        p.display()
                    ))
                }
            }
            let t = e.file_type().map_err(|e| format!("{}: {e}", p.display()))?;
            if t.is_dir() {
                stack.push(p);
            } else if !t.is_file() {
                return Err(format!(
                    "{}: a symlink or special file in a source copy",
                    p.display()
                ));
            }
        }
    }
    Ok(())
}

/// The work area `relsign publish` keeps inside a release directory (its journal and the
/// referrer blobs it generates): not part of the release, never published as a file of it,
/// and counted in a note rather than judged.
pub const PUBLISH_WORK_DIR: &str = ".relsign-publish";

/// Files of the release directory that no check bound (relative paths, sorted), and the
/// number of files under the publish work area.
fn unsigned_files(
    dir: &Path,
    covered: &BTreeSet<PathBuf>,
) -> Result<(Vec<String>, usize), VerifyError> {
    let mut work = 0;
    let mut extra = Vec::new();
    for p in crate::fsutil::files_below(dir)? {
        let Ok(rel) = p.strip_prefix(dir) else {
            continue;
        };
        if rel.starts_with(PUBLISH_WORK_DIR) {
            work += 1;
        } else if !covered.contains(rel) {
            extra.push(rel.to_string_lossy().into_owned());
        }
    }
    Ok((extra, work))
}

/// Every file of the release directory is bound by a check above; with `strict`, one that is
/// not refuses, else each gets a note. The publish work area is counted in a note.
pub(super) fn unsigned_check(
    dir: &Path,
    covered: &BTreeSet<PathBuf>,
    strict: bool,
    notes: &mut Vec<String>,
) -> Result<Check, VerifyError> {
    const CHECK: &str = "unsigned files";
    let (extra, work) = unsigned_files(dir, covered)?;
    if work > 0 {
        notes.push(format!(
            "{work} file(s) under {PUBLISH_WORK_DIR}/ (relsign publish's journal and \
             generated referrers; not part of the release) were not checked"
        ));
    }
    if extra.is_empty() {
        return Ok(Check::ok(
            CHECK,
            format!(
                "every file of {} is covered by a check above",
                dir.display()
            ),
        ));
    }
    if strict {
        return Ok(Check::refused(
            CHECK,
            format!(
                "{} file(s) of {} are covered by no signature: {}{}",
                extra.len(),
                dir.display(),
                extra
                    .iter()
                    .take(20)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
                if extra.len() > 20 { ", …" } else { "" }
            ),
        ));
    }
    for f in extra {
        notes.push(format!("{f}: covered by no signature (not verified)"));
    }
    Ok(Check::quiet(CHECK))
}
