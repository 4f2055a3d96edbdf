//! A small streaming reader for `ar` archives (the container of a `.deb`).
//!
//! Format: the global header `!<arch>\n`, then members, each a 60-byte header (name 16, mtime 12,
//! uid 6, gid 6, mode 8, size 10, magic "`\n") followed by `size` bytes and one padding byte
//! when `size` is odd. GNU names end with `/`; long-name tables are refused (a .deb has none).

use std::io::{self, Read};

const GLOBAL: &[u8; 8] = b"!<arch>\n";

#[derive(Debug, thiserror::Error)]
pub enum ArError {
    #[error("{archive}: not an ar archive (bad global header)")]
    NotAr { archive: String },
    #[error("{archive}: member at offset {offset}: {reason}")]
    BadHeader {
        archive: String,
        offset: u64,
        reason: String,
    },
    #[error("{archive}: {source}")]
    Io {
        archive: String,
        #[source]
        source: io::Error,
    },
}

/// One member's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArMember {
    pub name: String,
    pub size: u64,
    /// Offset of the member's data in the archive.
    pub offset: u64,
}

/// Reads members in order; after [`ArReader::next_member`] the reader yields that member's data.
pub struct ArReader<R> {
    inner: R,
    archive: String,
    remaining: u64,
    pad: bool,
    pos: u64,
}

impl<R: Read> ArReader<R> {
    /// Check the global header. `archive` names the file in errors.
    pub fn new(mut inner: R, archive: &str) -> Result<Self, ArError> {
        let mut magic = [0u8; 8];
        match inner.read_exact(&mut magic) {
            Ok(()) if &magic == GLOBAL => {}
            Ok(()) => {
                return Err(ArError::NotAr {
                    archive: archive.into(),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(ArError::NotAr {
                    archive: archive.into(),
                })
            }
            Err(source) => {
                return Err(ArError::Io {
                    archive: archive.into(),
                    source,
                })
            }
        }
        Ok(ArReader {
            inner,
            archive: archive.into(),
            remaining: 0,
            pad: false,
            pos: 8,
        })
    }

    /// Skip what is left of the current member and read the next header; `None` at the end.
    pub fn next_member(&mut self) -> Result<Option<ArMember>, ArError> {
        let skip = self.remaining + u64::from(self.pad);
        if skip > 0 {
            let n = io::copy(&mut (&mut self.inner).take(skip), &mut io::sink())
                .map_err(|e| self.io(e))?;
            self.pos += n;
            if n != skip {
                return Err(self.bad(self.pos, "truncated member data".into()));
            }
        }
        self.remaining = 0;
        self.pad = false;
        let offset = self.pos;
        let mut h = [0u8; 60];
        let mut got = 0;
        while got < 60 {
            let n = self.inner.read(&mut h[got..]).map_err(|e| self.io(e))?;
            if n == 0 {
                break;
            }
            got += n;
        }
        if got == 0 {
            return Ok(None);
        }
        if got < 60 {
            return Err(self.bad(offset, format!("truncated header ({got} of 60 bytes)")));
        }
        self.pos += 60;
        if &h[58..60] != b"`\n" {
            return Err(self.bad(offset, "bad header magic".into()));
        }
        let name_raw = std::str::from_utf8(&h[0..16])
            .map_err(|_| self.bad(offset, "name is not UTF-8".into()))?;
        let name = name_raw.trim_end_matches(' ');
        if name.starts_with('/') || name.starts_with("#1/") {
            return Err(self.bad(
                offset,
                format!("unsupported member name {name:?} (symbol or long-name table)"),
            ));
        }
        let name = name.strip_suffix('/').unwrap_or(name).to_string();
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(self.bad(offset, format!("invalid member name {name_raw:?}")));
        }
        let size_raw = std::str::from_utf8(&h[48..58])
            .unwrap_or("")
            .trim_end_matches(' ');
        if size_raw.is_empty() || !size_raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.bad(
                offset,
                format!(
                    "member {name:?}: bad size field {:?}",
                    String::from_utf8_lossy(&h[48..58])
                ),
            ));
        }
        let size: u64 = size_raw
            .parse()
            .map_err(|_| self.bad(offset, format!("member {name:?}: size out of range")))?;
        self.remaining = size;
        self.pad = size % 2 == 1;
        Ok(Some(ArMember {
            name,
            size,
            offset: offset + 60,
        }))
    }

    fn io(&self, source: io::Error) -> ArError {
        ArError::Io {
            archive: self.archive.clone(),
            source,
        }
    }
    fn bad(&self, offset: u64, reason: String) -> ArError {
        ArError::BadHeader {
            archive: self.archive.clone(),
            offset,
            reason,
        }
    }
}

impl<R: Read> Read for ArReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let max = buf
            .len()
            .min(self.remaining.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{}: truncated member", self.archive),
            ));
        }
        self.remaining -= n as u64;
        self.pos += n as u64;
        Ok(n)
    }
}

/// Write an ar archive (tests and fixtures).
pub fn write_ar(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = GLOBAL.to_vec();
    for (name, data) in members {
        let h = format!(
            "{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
            name,
            0,
            0,
            0,
            100644,
            data.len()
        );
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(data);
        if data.len() % 2 == 1 {
            out.push(b'\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_members_and_skips_unread_data() {
        let a = write_ar(&[
            ("debian-binary", b"2.0\n"),
            ("odd", b"abc"),
            ("last", b"xy"),
        ]);
        let mut r = ArReader::new(&a[..], "t.deb").unwrap();
        assert_eq!(r.next_member().unwrap().unwrap().name, "debian-binary");
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "2.0\n");
        let m = r.next_member().unwrap().unwrap();
        assert_eq!((m.name.as_str(), m.size), ("odd", 3));
        // Not reading "odd" at all: next_member skips it and its padding.
        let m = r.next_member().unwrap().unwrap();
        assert_eq!(m.name, "last");
        let mut v = Vec::new();
        r.read_to_end(&mut v).unwrap();
        assert_eq!(v, b"xy");
        assert!(r.next_member().unwrap().is_none());
    }

    #[test]
    fn refuses_malformed() {
        assert!(matches!(
            ArReader::new(&b"!<arch>X"[..], "x").err().unwrap(),
            ArError::NotAr { .. }
        ));
        let mut a = write_ar(&[("m", b"data")]);
        a[8 + 58] = b'X';
        let e = ArReader::new(&a[..], "bad.deb")
            .unwrap()
            .next_member()
            .unwrap_err();
        assert!(
            e.to_string().contains("bad.deb") && e.to_string().contains("magic"),
            "{e}"
        );
        let mut a = write_ar(&[("m", b"data")]);
        a[8 + 48] = b'z';
        let e = ArReader::new(&a[..], "bad.deb")
            .unwrap()
            .next_member()
            .unwrap_err();
        assert!(e.to_string().contains("size"), "{e}");
        let a = write_ar(&[("m", b"data")]);
        let e = ArReader::new(&a[..40], "short.deb")
            .unwrap()
            .next_member()
            .unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
        let a = write_ar(&[("../x", b"data")]);
        assert!(ArReader::new(&a[..], "x").unwrap().next_member().is_err());
    }
}
