//! The content-addressed input store: `<root>/sha256/<ab>/<digest>`.
//!
//! Writes hash while streaming into a temp file, fsync it, and rename it into place only when
//! the digest (and size, when known) match. Every read re-verifies the digest, so a corrupted or
//! tampered entry is caught at use, not trusted.

use crate::digest::{HashingWriter, Sha256Hex};
use crate::fsutil::{self, FsError};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what} (sha256:{digest}) is not in the store {store}; run `relsign fetch` first")]
    Missing {
        what: String,
        digest: Sha256Hex,
        store: PathBuf,
    },
    #[error("digest mismatch for {what}: expected={expected}, got={got}; nothing was stored")]
    Mismatch {
        what: String,
        expected: Sha256Hex,
        got: Sha256Hex,
    },
    #[error(
        "size mismatch for {what}: expected={expected} bytes, got={got} bytes; nothing was stored"
    )]
    SizeMismatch {
        what: String,
        expected: u64,
        got: u64,
    },
    #[error("store entry {path} is corrupt: expected={expected}, got={got}; it was removed, run `relsign fetch` again")]
    Corrupt {
        path: PathBuf,
        expected: Sha256Hex,
        got: Sha256Hex,
    },
    #[error("reading {what}: {source}")]
    Read {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("cannot find a cache directory: set RELSIGN_STORE or HOME")]
    NoCacheDir,
}

impl StoreError {
    /// True for integrity failures (exit code 1) as opposed to other errors.
    pub fn is_integrity(&self) -> bool {
        matches!(
            self,
            StoreError::Mismatch { .. }
                | StoreError::SizeMismatch { .. }
                | StoreError::Corrupt { .. }
        )
    }
}

