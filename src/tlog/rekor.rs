//! The log entry a Sigstore client can check: a Rekor-style `dsse` v0.0.1 body.
//!
//! Sigstore bundles carry a transparency-log entry as `canonicalizedBody` plus an inclusion
//! proof whose leaf hash is RFC 6962's hash of exactly those bytes, and sigstore-js
//! (`@sigstore/verify` 3.1.1, `dist/tlog/index.js` `verifyTLogBody`) accepts only the Rekor
//! kinds `dsse`, `intoto` and `hashedrekord` as that body (any other kind is
//! `TLOG_BODY_ERROR: unsupported kind`). relsign's own entry (see [`super::entry`]) is not a
//! Rekor kind, so a signed release is logged as two adjacent leaves: relsign's entry (what
//! `relsign verify` and the monitor read) and this body, the Rekor `dsse` v0.0.1 record of the
//! same signature (what the provenance bundle's `tlogEntries[0]` carries):
//!
//! ```text
//! {"apiVersion":"0.0.1","kind":"dsse","spec":{
//!   "envelopeHash":{"algorithm":"sha256","value":<hex of the one-signature envelope's JSON>},
//!   "payloadHash":{"algorithm":"sha256","value":<hex of the payload>},
//!   "signatures":[{"publicKey":<base64 of the key's PEM>,"signature":<base64 signature>}]}}
//! ```
//!
//! (`publicKey` is the schema's name, `dsse_v0_0_1_schema.json`; relsign before 2026-12-06
//! wrote `verifier`, which the monitor still reads in logs made then.)
//!
//! The JSON is canonical (sorted keys, no spaces: RFC 8785 for these ASCII values). Rekor
//! hashes the envelope as it canonicalizes it; relsign hashes the envelope JSON it writes in
//! the bundle (sigstore-js does not check `envelopeHash`; it checks the signature and the
//! payload hash against the bundle's envelope).

use crate::digest::Sha256Hex;
use crate::dsse::{b64, Envelope};
use crate::keys::PublicKey;
use serde_json::{json, Value};

pub const KIND: &str = "dsse";
pub const API_VERSION: &str = "0.0.1";

/// The Rekor `dsse` body for the signature of `key` in `env`, or None if `env` holds none.
pub fn dsse_body(env: &Envelope, key: &PublicKey) -> Option<Vec<u8>> {
    let sig = env.signatures.iter().find(|s| s.keyid == key.key_id())?;
    let mut one = env.clone();
    one.signatures = vec![sig.clone()];
    let env_json = serde_json::to_vec(&one.to_json_value()).expect("json");
    let v = json!({
        "apiVersion": API_VERSION,
        "kind": KIND,
        "spec": {
            "envelopeHash": {"algorithm": "sha256", "value": Sha256Hex::of(&env_json).to_string()},
            "payloadHash": {"algorithm": "sha256", "value": Sha256Hex::of(&env.payload).to_string()},
            "signatures": [{"signature": b64(&sig.sig), "publicKey": b64(key.to_pem().as_bytes())}],
        },
    });
    // serde_json's maps are sorted (no preserve_order feature): canonical key order.
    Some(serde_json::to_vec(&v).expect("json"))
}

/// What a Rekor `dsse` leaf says, for the monitor: the key id of its verifier (an Ed25519
/// key) and the payload's SHA-256. Err when the bytes are not such a body as relsign writes.
pub fn parse_dsse_body(bytes: &[u8]) -> Result<(String, String), String> {
    if bytes.first() != Some(&b'{') || bytes.len() > super::entry::MAX_ENTRY {
        return Err("not a Rekor dsse body".into());
    }
    let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    if serde_json::to_vec(&v).ok().as_deref() != Some(bytes) {
        return Err("not canonical JSON".into());
    }
    if v["kind"] != KIND || v["apiVersion"] != API_VERSION {
        return Err("not a Rekor dsse 0.0.1 body".into());
    }
    let sigs = v
        .pointer("/spec/signatures")
        .and_then(Value::as_array)
        .filter(|a| a.len() == 1)
        .ok_or("spec.signatures: expected one")?;
    // The schema's `publicKey`; `verifier` in leaves relsign wrote before it followed it.
    let field = ["publicKey", "verifier"]
        .into_iter()
        .find(|f| sigs[0].get(f).is_some())
        .ok_or("spec.signatures[0].publicKey: missing")?;
    let pem = sigs[0][field]
        .as_str()
        .and_then(crate::dsse::b64_decode)
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or(format!(
            "spec.signatures[0].{field}: not base64 of a PEM key"
        ))?;
    let key = PublicKey::from_pem(&pem, std::path::Path::new(field))
        .map_err(|e| format!("spec.signatures[0].{field}: {e}"))?;
    let payload = v
        .pointer("/spec/payloadHash/value")
        .and_then(Value::as_str)
        .filter(|h| Sha256Hex::parse(h).is_ok())
        .ok_or("spec.payloadHash.value: not 64 hex")?;
    Ok((key.key_id().to_string(), payload.to_string()))
}

