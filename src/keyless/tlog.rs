//! A Rekor v1 log entry, as Rekor's `POST /api/v1/log/entries` returns it and as a Sigstore
//! bundle carries it (`verificationMaterial.tlogEntries[0]`), and its checks against the
//! trusted root: the signed entry timestamp (the inclusion promise: ECDSA over the canonical
//! JSON of body, integrated time, log id and index) and the inclusion proof (the body's RFC
//! 6962 leaf hash up to the proof's root, and that root in a checkpoint the log signed).

use super::cert::verify_sha256;
use super::root::TrustedRoot;
use crate::dsse::{b64, b64_decode};
use crate::tlog::merkle::{leaf_hash, verify_inclusion, Hash};
use serde_json::{json, Value};

/// The most audit-path hashes accepted (a tree of 2^64 leaves needs 64).
const MAX_HASHES: usize = 64;
/// The largest checkpoint accepted.
const MAX_CHECKPOINT: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    pub log_index: u64,
    pub tree_size: u64,
    pub root: Hash,
    pub hashes: Vec<Hash>,
    pub checkpoint: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub log_index: u64,
    pub log_id: Vec<u8>,
    pub integrated_time: i64,
    pub body: Vec<u8>,
    pub set: Vec<u8>,
    pub proof: Option<Proof>,
}

