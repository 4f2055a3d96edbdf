//! Writing a log directory: create it, append entries, find an entry, prove its inclusion.
//!
//! An append holds an exclusive lock (`.relsign-log.lock`), checks that the tiles on disk
//! reproduce the signed checkpoint, then writes the new full tiles, the new partial tiles
//! (`.p/<W>`: new file names, so no file the current checkpoint needs is ever replaced) and
//! entry bundles, each through temp file + fsync + rename, fsyncs the directories, recomputes
//! the root from what is now on disk, and only then writes the signed checkpoint the same
//! way. A kill at any point leaves the old checkpoint with all its tiles, or the new one with
//! all of its own; files written for an append that never got its checkpoint are overwritten
//! by the next one.

use super::checkpoint::{self, Checkpoint, Verified};
use super::merkle::{self, Frontier, Hash};
use super::note::{NoteKey, MAX_NOTE};
use super::proof::Proof;
use super::tiles::{self, Source, TileNodes, TILE_WIDTH};
use super::{refused, TlogError, CHECK_LOG};
use crate::fsutil;
use crate::keys::SecretKey;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub const LOCK_FILE: &str = ".relsign-log.lock";

/// Test hook: SIGKILL after this many files of an append are written, the checkpoint being
/// the last (`RELSIGN_TLOG_KILL_AFTER`).
fn kill_after() -> Option<usize> {
    std::env::var("RELSIGN_TLOG_KILL_AFTER")
        .ok()
        .and_then(|v| v.parse().ok())
}

/// Create an empty log: a checkpoint of size 0 signed by `key` under the name `origin`.
pub fn init(dir: &Path, origin: &str, key: &SecretKey) -> Result<Verified, TlogError> {
    let path = dir.join(tiles::CHECKPOINT);
    if path.exists() {
        return Err(TlogError::Usage(format!(
            "{} already exists: the log is there",
            path.display()
        )));
    }
    let nk = NoteKey::new(origin, key.public().clone()).map_err(TlogError::Usage)?;
    let cp = Checkpoint {
        origin: origin.to_string(),
        size: 0,
        root: merkle::empty_root(),
    };
    let note = cp.sign(key).map_err(TlogError::Usage)?;
    fsutil::write_atomic(&path, note.as_bytes())?;
    checkpoint::open(note.as_bytes(), &nk, &path.display().to_string())
}

/// The log's checkpoint, verified with `key` under the origin its first line names.
pub fn read_checkpoint(
    src: &Source,
    key: &crate::keys::PublicKey,
) -> Result<(NoteKey, Verified), TlogError> {
    let bytes = src.get(tiles::CHECKPOINT, MAX_NOTE as u64)?;
    let what = src.describe(tiles::CHECKPOINT);
    let origin = std::str::from_utf8(&bytes)
        .ok()
        .and_then(|s| s.split('\n').next())
        .unwrap_or_default()
        .to_string();
    let nk = NoteKey::new(&origin, key.clone())
        .map_err(|e| refused(CHECK_LOG, format!("{what}: origin: {e}")))?;
    let v = checkpoint::open(&bytes, &nk, &what)?;
    Ok((nk, v))
}

/// Check that the tiles reproduce the checkpoint's root; the tree's frontier.
pub fn check_tiles(src: &Source, cp: &Checkpoint) -> Result<Frontier, TlogError> {
    let mut nodes = TileNodes::new(src, cp.size);
    let f = Frontier::at(&mut nodes, cp.size)?;
    if f.root() != cp.root {
        return Err(refused(
            CHECK_LOG,
            format!(
                "{}: the hash tiles do not hash to the checkpoint's root (size {}): a tile was changed",
                src.describe("tile/"),
                cp.size
            ),
        ));
    }
    Ok(f)
}

struct Lock(#[allow(dead_code)] std::fs::File);

fn lock(dir: &Path) -> Result<Lock, TlogError> {
    let p = dir.join(LOCK_FILE);
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)
        .map_err(fsutil::err("open", &p))?;
    rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| fsutil::err("lock", &p)(e.into()))?;
    Ok(Lock(f))
}

/// The rightmost, not yet full, tile of each level and the partial entry bundle.
struct Edge {
    /// Hashes per level: counts[L] = hashes at level L; partial[L] = the last tile's hashes.
    counts: Vec<u64>,
    partial: Vec<Vec<Hash>>,
    bundle: Vec<Vec<u8>>,
    touched: BTreeSet<u32>,
}