/// Rekor's log id: SHA-256 of the log key's DER SubjectPublicKeyInfo.
pub fn log_id(key: &PublicKey) -> Vec<u8> {
    use sha2::Digest as _;
    sha2::Sha256::digest(key.spki_der()).to_vec()
}

/// The Sigstore `TransparencyLogEntry` (protobuf JSON mapping) for the leaf `body` at
/// `proof.index` under the proof's checkpoint. `logId.keyId` is SHA-256 of the log key's DER
/// SubjectPublicKeyInfo (as Rekor's log id); `integratedTime` is 0 and there is no inclusion
/// promise: relsign's log records no time, and the proof with its signed checkpoint is what a
/// client checks.
pub fn tlog_entry(
    body: &[u8],
    proof: &super::proof::Proof,
    cp: &super::checkpoint::Checkpoint,
    log_key: &PublicKey,
) -> Value {
    json!({
        "logIndex": proof.index.to_string(),
        "logId": {"keyId": b64(&log_id(log_key))},
        "kindVersion": {"kind": KIND, "version": API_VERSION},
        "integratedTime": "0",
        "inclusionProof": {
            "logIndex": proof.index.to_string(),
            "rootHash": b64(&cp.root),
            "treeSize": cp.size.to_string(),
            "hashes": proof.hashes.iter().map(|h| b64(h)).collect::<Vec<_>>(),
            "checkpoint": {"envelope": proof.checkpoint},
        },
        "canonicalizedBody": b64(body),
    })
}

/// A Sigstore trusted root (`application/vnd.dev.sigstore.trustedroot+json;version=0.1`)
/// naming only relsign's log: its Ed25519 key, the base URL `https://<origin>` (sigstore-js
/// matches a checkpoint signature's key name against it) and `checkpointKeyId`, the C2SP note
/// key id the checkpoint signatures start with. No CA, CT log or timestamp authority.
pub fn trusted_root(note_key: &super::note::NoteKey) -> Value {
    json!({
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [{
            "baseUrl": format!("https://{}", note_key.name),
            "hashAlgorithm": "SHA2_256",
            "publicKey": {
                "rawBytes": b64(note_key.key.spki_der()),
                "keyDetails": "PKIX_ED25519",
                "validFor": {"start": "1970-01-01T00:00:00Z"},
            },
            "logId": {"keyId": b64(&log_id(&note_key.key))},
            "checkpointKeyId": {"keyId": b64(&note_key.key_id())},
        }],
        "certificateAuthorities": [],
        "ctlogs": [],
        "timestampAuthorities": [],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SecretKey;

    #[test]
    fn body_roundtrip_and_canonical() {
        let k = SecretKey::generate().unwrap();
        let mut env = Envelope::new("application/vnd.in-toto+json", b"{}".to_vec());
        env.sign(&k);
        let b = dsse_body(&env, k.public()).unwrap();
        let s = std::str::from_utf8(&b).unwrap();
        assert!(s.starts_with(r#"{"apiVersion":"0.0.1","kind":"dsse","spec":{"envelopeHash""#));
        let (kid, ph) = parse_dsse_body(&b).unwrap();
        assert_eq!(kid, k.public().key_id());
        assert_eq!(ph, Sha256Hex::of(b"{}").to_string());
        let spaced = s.replace(",", ", ");
        assert!(parse_dsse_body(spaced.as_bytes()).is_err());
        assert!(parse_dsse_body(b"relsign.dev/tlog-entry/v1\n").is_err());
        // The schema's field name; a leaf written before (`verifier`) still reads.
        assert!(s.contains(r#"[{"publicKey":""#), "{s}");
        let old = s.replace(r#"[{"publicKey":"#, r#"[{"verifier":"#);
        // Keys sorted as canonical JSON wants them: signature before verifier.
        let v: Value = serde_json::from_str(&old).unwrap();
        let old = serde_json::to_vec(&v).unwrap();
        assert_eq!(parse_dsse_body(&old).unwrap(), (kid, ph));
    }
}
