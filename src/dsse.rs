//! DSSE v1 envelopes: the pre-authentication encoding (PAE), pure Ed25519 signatures over it,
//! and a reader that accepts standard and URL-safe base64 (with or without padding).
//!
//! Verification order: the PAE signatures are checked against the raw payload bytes *before*
//! anything parses the payload. [`Envelope::verify`] returns the verified payload bytes only.

use crate::keys::{PublicKey, SecretKey};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The payload type of in-toto statements.
pub const INTOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// PAE(type, body) = "DSSEv1" SP len(type) SP type SP len(body) SP body, decimal lengths.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut v = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    v.extend_from_slice(payload);
    v
}

/// Decode base64 in the standard or the URL-safe alphabet, padded or not.
pub fn b64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let s = s.trim();
    let url = s.contains('-') || s.contains('_');
    let padded = s.ends_with('=');
    match (url, padded) {
        (false, true) => STANDARD.decode(s).ok(),
        (false, false) => STANDARD_NO_PAD.decode(s).ok(),
        (true, true) => URL_SAFE.decode(s).ok(),
        (true, false) => URL_SAFE_NO_PAD.decode(s).ok(),
    }
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvSignature {
    pub keyid: String,
    pub sig: Vec<u8>,
}

/// A DSSE envelope with its payload decoded (but not parsed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub payload_type: String,
    pub payload: Vec<u8>,
    pub signatures: Vec<EnvSignature>,
}

/// The JSON form, as written: `{"payload", "payloadType", "signatures": [{"keyid", "sig"}]}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeJson {
    pub payload: String,
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    pub signatures: Vec<SignatureJson>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureJson {
    #[serde(default)]
    pub keyid: String,
    pub sig: String,
}

/// Why an envelope could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EnvelopeFormatError(pub String);

impl Envelope {
    pub fn new(payload_type: &str, payload: Vec<u8>) -> Envelope {
        Envelope {
            payload_type: payload_type.to_string(),
            payload,
            signatures: Vec::new(),
        }
    }

    pub fn pae(&self) -> Vec<u8> {
        pae(&self.payload_type, &self.payload)
    }

    /// Add (or replace) the signature of `key` over the PAE.
    pub fn sign(&mut self, key: &SecretKey) {
        let sig = key.sign(&self.pae()).to_vec();
        let keyid = key.public().key_id().to_string();
        self.signatures.retain(|s| s.keyid != keyid);
        self.signatures.push(EnvSignature { keyid, sig });
    }

    pub fn from_json_value(v: EnvelopeJson) -> Result<Envelope, EnvelopeFormatError> {
        if v.signatures.len() > crate::json::MAX_SIGNATURES {
            return Err(EnvelopeFormatError(format!(
                "signatures: {} signatures, over the limit of {}",
                v.signatures.len(),
                crate::json::MAX_SIGNATURES
            )));
        }
        let payload = b64_decode(&v.payload)
            .ok_or_else(|| EnvelopeFormatError("payload: not valid base64".into()))?;
        let mut signatures = Vec::new();
        for (i, s) in v.signatures.into_iter().enumerate() {
            let sig = b64_decode(&s.sig).ok_or_else(|| {
                EnvelopeFormatError(format!("signatures[{i}].sig: not valid base64"))
            })?;
            signatures.push(EnvSignature {
                keyid: s.keyid,
                sig,
            });
        }
        Ok(Envelope {
            payload_type: v.payload_type,
            payload,
            signatures,
        })
    }

    /// Parse the JSON form (no payload parsing).
    pub fn from_json(bytes: &[u8]) -> Result<Envelope, EnvelopeFormatError> {
        let v: EnvelopeJson = crate::json::from_slice(bytes, crate::json::limit::STATEMENT)
            .map_err(|e| EnvelopeFormatError(format!("not a DSSE envelope: {e}")))?;
        Envelope::from_json_value(v)
    }

    pub fn to_json_value(&self) -> EnvelopeJson {
        EnvelopeJson {
            payload: b64(&self.payload),
            payload_type: self.payload_type.clone(),
            signatures: self
                .signatures
                .iter()
                .map(|s| SignatureJson {
                    keyid: s.keyid.clone(),
                    sig: b64(&s.sig),
                })
                .collect(),
        }
    }

    /// Pretty JSON with a trailing newline (the file form; the signed bytes are the payload).
    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(&self.to_json_value()).expect("json");
        v.push(b'\n');
        v
    }

    /// Check every signature against the keys the caller trusts, by key id. Returns the set of
    /// distinct key ids with a valid signature, and a note for each signature that did not
    /// verify. A signature without a key id is tried against every key.
    pub fn verify<'k>(&self, keys: &[&'k PublicKey]) -> Verified<'k> {
        let pae = self.pae();
        let mut valid = BTreeSet::new();
        let mut by = Vec::new();
        let mut failures = Vec::new();
        for (i, s) in self.signatures.iter().enumerate() {
            let candidates: Vec<&&PublicKey> = keys
                .iter()
                .filter(|k| s.keyid.is_empty() || k.key_id() == s.keyid)
                .collect();
            if candidates.is_empty() {
                failures.push(format!(
                    "signatures[{i}]: key {:?} is not a trusted key",
                    s.keyid
                ));
                continue;
            }
            match candidates.iter().find(|k| k.verify(&pae, &s.sig)) {
                Some(k) => {
                    if valid.insert(k.key_id().to_string()) {
                        by.push(**k);
                    }
                }
                None => failures.push(format!(
                    "signatures[{i}] (keyid {}): the Ed25519 signature over the PAE does not verify",
                    s.keyid
                )),
            }
        }
        Verified { keys: by, failures }
    }
}

/// The outcome of [`Envelope::verify`].
#[derive(Debug)]
pub struct Verified<'k> {
    /// Distinct keys with a valid signature, in signature order.
    pub keys: Vec<&'k PublicKey>,
    pub failures: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_test_vector() {
        // The DSSE protocol's test vector.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }

    #[test]
    fn base64_variants() {
        let bytes = [0xfbu8, 0xff, 0x00, 0x10];
        for s in ["+/8AEA==", "+/8AEA", "-_8AEA==", "-_8AEA"] {
            assert_eq!(b64_decode(s).unwrap(), bytes, "{s}");
        }
        assert!(b64_decode("+/8AE*==").is_none());
    }

    #[test]
    fn sign_verify_threshold_counts_distinct_keys() {
        let a = SecretKey::generate().unwrap();
        let b = SecretKey::generate().unwrap();
        let mut env = Envelope::new(INTOTO_PAYLOAD_TYPE, b"{\"x\":1}".to_vec());
        env.sign(&a);
        // A duplicated signature by the same key does not count twice.
        env.signatures.push(env.signatures[0].clone());
        let keys = [a.public(), b.public()];
        assert_eq!(env.verify(&keys).keys.len(), 1);
        env.sign(&b);
        let again = Envelope::from_json(&env.to_json()).unwrap();
        assert_eq!(again, env);
        assert_eq!(again.verify(&keys).keys.len(), 2);
        let mut bad = again.clone();
        bad.payload[2] ^= 1;
        let v = bad.verify(&keys);
        assert!(v.keys.is_empty());
        assert_eq!(v.failures.len(), 3);
    }
}
