//! Strict JSON for untrusted bytes: every signed statement, envelope, bundle, policy, release
//! manifest, OCI index and manifest, and the last-seen state is read through here.
//!
//! - **Size**: the caller names a byte limit; larger input is refused before parsing.
//! - **Depth**: objects and arrays nested deeper than [`MAX_DEPTH`] are refused.
//! - **Duplicate keys**: an object with the same key twice is refused (serde_json keeps the
//!   last value; another verifier may keep the first, so the signed bytes would mean two
//!   things). The error names the key and where it is (`$.subject[0].digest`).
//!
//! Typed reads parse into a [`serde_json::Value`] with these checks and then deserialize the
//! value, so a `#[serde(deny_unknown_fields)]` struct keeps refusing unknown fields.

use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::fmt;
use std::path::Path;

/// The deepest nesting of objects and arrays accepted.
pub const MAX_DEPTH: usize = 64;

/// Byte limits for each kind of untrusted JSON (documented in the README, "Limits").
pub mod limit {
    /// `release.json`.
    pub const RELEASE: u64 = 16 << 20;
    /// A DSSE envelope or Sigstore bundle carrying a statement (SBOM statements are the
    /// largest: one per artifact, every package with its licenses).
    pub const STATEMENT: u64 = 64 << 20;
    /// The provenance envelope.
    pub const PROVENANCE: u64 = 16 << 20;
    /// One policy version.
    pub const POLICY: u64 = 1 << 20;
    /// The last-seen state file.
    pub const STATE: u64 = 4 << 20;
    /// An OCI index, manifest or image config (the distribution spec's 4 MiB manifest limit).
    pub const OCI: u64 = 4 << 20;
    /// The readable SBOM copies under `sbom/`.
    pub const SBOM: u64 = 64 << 20;
    /// All the Sigstore bundles of a release together.
    pub const ALL_BUNDLES: u64 = 512 << 20;
}

/// The most Sigstore bundle files a release may carry.
pub const MAX_BUNDLES: usize = 4096;

/// The most signatures one envelope may carry.
pub const MAX_SIGNATURES: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    #[error("{size} bytes, over the limit of {limit} bytes for this kind of file")]
    TooLarge { size: u64, limit: u64 },
    #[error("{0}")]
    Invalid(String),
}

/// Where in the document a value sits, for error messages.
enum Loc<'a> {
    Root,
    Key(&'a Loc<'a>, &'a str),
    Index(&'a Loc<'a>, usize),
}

impl fmt::Display for Loc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Loc::Root => write!(f, "$"),
            Loc::Key(p, k) => write!(f, "{p}.{k}"),
            Loc::Index(p, i) => write!(f, "{p}[{i}]"),
        }
    }
}

struct Seed<'a> {
    depth: usize,
    at: &'a Loc<'a>,
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom(format!("{}: not a finite number", self.at)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        if self.depth >= MAX_DEPTH {
            return Err(de::Error::custom(format!(
                "{}: nested deeper than {MAX_DEPTH} levels",
                self.at
            )));
        }
        let mut out = Vec::new();
        loop {
            let at = Loc::Index(self.at, out.len());
            let seed = Seed {
                depth: self.depth + 1,
                at: &at,
            };
            match seq.next_element_seed(seed)? {
                Some(v) => out.push(v),
                None => break,
            }
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        if self.depth >= MAX_DEPTH {
            return Err(de::Error::custom(format!(
                "{}: nested deeper than {MAX_DEPTH} levels",
                self.at
            )));
        }
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "{}: duplicate key {key:?}",
                    self.at
                )));
            }
            let at = Loc::Key(self.at, &key);
            let v = map.next_value_seed(Seed {
                depth: self.depth + 1,
                at: &at,
            })?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// Parse untrusted bytes into a value: size, depth and duplicate keys checked.
