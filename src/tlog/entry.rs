//! What one log entry says: a release key signed a release's provenance statement.
//!
//! ```text
//! relsign.dev/tlog-entry/v1
//! kind release-signature
//! name relsign-demo
//! version 0.1.0
//! provenance sha256:<hex of the DSSE payload, the in-toto statement>
//! keyid <the signing key's id: base64(SHA-256(DER SPKI))>
//! signed <the statement's self-asserted signing time, RFC 3339>
//! ```
//!
//! or an advisory (`relsign revoke`), logged so that a signature by the revoked key logged
//! after it is refused whatever signing time it claims:
//!
//! ```text
//! relsign.dev/tlog-entry/v1
//! kind advisory
//! id <the advisory's id>
//! subject key:<keyid> | release:<name>@<version>
//! date <the revocation date, RFC 3339>
//! advisory sha256:<hex of the advisory's canonical JSON, log_index left out>
//! ```
//!
//! Every line is required, in this order, each once; values are non-empty and free of
//! control characters. `relsign verify` rebuilds the entry from the verified provenance and
//! the signature's key, so the entry's bytes are never trusted as given.

use crate::digest::Sha256Hex;
use crate::time;

pub const ENTRY_TYPE: &str = "relsign.dev/tlog-entry/v1";
pub const KIND_SIGNATURE: &str = "release-signature";
pub const KIND_ADVISORY: &str = "advisory";
/// The largest entry relsign writes or reads.
pub const MAX_ENTRY: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub version: String,
    /// SHA-256 of the provenance envelope's payload.
    pub provenance: Sha256Hex,
    pub keyid: String,
    /// Unix seconds.
    pub signed_on: i64,
}

const FIELDS: [&str; 6] = ["kind", "name", "version", "provenance", "keyid", "signed"];
const ADVISORY_FIELDS: [&str; 5] = ["kind", "id", "subject", "date", "advisory"];

fn check_value(field: &str, v: &str) -> Result<(), String> {
    if v.is_empty() || v.chars().any(char::is_control) {
        return Err(format!("{field} {v:?}: empty or with control characters"));
    }
    Ok(())
}

/// The entry text: the type line, then `field value` lines.
fn encode_fields(fields: &[&str], values: &[String]) -> Result<Vec<u8>, String> {
    let mut s = format!("{ENTRY_TYPE}\n");
    for (f, v) in fields.iter().zip(values) {
        check_value(f, v)?;
        s.push_str(&format!("{f} {v}\n"));
    }
    if s.len() > MAX_ENTRY {
        return Err(format!("{} bytes, over the limit of {MAX_ENTRY}", s.len()));
    }
    Ok(s.into_bytes())
}

/// The values of `fields`, each on its line in order after the type line, `kind` first.
/// What parses must encode back to the same bytes (one spelling only): the callers check it.
fn decode_fields<'a>(bytes: &'a [u8], fields: &[&str], kind: &str) -> Result<Vec<&'a str>, String> {
    if bytes.len() > MAX_ENTRY {
        return Err(format!(
            "{} bytes, over the limit of {MAX_ENTRY}",
            bytes.len()
        ));
    }
    let s = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
    let body = s.strip_suffix('\n').ok_or("does not end with a newline")?;
    let lines: Vec<&str> = body.split('\n').collect();
    if lines.first() != Some(&ENTRY_TYPE) {
        return Err(format!("the first line is not {ENTRY_TYPE}"));
    }
    if lines.len() != fields.len() + 1 {
        return Err(format!(
            "{} lines, expected {}",
            lines.len(),
            fields.len() + 1
        ));
    }
    let mut v = Vec::new();
    for (f, line) in fields.iter().zip(&lines[1..]) {
        let val = line
            .strip_prefix(f)
            .and_then(|r| r.strip_prefix(' '))
            .ok_or_else(|| format!("expected the field {f:?} here, got {line:?}"))?;
        check_value(f, val)?;
        v.push(val);
    }
    if v[0] != kind {
        return Err(format!("kind {:?}: expected {kind}", v[0]));
    }
    Ok(v)
}

