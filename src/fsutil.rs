//! File-system helpers whose errors carry the path, and atomic writes
//! (temp file in the same directory, fsync, rename, fsync of the directory).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// An I/O error with the path and the operation that failed.
#[derive(Debug, thiserror::Error)]
#[error("{op} {path}: {source}")]
pub struct FsError {
    pub op: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

pub fn err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> FsError {
    let path = path.to_path_buf();
    move |source| FsError { op, path, source }
}

/// A new private work directory, for trees of many files (root filesystems, image layers).
///
/// It is made in `$TMPDIR/relsign-<uid>`: a directory of this user's (mode 0700; when it is
/// anything else, `$TMPDIR` itself is used) marked, where the filesystem allows, to spread its
/// subdirectories over the block groups (ext4's `chattr +T`). On ext4 without a journal a new
/// inode skips, one by one, every free inode of its group deleted in the last minute or more,
/// and every work directory made in `$TMPDIR` lands in the groups near it: a build right after
/// another (whose trees were just removed) spent up to a second of its image step there.
pub fn work_dir(prefix: &str) -> Result<tempfile::TempDir, FsError> {
    let tmp = std::env::temp_dir();
    let parent = spread_parent(&tmp).unwrap_or(tmp);
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(&parent)
        .map_err(err("create a work directory in", &parent))
}

/// `<tmp>/relsign-<uid>`, made or checked (a directory, ours, private) and marked TOPDIR
/// (best effort); None when it cannot be used.
fn spread_parent(tmp: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let uid = rustix::process::getuid().as_raw();
    let p = tmp.join(format!("relsign-{uid}"));
    match std::fs::DirBuilder::new().mode(0o700).create(&p) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(_) => return None,
    }
    let md = std::fs::symlink_metadata(&p).ok()?;
    if !md.is_dir() || md.uid() != uid || md.mode() & 0o077 != 0 {
        return None;
    }
    if let Ok(d) = std::fs::File::open(&p) {
        use rustix::fs::{ioctl_getflags, ioctl_setflags, IFlags};
        if let Ok(f) = ioctl_getflags(&d) {
            if !f.contains(IFlags::TOPDIR) {
                let _ = ioctl_setflags(&d, f | IFlags::TOPDIR);
            }
        }
    }
    Some(p)
}

pub fn read(path: &Path) -> Result<Vec<u8>, FsError> {
    std::fs::read(path).map_err(err("read", path))
}

pub fn read_to_string(path: &Path) -> Result<String, FsError> {
    std::fs::read_to_string(path).map_err(err("read", path))
}

pub fn create_dir_all(path: &Path) -> Result<(), FsError> {
    std::fs::create_dir_all(path).map_err(err("create directory", path))
}

/// Write `bytes` to `path` atomically: a temp file beside it, fsync, rename, fsync the directory.
/// Readers see either the old file or the whole new one, never a half-written one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FsError> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Like [`write_atomic`], with a closure that streams the content.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), FsError> {
    let dir = parent_dir(path);
    create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".relsign-tmp-")
        .tempfile_in(dir)
        .map_err(err("create temp file in", dir))?;
    {
        let mut w = io::BufWriter::new(tmp.as_file_mut());
        fill(&mut w).map_err(err("write", path))?;
        w.flush().map_err(err("write", path))?;
    }
    // Temp files are created 0600; what relsign writes this way is meant to be read (release
    // metadata, SBOMs, attestations, public keys), so give it the usual 0644.
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(err("chmod", path))?;
    }
    tmp.as_file().sync_all().map_err(err("fsync", path))?;
    tmp.persist(path).map_err(|e| FsError {
        op: "rename into",
        path: path.to_path_buf(),
        source: e.error,
    })?;
    sync_dir(dir)
}

/// Fsync a directory so that a rename inside it is durable.
pub fn sync_dir(dir: &Path) -> Result<(), FsError> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(err("fsync directory", dir))
}

pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Recursively copy a directory tree (regular files, directories, symlinks), in sorted order.
/// Every non-directory path under `root` (symlinks included, not followed), sorted.
pub fn files_below(root: &Path) -> Result<Vec<PathBuf>, FsError> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).map_err(err("read directory", &d))? {
            let e = e.map_err(err("read directory", &d))?;
            let t = e.file_type().map_err(err("stat", &e.path()))?;
            if t.is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

pub fn copy_tree(from: &Path, to: &Path) -> Result<(), FsError> {
    create_dir_all(to)?;
    let mut entries: Vec<_> = std::fs::read_dir(from)
        .map_err(err("read directory", from))?
        .collect::<Result<_, _>>()
        .map_err(err("read directory", from))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let src = e.path();
        let dst = to.join(e.file_name());
        let ft = e.file_type().map_err(err("stat", &src))?;
        if ft.is_dir() {
            copy_tree(&src, &dst)?;
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&src).map_err(err("read link", &src))?;
            std::os::unix::fs::symlink(&target, &dst).map_err(err("create symlink", &dst))?;
        } else if ft.is_file() {
            std::fs::copy(&src, &dst).map_err(err("copy to", &dst))?;
        }
    }
    Ok(())
}