pub fn value(bytes: &[u8], limit: u64) -> Result<Value, JsonError> {
    if bytes.len() as u64 > limit {
        return Err(JsonError::TooLarge {
            size: bytes.len() as u64,
            limit,
        });
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v = Seed {
        depth: 0,
        at: &Loc::Root,
    }
    .deserialize(&mut de)
    .map_err(|e| JsonError::Invalid(e.to_string()))?;
    de.end().map_err(|e| JsonError::Invalid(e.to_string()))?;
    Ok(v)
}

/// Parse untrusted bytes into `T` through [`value`].
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8], limit: u64) -> Result<T, JsonError> {
    serde_json::from_value(value(bytes, limit)?).map_err(|e| JsonError::Invalid(e.to_string()))
}

/// Why a JSON file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Fs(#[from] crate::fsutil::FsError),
    #[error("{}: {source}", .path.display())]
    Json {
        path: std::path::PathBuf,
        source: JsonError,
    },
}

/// Read at most `limit` bytes of a file (a larger file is refused without reading it all).
pub fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    use std::io::Read;
    let f = crate::fsutil::open_regular(path)?;
    let size = f
        .metadata()
        .map_err(crate::fsutil::err("stat", path))?
        .len();
    let too_large = |size| ReadError::Json {
        path: path.to_path_buf(),
        source: JsonError::TooLarge { size, limit },
    };
    if size > limit {
        return Err(too_large(size));
    }
    let mut buf = Vec::with_capacity(size as usize);
    f.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(crate::fsutil::err("read", path))?;
    if buf.len() as u64 > limit {
        return Err(too_large(buf.len() as u64));
    }
    Ok(buf)
}

/// Read and parse a JSON file into `T` with the checks of [`value`].
pub fn read_file<T: DeserializeOwned>(path: &Path, limit: u64) -> Result<T, ReadError> {
    let bytes = read_limited(path, limit)?;
    from_slice(&bytes, limit).map_err(|source| ReadError::Json {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_refused_with_their_place() {
        let e = value(br#"{"a":1,"b":{"c":[{"d":1,"d":2}]}}"#, 1 << 20).unwrap_err();
        assert!(
            e.to_string().contains(r#"$.b.c[0]: duplicate key "d""#),
            "{e}"
        );
        let e = value(br#"{"a":1,"a":1}"#, 1 << 20).unwrap_err();
        assert!(e.to_string().contains("duplicate key \"a\""), "{e}");
        // Escaped spellings of the same key are the same key.
        let e = value(br#"{"a":1,"\u0061":2}"#, 1 << 20).unwrap_err();
        assert!(e.to_string().contains("duplicate key"), "{e}");
        assert!(value(br#"{"a":{"a":1},"b":[1,{"a":2}]}"#, 1 << 20).is_ok());
    }

    #[test]
    fn size_depth_and_trailing_bytes() {
        assert_eq!(
            value(b"[1,2,3]", 4),
            Err(JsonError::TooLarge { size: 7, limit: 4 })
        );
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        let e = value(deep.as_bytes(), 1 << 20).unwrap_err();
        assert!(e.to_string().contains("nested deeper than"), "{e}");
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(value(ok.as_bytes(), 1 << 20).is_ok());
        assert!(value(b"{} {}", 1 << 20).is_err());
        assert!(value(b"{\"a\":1}\n", 1 << 20).is_ok());
    }

    #[test]
    fn typed_reads_keep_serde_checks() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct S {
            a: u32,
        }
        assert!(from_slice::<S>(br#"{"a":1}"#, 100).is_ok());
        assert!(from_slice::<S>(br#"{"a":1,"b":2}"#, 100).is_err());
        assert!(from_slice::<S>(br#"{"a":1,"a":2}"#, 100).is_err());
    }

    #[test]
    fn read_limited_refuses_before_reading() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("big.json");
        std::fs::write(&p, vec![b' '; 1000]).unwrap();
        let e = read_limited(&p, 999).unwrap_err();
        assert!(
            e.to_string().contains("1000 bytes, over the limit of 999"),
            "{e}"
        );
        assert_eq!(read_limited(&p, 1000).unwrap().len(), 1000);
    }
}
