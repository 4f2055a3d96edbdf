//! Layers: a host directory tree written as a normalized tar (see `archive::tarw`), compressed
//! with gzip (`archive::pgzip`: parallel blocks, the same bytes on any number of cores) or zstd (level 19, one thread),
//! streamed straight into the layout; the uncompressed stream is hashed on the way for the
//! config's `diff_ids`.

use super::{Descriptor, Layout, OciError, MEDIA_LAYER_GZIP, MEDIA_LAYER_ZSTD};
use crate::archive::tarw::{gzip_writer, Kind, TarWriter};
use crate::digest::HashingWriter;
use crate::fsutil;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
}

impl Compression {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "gzip" => Some(Compression::Gzip),
            "zstd" => Some(Compression::Zstd),
            _ => None,
        }
    }
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::Gzip => MEDIA_LAYER_GZIP,
            Compression::Zstd => MEDIA_LAYER_ZSTD,
        }
    }
    /// What the provenance records about the compressor.
    pub fn describe(self) -> String {
        match self {
            Compression::Gzip => crate::archive::GZIP_IMPL.to_string(),
            Compression::Zstd => format!(
                "zstd (libzstd {}) level 19, single-threaded",
                zstd::zstd_safe::version_number()
            ),
        }
    }
}

/// A written layer: its blob descriptor and the digest of its uncompressed tar.
pub struct WrittenLayer {
    pub descriptor: Descriptor,
    pub diff_id: String,
    pub entries: usize,
}

/// One entry of a tree, as it goes into the tar.
struct Entry {
    path: String,
    kind: Kind,
    mode: u32,
    size: u64,
}

/// Every entry under `root`, with paths relative to it, sorted bytewise.
fn collect(root: &Path) -> Result<Vec<Entry>, OciError> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<Entry>) -> Result<(), OciError> {
        for e in std::fs::read_dir(dir).map_err(fsutil::err("read directory", dir))? {
            let e = e.map_err(fsutil::err("read directory", dir))?;
            let p = e.path();
            let meta = p.symlink_metadata().map_err(fsutil::err("stat", &p))?;
            let rel = p.strip_prefix(root).unwrap_or(&p);
            let rel = rel
                .to_str()
                .ok_or_else(|| OciError::Layout {
                    layout: root.to_path_buf(),
                    reason: format!("non-UTF-8 path {}", p.display()),
                })?
                .to_string();
            let mode = meta.permissions().mode() & 0o7777;
            let ft = meta.file_type();
            if ft.is_dir() {
                out.push(Entry {
                    path: rel,
                    kind: Kind::Dir,
                    mode,
                    size: 0,
                });
                walk(root, &p, out)?;
            } else if ft.is_symlink() {
                let t = std::fs::read_link(&p).map_err(fsutil::err("read link", &p))?;
                out.push(Entry {
                    path: rel,
                    kind: Kind::Symlink(t.to_string_lossy().into_owned()),
                    mode: 0o777,
                    size: 0,
                });
            } else if ft.is_file() {
                out.push(Entry {
                    path: rel,
                    kind: Kind::File,
                    mode,
                    size: meta.size(),
                });
            } else {
                return Err(OciError::Layout {
                    layout: root.to_path_buf(),
                    reason: format!(
                        "{rel}: device nodes, fifos and sockets are not allowed in layers"
                    ),
                });
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(root, root, &mut out)?;
    out.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    Ok(out)
}

/// Write the tree at `root` as one layer. `owners` maps paths to (uid, gid); others are 0.
pub fn write_layer(
    layout: &Layout,
    root: &Path,
    epoch: u64,
    compression: Compression,
    owners: &BTreeMap<String, (u32, u32)>,
) -> Result<WrittenLayer, OciError> {
    let entries = collect(root)?;
    let mut diff_id = None;
    let descriptor = layout.write_blob(compression.media_type(), |w| {
        let enc: Box<dyn FinishWrite + '_> = match compression {
            Compression::Gzip => Box::new(gzip_writer(w)),
            Compression::Zstd => {
                let mut z = zstd::stream::write::Encoder::new(w, 19)?;
                z.include_checksum(true)?;
                Box::new(z)
            }
        };
        let mut hashing = HashingWriter::new(enc);
        {
            let mut tw = TarWriter::new(&mut hashing, epoch);
            for e in &entries {
                let owner = owners.get(&e.path).copied().unwrap_or((0, 0));
                match e.kind {
                    Kind::File => {
                        let p = root.join(&e.path);
                        let mut f = std::fs::File::open(&p)?;
                        tw.append_owned(&e.path, &e.kind, e.mode, e.size, epoch, owner, &mut f)?;
                    }
                    _ => tw.append_owned(
                        &e.path,
                        &e.kind,
                        e.mode,
                        0,
                        epoch,
                        owner,
                        &mut io::empty(),
                    )?,
                }
            }
            tw.finish()?;
        }
        let (enc, d, _) = hashing.finish();
        enc.finish_box()?;
        diff_id = Some(format!("sha256:{d}"));
        Ok(())
    })?;
    Ok(WrittenLayer {
        descriptor,
        diff_id: diff_id.unwrap_or_default(),
        entries: entries.len(),
    })
}

/// A compressor that must be finished to write its trailer.
trait FinishWrite: Write {
    fn finish_box(self: Box<Self>) -> io::Result<()>;
}
impl<W: Write> FinishWrite for crate::archive::pgzip::GzWriter<W> {
    fn finish_box(self: Box<Self>) -> io::Result<()> {
        (*self).finish().map(|_| ())
    }
}
impl<W: Write> FinishWrite for zstd::stream::write::Encoder<'_, W> {
    fn finish_box(self: Box<Self>) -> io::Result<()> {
        (*self).finish().map(|_| ())
    }
}
