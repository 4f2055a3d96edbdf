//! SHA-256 helpers: hex encoding, streaming hashing, and a checked digest type.

use sha2::{Digest, Sha256};
use std::fmt;
use std::io::{self, Read, Write};

/// A SHA-256 digest as 64 lowercase hex characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sha256Hex(String);

impl Sha256Hex {
    /// Parse and validate a hex digest (64 hex chars; upper case is folded).
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("not a sha256 hex digest: {s:?}"));
        }
        Ok(Sha256Hex(s.to_ascii_lowercase()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Digest of a byte slice.
    pub fn of(bytes: &[u8]) -> Self {
        Sha256Hex(hex(&Sha256::digest(bytes)))
    }
}

impl TryFrom<String> for Sha256Hex {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Sha256Hex::parse(&s)
    }
}
impl From<Sha256Hex> for String {
    fn from(d: Sha256Hex) -> String {
        d.0
    }
}
impl fmt::Display for Sha256Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for Sha256Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.0)
    }
}

/// Lowercase hex encoding.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// A writer that hashes and counts everything written through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    len: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }
    /// Returns the inner writer, the digest and the byte count.
    pub fn finish(self) -> (W, Sha256Hex, u64) {
        (
            self.inner,
            Sha256Hex(hex(&self.hasher.finalize())),
            self.len,
        )
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Hash a whole reader; returns (digest, length).
pub fn hash_reader<R: Read>(mut r: R) -> io::Result<(Sha256Hex, u64)> {
    let mut w = HashingWriter::new(io::sink());
    io::copy(&mut r, &mut w)?;
    let (_, d, n) = w.finish();
    Ok((d, n))
}

/// Hash a file by path; returns (digest, length).
pub fn hash_file(path: &std::path::Path) -> io::Result<(Sha256Hex, u64)> {
    let f = std::fs::File::open(path)?;
    hash_reader(io::BufReader::with_capacity(1 << 20, f))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn empty_digest() {
        assert_eq!(
            Sha256Hex::of(b"").as_str(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
    #[test]
    fn parse_rejects_garbage() {
        assert!(Sha256Hex::parse("abc").is_err());
        assert!(Sha256Hex::parse(&"g".repeat(64)).is_err());
        assert_eq!(
            Sha256Hex::parse(&"A".repeat(64)).unwrap().as_str(),
            "a".repeat(64)
        );
    }
}
