//! A deterministic tar writer.

use std::io::{self, Read, Write};

/// Kinds of entries the writer emits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    Symlink(String),
}

/// Normalize a permission mode: directories and executables become 0755, other files 0644.
pub fn normal_mode(kind: &Kind, mode: u32) -> u32 {
    match kind {
        Kind::Dir => 0o755,
        Kind::Symlink(_) => 0o777,
        Kind::File => {
            if mode & 0o111 != 0 {
                0o755
            } else {
                0o644
            }
        }
    }
}

/// Writes entries with fixed metadata. Callers give entries in sorted order (see [`sort_key`]).
pub struct TarWriter<W: Write> {
    inner: tar::Builder<W>,
    mtime: u64,
}

/// The sort key that puts entries bytewise in order; a directory "a" sorts before "a/b"
/// because it is a prefix, so parents precede children.
pub fn sort_key(path: &str) -> &[u8] {
    path.trim_end_matches('/').as_bytes()
}

impl<W: Write> TarWriter<W> {
    pub fn new(w: W, mtime: u64) -> Self {
        let mut inner = tar::Builder::new(w);
        inner.mode(tar::HeaderMode::Deterministic);
        TarWriter { inner, mtime }
    }

    fn header(
        &self,
        kind: &Kind,
        mode: u32,
        size: u64,
        mtime: u64,
        owner: (u32, u32),
    ) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(match kind {
            Kind::Dir => tar::EntryType::Directory,
            Kind::File => tar::EntryType::Regular,
            Kind::Symlink(_) => tar::EntryType::Symlink,
        });
        h.set_mode(mode);
        h.set_size(size);
        h.set_mtime(mtime.min(self.mtime));
        h.set_uid(owner.0 as u64);
        h.set_gid(owner.1 as u64);
        let _ = h.set_username("");
        let _ = h.set_groupname("");
        h
    }

    /// Append one entry. `path` is relative, '/'-separated; directories may end in '/'.
    /// `mtime` is clamped to the writer's epoch.
    pub fn append(
        &mut self,
        path: &str,
        kind: &Kind,
        mode: u32,
        size: u64,
        mtime: u64,
        data: &mut dyn Read,
    ) -> io::Result<()> {
        self.append_owned(path, kind, mode, size, mtime, (0, 0), data)
    }

    /// Like [`TarWriter::append`], with a numeric (uid, gid).
    #[allow(clippy::too_many_arguments)]
    pub fn append_owned(
        &mut self,
        path: &str,
        kind: &Kind,
        mode: u32,
        size: u64,
        mtime: u64,
        owner: (u32, u32),
        data: &mut dyn Read,
    ) -> io::Result<()> {
        let mut name = path.trim_end_matches('/').to_string();
        if *kind == Kind::Dir {
            name.push('/');
        }
        let size = if *kind == Kind::File { size } else { 0 };
        let mut h = self.header(kind, mode, size, mtime, owner);
        let mut pax: Vec<(&str, Vec<u8>)> = Vec::new();
        if h.set_path(&name).is_err() {
            pax.push(("path", name.clone().into_bytes()));
            h.set_path(truncated(&name))?;
        }
        if let Kind::Symlink(target) = kind {
            if h.set_link_name(target).is_err() {
                pax.push(("linkpath", target.clone().into_bytes()));
                h.set_link_name(truncated(target))?;
            }
        }
        if !pax.is_empty() {
            self.inner
                .append_pax_extensions(pax.iter().map(|(k, v)| (*k, v.as_slice())))?;
        }
        h.set_cksum();
        self.inner.append(&h, data)
    }

    pub fn finish(self) -> io::Result<W> {
        self.inner.into_inner()
    }
}

fn truncated(s: &str) -> String {
    let mut end = 99.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// The deterministic gzip writer (see [`super::pgzip`]): fixed header (mtime 0, no name),
/// blocks compressed in parallel; call `finish()`.
pub fn gzip_writer<W: Write>(w: W) -> super::pgzip::GzWriter<W> {
    super::pgzip::GzWriter::new(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(mtime: u64) -> Vec<u8> {
        let mut w = TarWriter::new(Vec::new(), 100);
        w.append("a", &Kind::Dir, 0o700, 0, mtime, &mut io::empty())
            .unwrap();
        w.append("a/f", &Kind::File, 0o600, 3, mtime, &mut &b"abc"[..])
            .unwrap();
        let long = format!("a/{}", "x".repeat(300));
        w.append(&long, &Kind::File, 0o644, 1, mtime, &mut &b"z"[..])
            .unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn same_bytes_whatever_the_input_mtime_above_epoch() {
        assert_eq!(build(1000), build(5000));
        let bytes = build(1000);
        let mut ar = tar::Archive::new(&bytes[..]);
        let names: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names[0], "a/");
        assert_eq!(names[2].len(), 302, "PAX path kept in full");
    }
}