#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Where `relsign fetch` keeps a bare clone of a git source (inside the store's root).
    pub fn git_cache_dir(&self, url: &str) -> PathBuf {
        self.root()
            .join("git")
            .join(crate::digest::Sha256Hex::of(url.as_bytes()).as_str())
    }

    pub fn at(root: impl Into<PathBuf>) -> Self {
        Store { root: root.into() }
    }

    /// `RELSIGN_STORE`, else `$XDG_CACHE_HOME/relsign/store`, else `~/.cache/relsign/store`.
    pub fn default_location() -> Result<PathBuf, StoreError> {
        if let Some(p) = std::env::var_os("RELSIGN_STORE").filter(|p| !p.is_empty()) {
            return Ok(PathBuf::from(p));
        }
        if let Some(p) = std::env::var_os("XDG_CACHE_HOME").filter(|p| !p.is_empty()) {
            return Ok(PathBuf::from(p).join("relsign/store"));
        }
        match std::env::var_os("HOME").filter(|p| !p.is_empty()) {
            Some(h) => Ok(PathBuf::from(h).join(".cache/relsign/store")),
            None => Err(StoreError::NoCacheDir),
        }
    }

    pub fn open_default() -> Result<Self, StoreError> {
        Ok(Store::at(Self::default_location()?))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn path_for(&self, d: &Sha256Hex) -> PathBuf {
        self.root
            .join("sha256")
            .join(&d.as_str()[..2])
            .join(d.as_str())
    }

    /// True when the entry exists and its content hashes to `d`. A corrupt entry is removed.
    pub fn has_verified(&self, d: &Sha256Hex) -> Result<bool, StoreError> {
        match self.get(d, "entry") {
            Ok(_) => Ok(true),
            Err(StoreError::Missing { .. }) | Err(StoreError::Corrupt { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The path of a verified entry. `what` names the input in errors (a file name).
    /// The digest is recomputed on every call.
    pub fn get(&self, d: &Sha256Hex, what: &str) -> Result<PathBuf, StoreError> {
        let p = self.path_for(d);
        if !p.is_file() {
            return Err(StoreError::Missing {
                what: what.to_string(),
                digest: d.clone(),
                store: self.root.clone(),
            });
        }
        let (got, _) = crate::digest::hash_file(&p).map_err(fsutil::err("read", &p))?;
        if &got != d {
            let _ = std::fs::remove_file(&p);
            return Err(StoreError::Corrupt {
                path: p,
                expected: d.clone(),
                got,
            });
        }
        Ok(p)
    }

    /// Stream `reader` into the store. The entry appears only if the digest (and size, when
    /// given) match `expected`; otherwise nothing is left behind. Returns the digest and size.
    pub fn insert(
        &self,
        what: &str,
        expected: Option<&Sha256Hex>,
        expected_size: Option<u64>,
        reader: &mut dyn Read,
    ) -> Result<(Sha256Hex, u64), StoreError> {
        let tmpdir = self.root.join("tmp");
        fsutil::create_dir_all(&tmpdir)?;
        let mut tmp = tempfile::Builder::new()
            .prefix("incoming-")
            .tempfile_in(&tmpdir)
            .map_err(fsutil::err("create temp file in", &tmpdir))?;
        let mut w = HashingWriter::new(io::BufWriter::new(tmp.as_file_mut()));
        // With a pinned size, a source that streams more is cut one byte past it (and then
        // refused below): a hostile mirror cannot fill the disk.
        let cap = expected_size.map_or(u64::MAX, |n| n.saturating_add(1));
        io::copy(&mut reader.take(cap), &mut w).map_err(|source| StoreError::Read {
            what: what.to_string(),
            source,
        })?;
        let (mut inner, got, len) = w.finish();
        inner.flush().map_err(|source| FsError {
            op: "write",
            path: tmpdir.clone(),
            source,
        })?;
        drop(inner);
        if let Some(exp) = expected {
            if exp != &got {
                return Err(StoreError::Mismatch {
                    what: what.to_string(),
                    expected: exp.clone(),
                    got,
                });
            }
        }
        if let Some(exp) = expected_size {
            if exp != len {
                return Err(StoreError::SizeMismatch {
                    what: what.to_string(),
                    expected: exp,
                    got: len,
                });
            }
        }
        tmp.as_file()
            .sync_all()
            .map_err(fsutil::err("fsync", tmp.path()))?;
        let dest = self.path_for(&got);
        let dir = fsutil::parent_dir(&dest).to_path_buf();
        fsutil::create_dir_all(&dir)?;
        tmp.persist(&dest).map_err(|e| FsError {
            op: "rename into",
            path: dest.clone(),
            source: e.error,
        })?;
        fsutil::sync_dir(&dir)?;
        Ok((got, len))
    }

    /// Insert a local file (for example a vendored sdist) under its digest.
    pub fn insert_file(
        &self,
        path: &Path,
        expected: Option<&Sha256Hex>,
    ) -> Result<(Sha256Hex, u64), StoreError> {
        let mut f = std::fs::File::open(path).map_err(fsutil::err("open", path))?;
        self.insert(&path.display().to_string(), expected, None, &mut f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_then_get_and_mismatch_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path());
        let d = Sha256Hex::of(b"hello");
        let (got, n) = store
            .insert("hello.txt", Some(&d), Some(5), &mut &b"hello"[..])
            .unwrap();
        assert_eq!((got.clone(), n), (d.clone(), 5));
        assert!(store.get(&d, "hello.txt").unwrap().is_file());

        let wrong = Sha256Hex::of(b"other");
        let e = store
            .insert("x.whl", Some(&wrong), None, &mut &b"tampered"[..])
            .unwrap_err();
        assert!(e.to_string().contains("expected="), "{e}");
        assert!(e.is_integrity());
        assert!(!store.path_for(&wrong).exists());
        assert!(!store.path_for(&Sha256Hex::of(b"tampered")).exists());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("tmp")).unwrap().collect();
        assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
    }

    #[test]
    fn corrupt_entry_is_detected_on_use() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path());
        let (d, _) = store.insert("a", None, None, &mut &b"abc"[..]).unwrap();
        std::fs::write(store.path_for(&d), b"abd").unwrap();
        let e = store.get(&d, "a").unwrap_err();
        assert!(matches!(e, StoreError::Corrupt { .. }), "{e}");
        assert!(matches!(
            store.get(&d, "a").unwrap_err(),
            StoreError::Missing { .. }
        ));
    }
}
