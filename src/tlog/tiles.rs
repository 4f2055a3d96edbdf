//! C2SP tlog-tiles: the paths of the checkpoint, hash tiles and entry bundles; reading them
//! from a log directory or URL with limits; and the tree's node hashes computed from tiles.
//!
//! A tile at level L, index N holds up to 256 hashes at tree height 8·L: full tiles are
//! `tile/<L>/<N>` (8,192 bytes), the rightmost ones `tile/<L>/<N>.p/<W>` (W hashes). N is
//! written in 3-digit groups, all but the last prefixed with `x` (`x001/x234/067`).

use super::merkle::{self, Hash, Nodes};
use super::{refused, TlogError, CHECK_LOG};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

pub const TILE_WIDTH: u64 = 256;
pub const CHECKPOINT: &str = "checkpoint";
/// The largest entry accepted in an entry bundle (the format's uint16 length).
pub const MAX_ENTRY: usize = u16::MAX as usize;

/// `x001/x234/067` for 1234067.
pub fn encode_index(mut n: u64) -> String {
    let mut parts = vec![format!("{:03}", n % 1000)];
    n /= 1000;
    while n > 0 {
        parts.push(format!("x{:03}", n % 1000));
        n /= 1000;
    }
    parts.reverse();
    parts.join("/")
}

fn with_width(base: String, width: u64) -> String {
    if width == TILE_WIDTH {
        base
    } else {
        format!("{base}.p/{width}")
    }
}

/// The path of hash tile (level, index) of the given width (256: a full tile).
pub fn tile_path(level: u32, index: u64, width: u64) -> String {
    with_width(format!("tile/{level}/{}", encode_index(index)), width)
}

/// The path of entry bundle `index` of the given width.
pub fn bundle_path(index: u64, width: u64) -> String {
    with_width(format!("tile/entries/{}", encode_index(index)), width)
}

/// The width of tile (level, index) in the tree of `size` leaves (0: it does not exist).
pub fn tile_width(level: u32, index: u64, size: u64) -> u64 {
    let count = if 8 * level >= 64 {
        0
    } else {
        size >> (8 * level)
    };
    count.saturating_sub(index * TILE_WIDTH).min(TILE_WIDTH)
}

/// Where a log's files come from: a directory, or a URL prefix (http, https, file).
pub enum Source {
    Dir(PathBuf),
    Url(String, crate::fetch::Http),
}

impl Source {
    pub fn new(location: &str) -> Result<Source, TlogError> {
        if let Some(p) = location.strip_prefix("file://") {
            return Ok(Source::Dir(PathBuf::from(p)));
        }
        if location.starts_with("http://") || location.starts_with("https://") {
            let http = crate::fetch::Http::new().map_err(|e| TlogError::Fetch(e.to_string()))?;
            return Ok(Source::Url(
                location.trim_end_matches('/').to_string(),
                http,
            ));
        }
        Ok(Source::Dir(PathBuf::from(location)))
    }

    pub fn describe(&self, path: &str) -> String {
        match self {
            Source::Dir(d) => d.join(path).display().to_string(),
            Source::Url(u, _) => format!("{}/{path}", crate::fetch::redact(u)),
        }
    }

    /// The bytes at `path`, at most `limit` of them (more is a refusal naming the file).
    pub fn get(&self, path: &str, limit: u64) -> Result<Vec<u8>, TlogError> {
        let what = self.describe(path);
        let reader: Box<dyn Read> = match self {
            Source::Dir(d) => Box::new(crate::fsutil::open_regular(&d.join(path))?),
            Source::Url(u, http) => http
                .open(&format!("{u}/{path}"))
                .map(|r| Box::new(r) as Box<dyn Read>)
                .map_err(|e| TlogError::Fetch(format!("{what}: {e}")))?,
        };
        let mut v = Vec::new();
        reader
            .take(limit + 1)
            .read_to_end(&mut v)
            .map_err(|e| TlogError::Fetch(format!("{what}: {e}")))?;
        if v.len() as u64 > limit {
            return Err(refused(
                CHECK_LOG,
                format!("{what}: over the limit of {limit} bytes for this file"),
            ));
        }
        Ok(v)
    }

    pub fn dir(&self) -> Option<&Path> {
        match self {
            Source::Dir(d) => Some(d),
            Source::Url(..) => None,
        }
    }
}

/// Hash tile (level, index) of the tree of `size` leaves, checked to hold exactly its width.
pub fn read_tile(src: &Source, level: u32, index: u64, size: u64) -> Result<Vec<Hash>, TlogError> {
    let width = tile_width(level, index, size);
    if width == 0 {
        return Err(TlogError::Usage(format!(
            "tile {level}/{index} is not part of a tree of {size} leaves"
        )));
    }
    let path = tile_path(level, index, width);
    let bytes = src.get(&path, width * 32)?;
    if bytes.len() as u64 != width * 32 {
        return Err(refused(
            CHECK_LOG,
            format!(
                "{}: {} bytes, a tile of {width} hashes has {}",
                src.describe(&path),
                bytes.len(),
                width * 32
            ),
        ));
    }
    Ok(bytes
        .chunks_exact(32)
        .map(|c| c.try_into().expect("32 bytes"))
        .collect())
}