fn parse_digest(field: &str, v: &str) -> Result<Sha256Hex, String> {
    v.strip_prefix("sha256:")
        .and_then(|h| Sha256Hex::parse(h).ok())
        .ok_or_else(|| format!("{field} {v:?}: not sha256:<64 hex>"))
}

fn canonical<T>(parsed: T, encoded: Result<Vec<u8>, String>, bytes: &[u8]) -> Result<T, String> {
    if encoded.as_deref() != Ok(bytes) {
        return Err("not in the canonical form relsign writes".into());
    }
    Ok(parsed)
}

impl Entry {
    pub fn encode(&self) -> Result<Vec<u8>, String> {
        let values = [
            KIND_SIGNATURE.to_string(),
            self.name.clone(),
            self.version.clone(),
            format!("sha256:{}", self.provenance),
            self.keyid.clone(),
            time::format(self.signed_on),
        ];
        encode_fields(&FIELDS, &values)
    }

    pub fn parse(bytes: &[u8]) -> Result<Entry, String> {
        let v = decode_fields(bytes, &FIELDS, KIND_SIGNATURE)?;
        let e = Entry {
            name: v[1].into(),
            version: v[2].into(),
            provenance: parse_digest("provenance", v[3])?,
            keyid: v[4].into(),
            signed_on: time::parse(v[5]).map_err(|e| format!("signed: {e}"))?,
        };
        let enc = e.encode();
        canonical(e, enc, bytes)
    }
}

/// What an advisory entry says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvisoryEntry {
    pub id: String,
    /// `key:<keyid>` or `release:<name>@<version>`.
    pub subject: String,
    /// Unix seconds.
    pub date: i64,
    /// SHA-256 of the advisory's canonical JSON (its `log_index` left out).
    pub advisory: Sha256Hex,
}

impl AdvisoryEntry {
    pub fn encode(&self) -> Result<Vec<u8>, String> {
        let values = [
            KIND_ADVISORY.to_string(),
            self.id.clone(),
            self.subject.clone(),
            time::format(self.date),
            format!("sha256:{}", self.advisory),
        ];
        encode_fields(&ADVISORY_FIELDS, &values)
    }

    pub fn parse(bytes: &[u8]) -> Result<AdvisoryEntry, String> {
        let v = decode_fields(bytes, &ADVISORY_FIELDS, KIND_ADVISORY)?;
        let e = AdvisoryEntry {
            id: v[1].into(),
            subject: v[2].into(),
            date: time::parse(v[3]).map_err(|e| format!("date: {e}"))?,
            advisory: parse_digest("advisory", v[4])?,
        };
        let enc = e.encode();
        canonical(e, enc, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_strictness() {
        let e = Entry {
            name: "demo".into(),
            version: "0.1.0".into(),
            provenance: Sha256Hex::of(b"x"),
            keyid: "abc=".into(),
            signed_on: 1_700_000_000,
        };
        let b = e.encode().unwrap();
        assert_eq!(Entry::parse(&b).unwrap(), e);
        let s = String::from_utf8(b).unwrap();
        for bad in [
            s.replace("name demo\n", ""),
            s.replace("name demo\n", "name demo\nname demo\n"),
            s.replace("version", "Version"),
            s.replace("2023-11-14T22:13:20Z", "2023-11-14T22:13:20+00:00"),
            format!("{s}extra x\n"),
            s.trim_end().to_string(),
        ] {
            assert!(Entry::parse(bad.as_bytes()).is_err(), "{bad}");
        }
        let a = AdvisoryEntry {
            id: "RELSIGN-ADV-1".into(),
            subject: "key:abc=".into(),
            date: 1_700_000_000,
            advisory: Sha256Hex::of(b"a"),
        };
        let ab = a.encode().unwrap();
        assert_eq!(AdvisoryEntry::parse(&ab).unwrap(), a);
        assert!(Entry::parse(&ab).is_err() && AdvisoryEntry::parse(s.as_bytes()).is_err());
        let mut e2 = e.clone();
        e2.name = "a\nkeyid x".into();
        assert!(e2.encode().is_err());
    }
}
