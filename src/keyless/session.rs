//! A keyless signing session: an ephemeral ECDSA P-256 key, a Fulcio certificate for it and
//! the OIDC identity (`POST {fulcio}/api/v2/signingCert`, the token as credential and a proof
//! of possession: the key's signature over the token's subject), then per DSSE envelope a
//! signature over the PAE and a Rekor entry (`POST {rekor}/api/v1/log/entries`). The key
//! lives in memory only, for the session.

use super::bundle::KeylessBundle;
use super::cert::{pem, pem_certs, spki_der, Cert};
use super::error::KeylessError;
use super::tlog::{dsse_proposal, Entry};
use crate::dsse::{b64, b64_decode, Envelope};
use crate::http::Client;
use p256::ecdsa::{signature::Signer, Signature, SigningKey};
use serde_json::{json, Value};

/// The identity an OIDC token claims (`iss`, `sub`), read without verifying the token:
/// Fulcio verifies it; relsign only needs the subject for the proof of possession and to check
/// the certificate it gets back.
pub fn token_claims(token: &str) -> Result<(String, String), KeylessError> {
    let bad = |r: &str| KeylessError::Token(r.to_string());
    let mut parts = token.trim().split('.');
    let claims = parts
        .nth(1)
        .and_then(b64_decode)
        .ok_or_else(|| bad("not a JWT (header.claims.signature)"))?;
    let v = crate::json::value(&claims, 64 << 10).map_err(|e| bad(&format!("claims: {e}")))?;
    let s = |k: &str| v[k].as_str().filter(|s| !s.is_empty()).map(str::to_string);
    let iss = s("iss").ok_or_else(|| bad("claims: no iss"))?;
    let sub = s("email")
        .or_else(|| s("sub"))
        .ok_or_else(|| bad("claims: no sub"))?;
    Ok((iss, sub))
}

pub struct Session {
    key: SigningKey,
    pub cert: Cert,
    pub cert_pem: String,
    pub issuer: String,
    pub subject: String,
    rekor: String,
    client: Client,
}

fn post(
    client: &Client,
    url: &str,
    auth: Option<&str>,
    body: Vec<u8>,
) -> Result<Vec<u8>, KeylessError> {
    let svc = |reason: String| KeylessError::Service {
        url: url.to_string(),
        reason,
    };
    let resp = client
        .send_once("POST", url, &|| {
            let mut rq = client
                .client()
                .post(url)
                .header("content-type", "application/json")
                .header("accept", "application/json")
                .body(body.clone());
            if let Some(t) = auth {
                rq = rq.bearer_auth(t);
            }
            Ok(rq)
        })
        .map_err(|e| svc(e.to_string()))?;
    let status = resp.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(svc(
            crate::http::HttpError::status("POST", url, resp).to_string()
        ));
    }
    // An answer over 1 MiB is refused without being read whole.
    crate::http::read_body(resp, "POST", url, 1 << 20).map_err(|e| svc(e.to_string()))
}