/// Entry bundle `index` of the tree of `size` leaves: exactly its width of uint16
/// length-prefixed entries, nothing after them.
pub fn read_bundle(src: &Source, index: u64, size: u64) -> Result<Vec<Vec<u8>>, TlogError> {
    let width = tile_width(0, index, size);
    let path = bundle_path(index, width);
    let bytes = src.get(&path, width * (2 + MAX_ENTRY as u64))?;
    let what = src.describe(&path);
    let mut out = Vec::with_capacity(width as usize);
    let mut rest = &bytes[..];
    while !rest.is_empty() {
        if rest.len() < 2 {
            return Err(refused(
                CHECK_LOG,
                format!("{what}: a truncated entry length"),
            ));
        }
        let n = u16::from_be_bytes([rest[0], rest[1]]) as usize;
        if rest.len() < 2 + n {
            return Err(refused(
                CHECK_LOG,
                format!(
                    "{what}: entry {} is truncated ({n} bytes announced)",
                    out.len()
                ),
            ));
        }
        out.push(rest[2..2 + n].to_vec());
        rest = &rest[2 + n..];
    }
    if out.len() as u64 != width {
        return Err(refused(
            CHECK_LOG,
            format!("{what}: {} entries, expected {width}", out.len()),
        ));
    }
    Ok(out)
}

/// Encode entries as an entry bundle.
pub fn encode_bundle(entries: &[Vec<u8>]) -> Vec<u8> {
    let mut v = Vec::new();
    for e in entries {
        assert!(e.len() <= MAX_ENTRY, "entry of {} bytes", e.len());
        v.extend_from_slice(&(e.len() as u16).to_be_bytes());
        v.extend_from_slice(e);
    }
    v
}

/// The tree's node hashes read from the tiles of the tree of `size` leaves (each tile read
/// once). Untrusted: whatever they give must be checked against a signed root.
pub struct TileNodes<'a> {
    src: &'a Source,
    size: u64,
    cache: HashMap<(u32, u64), Vec<Hash>>,
}

impl<'a> TileNodes<'a> {
    pub fn new(src: &'a Source, size: u64) -> TileNodes<'a> {
        TileNodes {
            src,
            size,
            cache: HashMap::new(),
        }
    }
}

impl TileNodes<'_> {
    /// Tile (level, index), read once.
    pub fn tile(&mut self, level: u32, index: u64) -> Result<&[Hash], TlogError> {
        if !self.cache.contains_key(&(level, index)) {
            let t = read_tile(self.src, level, index, self.size)?;
            self.cache.insert((level, index), t);
        }
        Ok(&self.cache[&(level, index)])
    }
}

impl Nodes for TileNodes<'_> {
    fn node(&mut self, height: u32, index: u64) -> Result<Hash, TlogError> {
        let (level, sub) = (height / 8, height % 8);
        let first = index << sub;
        let count = 1u64 << sub;
        let (tile, off) = (first / TILE_WIDTH, first % TILE_WIDTH);
        let size = self.size;
        let t = self.tile(level, tile)?;
        let hashes = t.get(off as usize..(off + count) as usize).ok_or_else(|| {
            TlogError::Usage(format!(
                "node {height}/{index} is not in the tree of {size} leaves"
            ))
        })?;
        Ok(subtree(hashes))
    }
}

/// The hash of a full subtree whose leaves (a power of two of them) are `hashes`.
pub fn subtree(hashes: &[Hash]) -> Hash {
    let mut level: Vec<Hash> = hashes.to_vec();
    while level.len() > 1 {
        level = level
            .chunks_exact(2)
            .map(|p| merkle::node_hash(&p[0], &p[1]))
            .collect();
    }
    level[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_as_the_spec_writes_them() {
        assert_eq!(encode_index(1234067), "x001/x234/067");
        assert_eq!(encode_index(0), "000");
        assert_eq!(encode_index(1000), "x001/000");
        assert_eq!(tile_path(0, 5, 256), "tile/0/005");
        assert_eq!(tile_path(1, 0, 17), "tile/1/000.p/17");
        assert_eq!(bundle_path(2, 3), "tile/entries/002.p/3");
        // The spec's example: a tree of 70,000 leaves.
        assert_eq!(tile_width(0, 273, 70_000), 112);
        assert_eq!(tile_width(0, 272, 70_000), 256);
        assert_eq!(tile_width(1, 1, 70_000), 17);
        assert_eq!(tile_width(2, 0, 70_000), 1);
        assert_eq!(tile_width(1, 0, 256), 1);
        assert_eq!(tile_width(0, 1, 256), 0);
    }
}