impl Edge {
    fn read(src: &Source, size: u64) -> Result<Edge, TlogError> {
        let (mut counts, mut partial) = (Vec::new(), Vec::new());
        for level in 0..8u32 {
            let count = size >> (8 * level);
            let w = count % TILE_WIDTH;
            counts.push(count);
            partial.push(if w > 0 {
                tiles::read_tile(src, level, count / TILE_WIDTH, size)?
            } else {
                Vec::new()
            });
        }
        let bundle = if size % TILE_WIDTH > 0 {
            tiles::read_bundle(src, size / TILE_WIDTH, size)?
        } else {
            Vec::new()
        };
        let leaves: Vec<Hash> = bundle.iter().map(|e| merkle::leaf_hash(e)).collect();
        if leaves != partial[0] {
            return Err(refused(
                CHECK_LOG,
                format!(
                    "{}: the entries do not hash to the level-0 tile",
                    src.describe(&tiles::bundle_path(size / TILE_WIDTH, size % TILE_WIDTH))
                ),
            ));
        }
        Ok(Edge {
            counts,
            partial,
            bundle,
            touched: BTreeSet::new(),
        })
    }

    /// Add a hash at `level`; a tile that fills up is written out and hashed into the level above.
    fn push(&mut self, level: u32, h: Hash, out: &mut BTreeMap<String, Vec<u8>>) {
        let l = level as usize;
        self.partial[l].push(h);
        self.counts[l] += 1;
        self.touched.insert(level);
        if self.partial[l].len() as u64 == TILE_WIDTH {
            let index = (self.counts[l] - 1) / TILE_WIDTH;
            out.insert(
                tiles::tile_path(level, index, TILE_WIDTH),
                self.partial[l].concat(),
            );
            let up = tiles::subtree(&self.partial[l]);
            self.partial[l].clear();
            self.push(level + 1, up, out);
        }
    }

    fn add(&mut self, entry: &[u8], out: &mut BTreeMap<String, Vec<u8>>) {
        self.bundle.push(entry.to_vec());
        if self.bundle.len() as u64 == TILE_WIDTH {
            let index = self.counts[0] / TILE_WIDTH;
            out.insert(
                tiles::bundle_path(index, TILE_WIDTH),
                tiles::encode_bundle(&self.bundle),
            );
            self.bundle.clear();
        }
        self.push(0, merkle::leaf_hash(entry), out);
    }

    /// The partial tiles and bundle of the levels this append changed.
    fn finish(self, out: &mut BTreeMap<String, Vec<u8>>) {
        for level in &self.touched {
            let l = *level as usize;
            let w = self.partial[l].len() as u64;
            if w > 0 {
                out.insert(
                    tiles::tile_path(*level, self.counts[l] / TILE_WIDTH, w),
                    self.partial[l].concat(),
                );
            }
        }
        let w = self.bundle.len() as u64;
        if w > 0 && self.touched.contains(&0) {
            out.insert(
                tiles::bundle_path(self.counts[0] / TILE_WIDTH, w),
                tiles::encode_bundle(&self.bundle),
            );
        }
    }
}

/// What an append did.
#[derive(Debug, Clone)]
pub struct Appended {
    /// The index of the first entry appended.
    pub first: u64,
    pub checkpoint: Verified,
    pub files_written: usize,
}

/// Append `entries` to the log in `dir`, signed by `key`.
pub fn append(dir: &Path, key: &SecretKey, entries: &[Vec<u8>]) -> Result<Appended, TlogError> {
    let _lock = lock(dir)?;
    let src = Source::Dir(dir.to_path_buf());
    let (nk, old) = read_checkpoint(&src, key.public())?;
    let mut frontier = check_tiles(&src, &old.checkpoint)?;
    let size = old.checkpoint.size;
    let mut edge = Edge::read(&src, size)?;
    let mut files = BTreeMap::new();
    for e in entries {
        if e.len() > tiles::MAX_ENTRY {
            return Err(TlogError::Usage(format!(
                "an entry of {} bytes is too large",
                e.len()
            )));
        }
        frontier.push(merkle::leaf_hash(e));
        edge.add(e, &mut files);
    }
    edge.finish(&mut files);
    let kill = kill_after();
    let mut dirs = BTreeSet::new();
    for (n, (path, bytes)) in files.iter().enumerate() {
        let p = dir.join(path);
        fsutil::write_atomic(&p, bytes)?;
        let mut d: PathBuf = fsutil::parent_dir(&p).to_path_buf();
        while d.starts_with(dir) && d != dir {
            dirs.insert(d.clone());
            d = fsutil::parent_dir(&d).to_path_buf();
        }
        if kill == Some(n + 1) {
            crate::kill_self();
        }
    }
    for d in dirs.iter().rev().chain(std::iter::once(&dir.to_path_buf())) {
        fsutil::sync_dir(d)?;
    }
    let cp = Checkpoint {
        origin: nk.name.clone(),
        size: frontier.size(),
        root: frontier.root(),
    };
    // What is on disk now must give the root about to be signed.
    check_tiles(&src, &cp)?;
    let note = cp.sign(key).map_err(TlogError::Usage)?;
    let path = dir.join(tiles::CHECKPOINT);
    fsutil::write_atomic(&path, note.as_bytes())?;
    if kill == Some(files.len() + 1) {
        crate::kill_self();
    }
    Ok(Appended {
        first: size,
        checkpoint: checkpoint::open(note.as_bytes(), &nk, &path.display().to_string())?,
        files_written: files.len() + 1,
    })
}

