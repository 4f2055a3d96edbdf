//! The Sigstore trusted root (`application/vnd.dev.sigstore.trustedroot+json;version=0.1`):
//! the Fulcio CA certificates and the transparency logs' keys that keyless verification
//! trusts. Read through the strict JSON reader; only ECDSA P-256 log keys are accepted.

use super::cert::{key_from_spki, Cert};
use crate::dsse::b64_decode;
use p256::ecdsa::VerifyingKey;
use serde_json::Value;
use sha2::Digest as _;

/// The largest trusted root accepted.
pub const MAX_ROOT: u64 = 256 << 10;
pub const ROOT_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.trustedroot+json;version=0.1";

/// A transparency log's key, by its log id (SHA-256 of the key's SPKI DER).
#[derive(Debug, Clone)]
pub struct TlogKey {
    pub log_id: Vec<u8>,
    pub key: VerifyingKey,
}

/// The parsed trusted root.
#[derive(Debug, Clone)]
pub struct TrustedRoot {
    /// Each certificate authority's chain, leaf-most first.
    pub cas: Vec<Vec<Cert>>,
    pub tlogs: Vec<TlogKey>,
    /// The certificate-transparency logs whose SCTs a certificate must carry.
    pub ctlogs: Vec<TlogKey>,
}

fn b64_field(v: &Value, ptr: &str, what: &str) -> Result<Vec<u8>, String> {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .and_then(b64_decode)
        .ok_or_else(|| format!("{what}{ptr}: missing or not base64"))
}

/// The keys of a list of logs (`tlogs` or `ctlogs`): P-256 only, each log id the SHA-256 of
/// its key.
fn log_keys(list: &[Value], name: &str) -> Result<Vec<TlogKey>, String> {
    let mut out = Vec::new();
    for (i, t) in list.iter().enumerate().take(16) {
        let what = format!("{name}[{i}]");
        let details = t.pointer("/publicKey/keyDetails").and_then(Value::as_str);
        if details != Some("PKIX_ECDSA_P256_SHA_256") {
            return Err(format!(
                "{what}.publicKey.keyDetails: only PKIX_ECDSA_P256_SHA_256"
            ));
        }
        let spki = b64_field(t, "/publicKey/rawBytes", &what)?;
        let key = key_from_spki(&spki).map_err(|e| format!("{what}: {e}"))?;
        let log_id = b64_field(t, "/logId/keyId", &what)?;
        if log_id != sha2::Sha256::digest(&spki).to_vec() {
            return Err(format!("{what}.logId: not the SHA-256 of its key"));
        }
        out.push(TlogKey { log_id, key });
    }
    Ok(out)
}

impl TrustedRoot {
    pub fn from_json(bytes: &[u8]) -> Result<TrustedRoot, String> {
        let v = crate::json::value(bytes, MAX_ROOT).map_err(|e| format!("not JSON: {e}"))?;
        Self::from_value(&v)
    }

    pub fn from_value(v: &Value) -> Result<TrustedRoot, String> {
        if v["mediaType"] != ROOT_MEDIA_TYPE {
            return Err(format!("mediaType: expected={ROOT_MEDIA_TYPE}"));
        }
        let list = |k: &str| v[k].as_array().cloned().unwrap_or_default();
        let mut cas = Vec::new();
        for (i, ca) in list("certificateAuthorities").iter().enumerate().take(16) {
            let certs = ca
                .pointer("/certChain/certificates")
                .and_then(Value::as_array)
                .filter(|a| !a.is_empty() && a.len() <= 8)
                .ok_or(format!(
                    "certificateAuthorities[{i}].certChain: 1 to 8 certificates"
                ))?;
            let mut chain = Vec::new();
            for (j, c) in certs.iter().enumerate() {
                let what = format!("certificateAuthorities[{i}].certChain.certificates[{j}]");
                let der = b64_field(c, "/rawBytes", &what)?;
                chain.push(Cert::from_der(&der).map_err(|e| format!("{what}: {e}"))?);
            }
            cas.push(chain);
        }
        let tlogs = log_keys(&list("tlogs"), "tlogs")?;
        let ctlogs = log_keys(&list("ctlogs"), "ctlogs")?;
        if cas.is_empty() || tlogs.is_empty() || ctlogs.is_empty() {
            return Err(
                "needs at least one certificate authority, one transparency log and one CT log"
                    .into(),
            );
        }
        Ok(TrustedRoot { cas, tlogs, ctlogs })
    }

    pub fn tlog(&self, log_id: &[u8]) -> Option<&TlogKey> {
        self.tlogs.iter().find(|t| t.log_id == log_id)
    }
}