/// Every non-directory entry (files, symlinks, others) below `dir`, not following symlinks,
/// appended to `out` in sorted order.
pub fn walk_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<(), FsError> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(err("read directory", dir))?
        .collect::<Result<_, _>>()
        .map_err(err("read directory", dir))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        if e.file_type().map_err(err("stat", &p))?.is_dir() {
            walk_files(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}

/// Set the access and modification times of `dir` and everything below it (symlinks
/// themselves, not what they point to) to `epoch`, as an image layer records them.
pub fn set_tree_times(dir: &Path, epoch: u64) -> Result<usize, FsError> {
    use rustix::fs::{utimensat, AtFlags, Timespec, Timestamps, CWD};
    let t = Timespec {
        tv_sec: epoch as i64,
        tv_nsec: 0,
    };
    let times = Timestamps {
        last_access: t,
        last_modification: t,
    };
    let mut stack = vec![dir.to_path_buf()];
    let mut n = 0;
    while let Some(p) = stack.pop() {
        let meta = p.symlink_metadata().map_err(err("stat", &p))?;
        if meta.is_dir() {
            for e in std::fs::read_dir(&p).map_err(err("read directory", &p))? {
                stack.push(e.map_err(err("read directory", &p))?.path());
            }
        }
        utimensat(CWD, &p, &times, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| err("set times of", &p)(e.into()))?;
        n += 1;
    }
    Ok(n)
}

/// An absolute path inside an image (`/etc/x`) as the relative path below its root
/// (`etc/x`); `None` when it is not absolute, is `/` itself, or has a `.`, `..` or empty
/// component (which `Path` would silently normalize).
pub fn plain_image_path(p: &str) -> Option<PathBuf> {
    let rel = p.strip_prefix('/')?;
    if rel.is_empty()
        || rel
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return None;
    }
    Some(PathBuf::from(rel))
}

/// `s` as a path that stays below the directory it is joined to: relative, with no `..`, `.`
/// or root component. `None` otherwise (a name taken from a file must not reach outside).
pub fn relative_path(s: &str) -> Option<PathBuf> {
    let p = Path::new(s);
    (!s.is_empty()
        && p.components()
            .all(|c| matches!(c, std::path::Component::Normal(_))))
    .then(|| p.to_path_buf())
}

/// Open `path` for reading only if it is a regular file: no symlink is followed (O_NOFOLLOW)
/// and a FIFO or device never blocks the open (O_NONBLOCK) and is refused. For files named by
/// untrusted input (a release directory), where a symlink to `/dev/zero` or a FIFO would
/// otherwise hang or exhaust the reader.
pub fn open_regular(path: &Path) -> Result<std::fs::File, FsError> {
    use std::os::unix::fs::OpenOptionsExt;
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)
        .map_err(|e| {
            let e = if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
                io::Error::new(io::ErrorKind::InvalidData, "a symlink, not a regular file")
            } else {
                e
            };
            FsError {
                op: "open",
                path: path.to_path_buf(),
                source: e,
            }
        })?;
    let meta = f.metadata().map_err(err("stat", path))?;
    if !meta.is_file() {
        return Err(FsError {
            op: "open",
            path: path.to_path_buf(),
            source: io::Error::new(io::ErrorKind::InvalidData, "not a regular file"),
        });
    }
    Ok(f)
}

/// The SHA-256 and size of a regular file opened with [`open_regular`].
pub fn hash_regular(path: &Path) -> Result<(crate::digest::Sha256Hex, u64), FsError> {
    let mut f = open_regular(path)?;
    let mut w = crate::digest::HashingWriter::new(io::sink());
    io::copy(&mut f, &mut w).map_err(err("read", path))?;
    let (_, d, n) = w.finish();
    Ok((d, n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn the_spread_parent_is_private_and_ours_or_not_used() {
        let t = tempfile::tempdir().unwrap();
        let uid = rustix::process::getuid().as_raw();
        let want = t.path().join(format!("relsign-{uid}"));
        // Made, private.
        assert_eq!(spread_parent(t.path()), Some(want.clone()));
        let md = std::fs::symlink_metadata(&want).unwrap();
        assert!(md.is_dir() && md.mode() & 0o777 == 0o700, "{:o}", md.mode());
        // Open to others: not used.
        std::fs::set_permissions(&want, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(spread_parent(t.path()), None);
        std::fs::remove_dir(&want).unwrap();
        // A symlink to a private directory: not used.
        let elsewhere = t.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &want).unwrap();
        assert_eq!(spread_parent(t.path()), None);
        std::fs::remove_file(&want).unwrap();
        // A file: not used.
        std::fs::write(&want, b"").unwrap();
        assert_eq!(spread_parent(t.path()), None);
    }
}
