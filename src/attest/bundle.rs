//! Sigstore bundle v0.3 (protobuf JSON mapping: camelCase, standard base64 bytes) for keys
//! that are not in a certificate: `verificationMaterial.publicKey.hint` is the key id.
//!
//! * A DSSE bundle holds an envelope with exactly one signature, whose `keyid` equals the hint.
//! * A message-signature bundle holds `messageDigest {algorithm: SHA2_256, digest}` and the
//!   signature. For Ed25519 the signature is pure Ed25519 over the **file bytes** (Ed25519
//!   cannot sign a prehash without becoming Ed25519ph); `messageDigest` is the file's SHA-256,
//!   which the verifier checks too. relsign no longer writes these (a file's bundle is now a
//!   DSSE publish statement, which sigstore-js accepts); they are read for older releases.
//!
//! No timestamp is included. A provenance bundle gets its transparency-log entry
//! (`verificationMaterial.tlogEntries`) when the release is logged: see
//! [`crate::tlog::rekor`]; reading ignores it (relsign checks its own `.tlog-proof`).

use crate::dsse::{b64, b64_decode, Envelope};
use crate::intoto::{
    BundleJson, MessageDigestJson, MessageSignatureJson, PublicKeyHint, VerificationMaterial,
};

pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// What a bundle holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Dsse(Envelope),
    Message { sha256: Vec<u8>, signature: Vec<u8> },
}

/// A parsed bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    pub hint: String,
    pub content: Content,
}

impl Bundle {
    /// A DSSE bundle for one signature of `env`.
    pub fn dsse(env: &Envelope, keyid: &str) -> Option<Bundle> {
        let sig = env.signatures.iter().find(|s| s.keyid == keyid)?;
        let mut one = env.clone();
        one.signatures = vec![sig.clone()];
        Some(Bundle {
            hint: keyid.to_string(),
            content: Content::Dsse(one),
        })
    }

    /// The JSON form: pretty, with a trailing newline.
    pub fn to_json(&self) -> Vec<u8> {
        let (dsse_envelope, message_signature) = match &self.content {
            Content::Dsse(env) => (Some(env.to_json_value()), None),
            Content::Message { sha256, signature } => (
                None,
                Some(MessageSignatureJson {
                    message_digest: MessageDigestJson {
                        algorithm: "SHA2_256".into(),
                        digest: Some(b64(sha256)),
                    },
                    signature: Some(b64(signature)),
                }),
            ),
        };
        let v = BundleJson {
            dsse_envelope,
            media_type: BUNDLE_MEDIA_TYPE.into(),
            message_signature,
            verification_material: VerificationMaterial {
                public_key: PublicKeyHint {
                    hint: Some(self.hint.clone()),
                },
            },
        };
        let mut out = serde_json::to_vec_pretty(&v).expect("json");
        out.push(b'\n');
        out
    }

    /// Parse and check the shape: media type, hint, exactly one DSSE signature whose key id is
    /// the hint, or a SHA2_256 message digest of 32 bytes.
    pub fn from_json(bytes: &[u8]) -> Result<Bundle, String> {
        // Through the strict reader (size, depth, duplicate keys), then typed.
        let v: BundleJson = crate::json::value(bytes, crate::json::limit::STATEMENT)
            .map_err(|e| format!("not JSON: {e}"))
            .and_then(|v| serde_json::from_value(v).map_err(|e| format!("not a bundle: {e}")))?;
        let mt = v.media_type.as_str();
        if mt != BUNDLE_MEDIA_TYPE {
            return Err(format!("mediaType: expected={BUNDLE_MEDIA_TYPE}, got={mt}"));
        }
        let hint = v
            .verification_material
            .public_key
            .hint
            .ok_or("verificationMaterial.publicKey.hint: missing")?;
        let content = match (v.dsse_envelope, v.message_signature) {
            (Some(ej), None) => {
                let env =
                    Envelope::from_json_value(ej).map_err(|e| format!("dsseEnvelope: {e}"))?;
                if env.signatures.len() != 1 {
                    return Err(format!(
                        "dsseEnvelope: expected=1 signature, got={}",
                        env.signatures.len()
                    ));
                }
                if env.signatures[0].keyid != hint {
                    return Err(format!(
                        "dsseEnvelope.signatures[0].keyid: expected={hint} (the hint), got={}",
                        env.signatures[0].keyid
                    ));
                }
                Content::Dsse(env)
            }
            (None, Some(m)) => {
                let alg = m.message_digest.algorithm.as_str();
                if alg != "SHA2_256" {
                    return Err(format!(
                        "messageSignature.messageDigest.algorithm: expected=SHA2_256, got={alg}"
                    ));
                }
                let sha256 = m
                    .message_digest
                    .digest
                    .as_deref()
                    .and_then(b64_decode)
                    .filter(|d| d.len() == 32)
                    .ok_or("messageSignature.messageDigest.digest: not 32 bytes of base64")?;
                let signature = m
                    .signature
                    .as_deref()
                    .and_then(b64_decode)
                    .ok_or("messageSignature.signature: not base64")?;
                Content::Message { sha256, signature }
            }
            _ => return Err("needs exactly one of dsseEnvelope and messageSignature".into()),
        };
        Ok(Bundle { hint, content })
    }
}