impl Session {
    /// A new key and its Fulcio certificate for `token`.
    pub fn start(fulcio: &str, rekor: &str, token: &str) -> Result<Session, KeylessError> {
        let (issuer, subject) = token_claims(token)?;
        let key = loop {
            let mut seed = zeroize::Zeroizing::new([0u8; 32]);
            getrandom::fill(&mut seed[..])
                .map_err(|e| KeylessError::Other(format!("getrandom: {e}")))?;
            if let Ok(k) = SigningKey::from_slice(&seed[..]) {
                break k;
            }
        };
        let public_pem = pem("PUBLIC KEY", &spki_der(key.verifying_key()));
        let pop: Signature = key.sign(subject.as_bytes());
        let req = json!({
            "credentials": {"oidcIdentityToken": token.trim()},
            "publicKeyRequest": {
                "publicKey": {"algorithm": "ECDSA", "content": public_pem},
                "proofOfPossession": b64(pop.to_der().as_bytes()),
            },
        });
        let client = Client::for_publish().map_err(|e| KeylessError::Other(e.to_string()))?;
        let url = crate::http::join(fulcio, "api/v2/signingCert");
        let answer = post(
            &client,
            &url,
            Some(token.trim()),
            serde_json::to_vec(&req).expect("json"),
        )?;
        let v = crate::json::value(&answer, 1 << 20).map_err(|e| KeylessError::Service {
            url: url.clone(),
            reason: format!("not JSON: {e}"),
        })?;
        let chain = [
            "signedCertificateEmbeddedSct",
            "signedCertificateDetachedSct",
        ]
        .iter()
        .find_map(|k| {
            v.pointer(&format!("/{k}/chain/certificates"))
                .and_then(Value::as_array)
        })
        .and_then(|a| a.first())
        .and_then(Value::as_str)
        .ok_or_else(|| KeylessError::Service {
            url: url.clone(),
            reason: "no certificate chain".into(),
        })?;
        let der = pem_certs(chain)
            .ok()
            .and_then(|c| c.into_iter().next())
            .ok_or_else(|| KeylessError::Service {
                url: url.clone(),
                reason: "the leaf is not a PEM certificate".into(),
            })?;
        let cert = Cert::from_der(&der).map_err(|e| KeylessError::Service {
            url: url.clone(),
            reason: e,
        })?;
        // What Fulcio certified must be this key and this identity.
        if cert.key != *key.verifying_key() || !cert.san.contains(&subject) {
            return Err(KeylessError::Service {
                url,
                reason: format!("the certificate is not for this key and subject {subject}"),
            });
        }
        Ok(Session {
            key,
            cert_pem: pem("CERTIFICATE", &der),
            cert,
            issuer,
            subject,
            rekor: rekor.to_string(),
            client,
        })
    }

    /// The identity the certificate is for.
    pub fn identity(&self) -> super::names::Identity {
        super::names::Identity {
            issuer: self.issuer.clone(),
            subject: self.subject.clone(),
        }
    }

    /// Sign `payload` as a DSSE envelope, log the signature in Rekor, and return the bundle.
    pub fn sign_dsse(
        &self,
        payload_type: &str,
        payload: Vec<u8>,
    ) -> Result<KeylessBundle, KeylessError> {
        let mut env = Envelope::new(payload_type, payload);
        let sig: Signature = self.key.sign(&env.pae());
        env.signatures.push(crate::dsse::EnvSignature {
            keyid: String::new(),
            sig: sig.to_der().as_bytes().to_vec(),
        });
        let env_json = serde_json::to_vec(&env.to_json_value()).expect("json");
        let body = dsse_proposal(&env_json, &self.cert_pem);
        let url = crate::http::join(&self.rekor, "api/v1/log/entries");
        let answer = post(&self.client, &url, None, body)?;
        let entry =
            Entry::from_rekor(&answer).map_err(|reason| KeylessError::Service { url, reason })?;
        Ok(KeylessBundle {
            env,
            cert_der: self.cert.der.clone(),
            entry,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        use base64::Engine as _;
        let e = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.sig", e(r#"{"alg":"none"}"#), e(claims))
    }

    #[test]
    fn token_claims_read_issuer_and_subject() {
        let (iss, sub) =
            token_claims(&jwt(r#"{"iss":"https://i.test","sub":"a@b.test"}"#)).unwrap();
        assert_eq!((iss.as_str(), sub.as_str()), ("https://i.test", "a@b.test"));
        // An e-mail claim is what Fulcio certifies for e-mail tokens.
        let (_, sub) = token_claims(&jwt(
            r#"{"iss":"https://i.test","sub":"123","email":"c@d.test"}"#,
        ))
        .unwrap();
        assert_eq!(sub, "c@d.test");
        for bad in [
            "not-a-jwt".to_string(),
            jwt(r#"{"sub":"a@b.test"}"#),
            jwt(r#"{"iss":"https://i.test"}"#),
            jwt(r#"{"iss":"https://i.test","iss":"https://j.test","sub":"x"}"#),
        ] {
            assert!(token_claims(&bad).is_err(), "{bad}");
        }
    }
}
