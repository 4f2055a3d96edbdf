//! A keyless Sigstore bundle v0.3: a DSSE envelope with one signature, the Fulcio leaf
//! certificate (`verificationMaterial.certificate.rawBytes`) and one Rekor entry
//! (`verificationMaterial.tlogEntries[0]`, kind `dsse` 0.0.1, with its inclusion promise and
//! proof). Read through the strict JSON reader (size, depth, duplicate keys).

use super::tlog::Entry;
use crate::attest::bundle::BUNDLE_MEDIA_TYPE;
use crate::dsse::{b64, b64_decode, Envelope, EnvelopeJson};
use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeylessBundle {
    pub env: Envelope,
    pub cert_der: Vec<u8>,
    pub entry: Entry,
}

impl KeylessBundle {
    pub fn to_json(&self) -> Vec<u8> {
        let v = json!({
            "mediaType": BUNDLE_MEDIA_TYPE,
            "verificationMaterial": {
                "certificate": {"rawBytes": b64(&self.cert_der)},
                "tlogEntries": [self.entry.to_bundle("dsse", "0.0.1")],
            },
            "dsseEnvelope": self.env.to_json_value(),
        });
        let mut out = serde_json::to_vec_pretty(&v).expect("json");
        out.push(b'\n');
        out
    }

    /// Parse the shape: media type, a certificate, exactly one tlog entry of kind dsse 0.0.1,
    /// an envelope with exactly one signature.
    pub fn from_json(bytes: &[u8]) -> Result<KeylessBundle, String> {
        let v = crate::json::value(bytes, crate::json::limit::STATEMENT)
            .map_err(|e| format!("not JSON: {e}"))?;
        if v["mediaType"] != BUNDLE_MEDIA_TYPE {
            return Err(format!("mediaType: expected={BUNDLE_MEDIA_TYPE}"));
        }
        let vm = &v["verificationMaterial"];
        let cert_der = vm
            .pointer("/certificate/rawBytes")
            .and_then(Value::as_str)
            .and_then(b64_decode)
            .ok_or("verificationMaterial.certificate.rawBytes: missing or not base64")?;
        let entries = vm["tlogEntries"]
            .as_array()
            .filter(|a| a.len() == 1)
            .ok_or("verificationMaterial.tlogEntries: expected exactly one entry")?;
        let kv = &entries[0]["kindVersion"];
        if kv["kind"] != "dsse" || kv["version"] != "0.0.1" {
            return Err("tlogEntries[0].kindVersion: expected dsse 0.0.1".into());
        }
        let entry = Entry::from_bundle(&entries[0]).map_err(|e| format!("tlogEntries[0].{e}"))?;
        let ej: EnvelopeJson = serde_json::from_value(v["dsseEnvelope"].clone())
            .map_err(|e| format!("dsseEnvelope: {e}"))?;
        let env = Envelope::from_json_value(ej).map_err(|e| format!("dsseEnvelope: {e}"))?;
        if env.signatures.len() != 1 {
            return Err(format!(
                "dsseEnvelope: expected=1 signature, got={}",
                env.signatures.len()
            ));
        }
        Ok(KeylessBundle {
            env,
            cert_der,
            entry,
        })
    }
}