fn hash32(b: Option<Vec<u8>>, what: &str) -> Result<Hash, String> {
    b.and_then(|v| v.try_into().ok())
        .ok_or(format!("{what}: not 32 bytes"))
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || !s.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// A number that Rekor writes as a JSON number and the bundle as a decimal string.
fn num(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

impl Entry {
    /// Rekor's answer: `{"<uuid>": {body, integratedTime, logID (hex), logIndex,
    /// verification: {signedEntryTimestamp, inclusionProof: {logIndex, treeSize, rootHash
    /// (hex), hashes (hex), checkpoint}}}}`.
    pub fn from_rekor(bytes: &[u8]) -> Result<Entry, String> {
        let v = crate::json::value(bytes, 1 << 20).map_err(|e| format!("not JSON: {e}"))?;
        let e = match v.as_object() {
            Some(m) if m.len() == 1 => m.values().next().expect("one"),
            _ => return Err("expected one entry keyed by its UUID".into()),
        };
        let ver = &e["verification"];
        let p = &ver["inclusionProof"];
        let proof = if p.is_object() {
            let hashes = p["hashes"].as_array().cloned().unwrap_or_default();
            if hashes.len() > MAX_HASHES {
                return Err("inclusionProof.hashes: too many".into());
            }
            let hashes = hashes
                .iter()
                .map(|h| hash32(h.as_str().and_then(unhex), "inclusionProof.hashes[]"))
                .collect::<Result<Vec<_>, _>>()?;
            Some(Proof {
                log_index: num(&p["logIndex"]).ok_or("inclusionProof.logIndex")?,
                tree_size: num(&p["treeSize"]).ok_or("inclusionProof.treeSize")?,
                root: hash32(
                    p["rootHash"].as_str().and_then(unhex),
                    "inclusionProof.rootHash",
                )?,
                hashes,
                checkpoint: p["checkpoint"].as_str().unwrap_or_default().to_string(),
            })
        } else {
            None
        };
        Ok(Entry {
            log_index: num(&e["logIndex"]).ok_or("logIndex: missing")?,
            log_id: e["logID"]
                .as_str()
                .and_then(unhex)
                .ok_or("logID: not hex")?,
            integrated_time: num(&e["integratedTime"]).ok_or("integratedTime: missing")? as i64,
            body: e["body"]
                .as_str()
                .and_then(b64_decode)
                .ok_or("body: not base64")?,
            set: ver["signedEntryTimestamp"]
                .as_str()
                .and_then(b64_decode)
                .ok_or("verification.signedEntryTimestamp: not base64")?,
            proof,
        })
    }

    /// The bundle's form (protobuf JSON: int64 as strings, bytes as base64).
    pub fn to_bundle(&self, kind: &str, version: &str) -> Value {
        let mut v = json!({
            "logIndex": self.log_index.to_string(),
            "logId": {"keyId": b64(&self.log_id)},
            "kindVersion": {"kind": kind, "version": version},
            "integratedTime": self.integrated_time.to_string(),
            "inclusionPromise": {"signedEntryTimestamp": b64(&self.set)},
            "canonicalizedBody": b64(&self.body),
        });
        if let Some(p) = &self.proof {
            v["inclusionProof"] = json!({
                "logIndex": p.log_index.to_string(),
                "rootHash": b64(&p.root),
                "treeSize": p.tree_size.to_string(),
                "hashes": p.hashes.iter().map(|h| b64(h)).collect::<Vec<_>>(),
                "checkpoint": {"envelope": p.checkpoint},
            });
        }
        v
    }

    /// Read the bundle's form back (no checks beyond the shape).
    pub fn from_bundle(v: &Value) -> Result<Entry, String> {
        let b = |p: &str| v.pointer(p).and_then(Value::as_str).and_then(b64_decode);
        let p = &v["inclusionProof"];
        let proof = if p.is_object() {
            let hashes = p["hashes"].as_array().cloned().unwrap_or_default();
            if hashes.len() > MAX_HASHES {
                return Err("inclusionProof.hashes: too many".into());
            }
            Some(Proof {
                log_index: num(&p["logIndex"]).ok_or("inclusionProof.logIndex")?,
                tree_size: num(&p["treeSize"]).ok_or("inclusionProof.treeSize")?,
                root: hash32(b("/inclusionProof/rootHash"), "inclusionProof.rootHash")?,
                hashes: hashes
                    .iter()
                    .map(|h| hash32(h.as_str().and_then(b64_decode), "inclusionProof.hashes[]"))
                    .collect::<Result<Vec<_>, _>>()?,
                checkpoint: p
                    .pointer("/checkpoint/envelope")
                    .and_then(Value::as_str)
                    .filter(|c| c.len() <= MAX_CHECKPOINT)
                    .ok_or("inclusionProof.checkpoint.envelope: missing or too long")?
                    .to_string(),
            })
        } else {
            None
        };
        Ok(Entry {
            log_index: num(&v["logIndex"]).ok_or("logIndex: missing")?,
            log_id: b("/logId/keyId").ok_or("logId.keyId: not base64")?,
            integrated_time: num(&v["integratedTime"]).ok_or("integratedTime: missing")? as i64,
            body: b("/canonicalizedBody").ok_or("canonicalizedBody: not base64")?,
            set: b("/inclusionPromise/signedEntryTimestamp")
                .ok_or("inclusionPromise.signedEntryTimestamp: missing")?,
            proof,
        })
    }

    /// The promise and the proof verify with the trusted root's key for this log. Returns what
    /// was checked, for the report.
    pub fn verify(&self, root: &TrustedRoot) -> Result<String, String> {
        let log = root
            .tlog(&self.log_id)
            .ok_or("its log id is not a transparency log of the trusted root")?;
        // The SET: canonical JSON (sorted keys, no spaces) of these four fields.
        let set_doc = json!({
            "body": b64(&self.body),
            "integratedTime": self.integrated_time,
            "logID": crate::digest::hex(&self.log_id),
            "logIndex": self.log_index,
        });
        let set_bytes = serde_json::to_vec(&set_doc).expect("json");
        verify_sha256(&log.key, &set_bytes, &self.set)
            .map_err(|e| format!("signed entry timestamp: {e}"))?;
        let p = self.proof.as_ref().ok_or("no inclusion proof")?;
        let leaf = leaf_hash(&self.body);
        if p.log_index >= p.tree_size
            || !verify_inclusion(p.log_index, p.tree_size, &leaf, &p.hashes, &p.root)
        {
            return Err("the inclusion proof does not lead from the body to its root".into());
        }
        checkpoint(&p.checkpoint, p.tree_size, &p.root, &log.log_id, &log.key)?;
        Ok(format!(
            "log entry {} (integrated {}): promise and inclusion proof (tree size {}) verify with the trusted log key",
            self.log_index,
            crate::time::format(self.integrated_time),
            p.tree_size
        ))
    }
}

/// A checkpoint (signed note) names `size` and `root` and carries a signature by the log's key
/// (the first 4 bytes of the signature line are the log id's first 4).
fn checkpoint(
    text: &str,
    size: u64,
    root: &Hash,
    log_id: &[u8],
    key: &p256::ecdsa::VerifyingKey,
) -> Result<(), String> {
    let (note, sigs) = text
        .split_once("\n\n")
        .ok_or("checkpoint: no signature block")?;
    let note = format!("{note}\n");
    let mut lines = note.lines();
    let _origin = lines.next().ok_or("checkpoint: empty")?;
    let n: u64 = lines
        .next()
        .and_then(|l| l.parse().ok())
        .ok_or("checkpoint: no tree size")?;
    let r = lines
        .next()
        .and_then(b64_decode)
        .ok_or("checkpoint: no root hash")?;
    if n != size || r != root[..] {
        return Err(format!(
            "checkpoint: names tree size {n} and a root other than the proof's (size {size})"
        ));
    }
    for line in sigs.lines() {
        let Some(sig) = line
            .strip_prefix("\u{2014} ")
            .and_then(|l| l.rsplit(' ').next())
            .and_then(b64_decode)
        else {
            continue;
        };
        if sig.len() > 4
            && sig[..4] == log_id[..4]
            && verify_sha256(key, note.as_bytes(), &sig[4..]).is_ok()
        {
            return Ok(());
        }
    }
    Err("checkpoint: no valid signature by the trusted log key".into())
}

/// The Rekor `dsse` v0.0.1 proposed entry for an envelope signed with a certificate:
/// `spec.proposedContent` with the envelope as a JSON string and the certificate's PEM
/// (base64) as its public key. Rekor computes and stores the rest (`envelopeHash`,
/// `payloadHash`, `signatures`) and refuses a proposal that carries them.
pub fn dsse_proposal(env_json: &[u8], cert_pem: &str) -> Vec<u8> {
    let v = json!({
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "proposedContent": {
                "envelope": String::from_utf8_lossy(env_json),
                "publicKeys": [b64(cert_pem.as_bytes())],
            },
        },
    });
    serde_json::to_vec(&v).expect("json")
}

/// What a stored `dsse` body says: the one signature and its public key (base64 of a PEM),
/// and the payload's SHA-256 hex.
pub fn read_dsse_entry(body: &[u8]) -> Result<(Vec<u8>, String, String), String> {
    let v = crate::json::value(body, 1 << 20).map_err(|e| format!("not JSON: {e}"))?;
    if v["kind"] != "dsse" || v["apiVersion"] != "0.0.1" {
        return Err("not a Rekor dsse 0.0.1 entry".into());
    }
    let sigs = v
        .pointer("/spec/signatures")
        .and_then(Value::as_array)
        .filter(|a| a.len() == 1)
        .ok_or("spec.signatures: expected exactly one")?;
    let sig = sigs[0]["signature"]
        .as_str()
        .and_then(b64_decode)
        .ok_or("spec.signatures[0].signature: not base64")?;
    let verifier = sigs[0]["publicKey"]
        .as_str()
        .and_then(b64_decode)
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or("spec.signatures[0].publicKey: not base64 of text")?;
    let payload = v
        .pointer("/spec/payloadHash/value")
        .and_then(Value::as_str)
        .ok_or("spec.payloadHash.value: missing")?
        .to_string();
    Ok((sig, verifier, payload))
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::{signature::Signer, Signature, SigningKey};

    #[test]
    fn checkpoint_needs_its_size_root_and_the_log_signature() {
        let sk = SigningKey::from_slice(&[7u8; 32]).unwrap();
        let log_id = [1u8, 2, 3, 4, 5];
        let root: Hash = [9u8; 32];
        let note = format!("log.test - 1\n3\n{}\nTimestamp: 1\n", b64(&root));
        let sig: Signature = sk.sign(note.as_bytes());
        let mut hint = log_id[..4].to_vec();
        hint.extend_from_slice(sig.to_der().as_bytes());
        let text = format!("{note}\n\u{2014} log.test {}\n", b64(&hint));
        let vk = sk.verifying_key();
        assert!(checkpoint(&text, 3, &root, &log_id, vk).is_ok());
        assert!(checkpoint(&text, 4, &root, &log_id, vk).is_err());
        assert!(checkpoint(&text, 3, &[8u8; 32], &log_id, vk).is_err());
        assert!(checkpoint(&text, 3, &root, &[0u8; 5], vk).is_err());
        let other = SigningKey::from_slice(&[8u8; 32]).unwrap();
        assert!(checkpoint(&text, 3, &root, &log_id, other.verifying_key()).is_err());
        assert!(checkpoint(
            &text.replace("Timestamp: 1", "Timestamp: 2"),
            3,
            &root,
            &log_id,
            vk
        )
        .is_err());
    }

    #[test]
    fn unhex_refuses_odd_and_non_hex() {
        assert_eq!(unhex("0aff"), Some(vec![0x0a, 0xff]));
        assert_eq!(unhex("0af"), None);
        assert_eq!(unhex("zz"), None);
    }
}