/// The index of `entry` in the first `size` entries of the log, if it is there.
pub fn find(src: &Source, size: u64, entry: &[u8]) -> Result<Option<u64>, TlogError> {
    for b in 0..size.div_ceil(TILE_WIDTH) {
        let bundle = tiles::read_bundle(src, b, size)?;
        if let Some(i) = bundle.iter().position(|e| e == entry) {
            return Ok(Some(b * TILE_WIDTH + i as u64));
        }
    }
    Ok(None)
}

/// The inclusion proof of entry `index` under the checkpoint `cp` (its tiles from `src`).
pub fn prove(src: &Source, index: u64, cp: &Verified) -> Result<Proof, TlogError> {
    let mut nodes = TileNodes::new(src, cp.checkpoint.size);
    Ok(Proof {
        index,
        hashes: merkle::inclusion_proof(&mut nodes, index, cp.checkpoint.size)?,
        checkpoint: cp.note.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_prove_and_every_tile_as_the_definition_says() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let key = SecretKey::generate().unwrap();
        init(d, "relsign.test/log", &key).unwrap();
        let entries: Vec<Vec<u8>> = (0..600)
            .map(|i| format!("entry {i}\n").into_bytes())
            .collect();
        let leaves: Vec<Hash> = entries.iter().map(|e| merkle::leaf_hash(e)).collect();
        // Appends of various sizes, crossing tile boundaries.
        let mut at = 0;
        for n in [1, 2, 253, 1, 300, 43] {
            let a = append(d, &key, &entries[at..at + n]).unwrap();
            assert_eq!(a.first, at as u64);
            at += n;
            let cp = &a.checkpoint.checkpoint;
            assert_eq!(cp.size, at as u64);
            assert_eq!(cp.root, merkle::tests::mth(&leaves[..at]));
            let src = Source::Dir(d.to_path_buf());
            for i in [0, at as u64 / 2, at as u64 - 1] {
                let p = prove(&src, i, &a.checkpoint).unwrap();
                let nk = NoteKey::new("relsign.test/log", key.public().clone()).unwrap();
                let (_, v) = super::super::proof::verify(
                    p.encode().as_bytes(),
                    &entries[i as usize],
                    &nk,
                    "t",
                )
                .unwrap();
                assert_eq!(v.checkpoint, *cp);
            }
            assert_eq!(
                find(&src, cp.size, &entries[at - 1]).unwrap(),
                Some(at as u64 - 1)
            );
        }
        // The full level-0 tile 1 holds leaves 256..512; level 1's partial tile the hashes of
        // the two full level-0 tiles.
        let t = std::fs::read(d.join("tile/0/001")).unwrap();
        assert_eq!(t, leaves[256..512].concat());
        let t1 = std::fs::read(d.join("tile/1/000.p/2")).unwrap();
        let want = [
            merkle::tests::mth(&leaves[..256]),
            merkle::tests::mth(&leaves[256..512]),
        ]
        .concat();
        assert_eq!(t1, want);
        let b = std::fs::read(d.join("tile/entries/002.p/88")).unwrap();
        assert_eq!(b, tiles::encode_bundle(&entries[512..600]));
        // A flipped byte in a tile is noticed before anything is appended.
        let p = d.join("tile/0/002.p/88");
        let mut bytes = std::fs::read(&p).unwrap();
        bytes[40] ^= 1;
        std::fs::write(&p, bytes).unwrap();
        let e = append(d, &key, &entries[..1]).unwrap_err();
        assert!(e.is_refusal(), "{e}");
    }
}
