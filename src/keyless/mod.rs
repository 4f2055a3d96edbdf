//! Keyless signing (issue 14): relsign's own Sigstore session against a Fulcio and a Rekor
//! named by URL, and the verification of its bundles against a trusted root and the policy's
//! keyless identities.
//!
//! Signing ([`sign_release`], `relsign sign-keyless`): after `relsign sign` (the release keys
//! make the provenance statement), an ephemeral P-256 key gets a Fulcio certificate for the
//! OIDC token's identity, signs the provenance statement and one PEP 740 publish statement
//! per file artifact as DSSE envelopes, logs each signature in Rekor (`dsse` 0.0.1) and
//! writes one Sigstore bundle v0.3 each under `attestations/keyless/`.
//!
//! Verifying ([`verify_bundle`], used by `relsign verify` when the policy has a `keyless`
//! section), in this order: the certificate is issued by a CA of the policy's trusted root and
//! allows code signing; its SAN and OIDC issuer extension equal one of the policy's
//! identities; the DSSE signature over the PAE verifies with its key; the Rekor entry's promise
//! and inclusion proof verify with the trusted log key, and its body records this signature,
//! this certificate and this payload; only then is its integrated time used: it must lie within
//! the certificate's and the CA's validity.
//!
//! Publishing ([`pep740`]): a keyless-signed sdist or wheel is uploaded with PEP 740's
//! `attestations` field.
//!
//! What is tested (tests/keyless.rs, in `cargo xtask test`): the whole path against local
//! stand-ins of Fulcio and Rekor (npm's `@sigstore/mock` in tests/js/sigstore_standin.mjs, on
//! loopback) with a token the test makes; `relsign verify` and sigstore-js accept the result,
//! both refuse altered bundles, another identity and another CA; relsign refuses a swapped or
//! missing bundle; an index stand-in (tests/js/pep740_index.mjs) verifies the uploads'
//! attestations with sigstore-js. Not checked by relsign: the certificate's embedded SCT
//! (sigstore-js checks it in the test); the token's signature (Fulcio's job). relsign proposes
//! the `dsse` entry as Rekor's schema asks (`proposedContent` only); the stand-in computes the
//! stored entry from it as Rekor does. No real Fulcio or Rekor has been tried.

pub mod bundle;
pub mod cert;
mod error;
mod names;
pub mod pep740;
pub mod root;
pub mod session;
pub mod tlog;

use crate::attest::{self, statement};
use crate::dsse::{pae, Envelope, INTOTO_PAYLOAD_TYPE};
use crate::fsutil;
use crate::report::Reporter;
use bundle::KeylessBundle;
use cert::{pem_certs, verify_sha256, Cert};
use root::TrustedRoot;
use std::path::{Path, PathBuf};

pub use error::KeylessError;
pub use names::{artifact_bundle, keyless_dir, Identity, KEYLESS_DIR, PROVENANCE_BUNDLE};

/// What [`sign_release`] did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeylessOutcome {
    pub identity: Identity,
    pub bundles: Vec<PathBuf>,
    pub log_indexes: Vec<u64>,
}

/// Sign a key-signed release keyless: the provenance statement and one publish statement per
/// file artifact, each logged in Rekor.
pub fn sign_release(
    dir: &Path,
    fulcio: &str,
    rekor: &str,
    token: &str,
    r: &dyn Reporter,
) -> Result<KeylessOutcome, KeylessError> {
    let m = crate::reldir::read_release(dir).map_err(attest::AttestError::from)?;
    let env_path = attest::provenance_path(dir);
    if !env_path.is_file() {
        return Err(KeylessError::Other(format!(
            "{}: no provenance statement; sign with a release key first (`relsign sign`)",
            env_path.display()
        )));
    }
    let env = Envelope::from_json(&fsutil::read(&env_path)?)
        .map_err(|e| KeylessError::Other(format!("{}: {e}", env_path.display())))?;
    r.step(&format!("keyless: a certificate from {fulcio}"));
    let s = session::Session::start(fulcio, rekor, token)?;
    let out_dir = keyless_dir(dir);
    let mut items = vec![(
        PROVENANCE_BUNDLE.to_string(),
        env.payload_type.clone(),
        env.payload,
    )];
    for a in m.artifacts.iter().filter(|a| attest::is_file_artifact(a)) {
        let p = a.digest_path(dir);
        let (sha, _) = fsutil::hash_regular(&p)?;
        if sha != a.sha256 {
            return Err(attest::AttestError::Digest {
                file: p,
                expected: a.sha256.clone(),
                got: sha,
            }
            .into());
        }
        let st = statement::publish_statement(&a.file, &sha);
        items.push((
            artifact_bundle(&a.file),
            INTOTO_PAYLOAD_TYPE.to_string(),
            crate::model::canonical_json(&st),
        ));
    }
    let mut bundles = Vec::new();
    let mut log_indexes = Vec::new();
    for (name, ptype, payload) in items {
        r.step(&format!("keyless: signing and logging {name}"));
        let b = s.sign_dsse(&ptype, payload)?;
        let path = out_dir.join(&name);
        fsutil::write_atomic(&path, &b.to_json())?;
        log_indexes.push(b.entry.log_index);
        bundles.push(path);
    }
    Ok(KeylessOutcome {
        identity: Identity {
            issuer: s.issuer.clone(),
            subject: s.subject.clone(),
        },
        bundles,
        log_indexes,
    })
}

/// What [`verify_bundle`] accepted.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub identity: Identity,
    pub log_index: u64,
    pub integrated_time: i64,
}

/// The CA of the trusted root that issued `leaf` (the leaf's signature verifies with the first
/// certificate of its chain).
fn issuing_ca<'r>(leaf: &Cert, root: &'r TrustedRoot) -> Result<&'r Cert, String> {
    root.cas
        .iter()
        .map(|chain| &chain[0])
        .find(|ca| leaf.verify_issued_by(ca).is_ok())
        .ok_or_else(|| "it is not issued by a certificate authority of the trusted root".into())
}

/// `at` lies within `c`'s validity.
fn valid_at(c: &Cert, at: i64, what: &str) -> Result<(), String> {
    if at < c.not_before || at > c.not_after {
        return Err(format!(
            "the integrated time {} is outside the {what}'s validity ({} to {})",
            crate::time::format(at),
            crate::time::format(c.not_before),
            crate::time::format(c.not_after)
        ));
    }
    Ok(())
}

/// Verify one keyless bundle against the trusted root and the identities (see the module
/// documentation for the checks, in order). Returns the identity and the log entry.
pub fn verify_bundle(
    b: &KeylessBundle,
    root: &TrustedRoot,
    identities: &[Identity],
) -> Result<Accepted, String> {
    let leaf = Cert::from_der(&b.cert_der).map_err(|e| format!("certificate: {e}"))?;
    let ca = issuing_ca(&leaf, root).map_err(|e| format!("certificate: {e}"))?;
    if !leaf.code_signing {
        return Err("certificate: its extended key usage does not allow code signing".into());
    }
    let issuer = leaf.issuer.clone().unwrap_or_default();
    let identity = identities
        .iter()
        .find(|i| i.issuer == issuer && leaf.san.contains(&i.subject))
        .ok_or_else(|| {
            format!(
                "certificate: identity {} (issuer {issuer}) is not a keyless identity of the policy",
                leaf.san.join(", ")
            )
        })?;
    let sig = &b.env.signatures[0].sig;
    verify_sha256(&leaf.key, &pae(&b.env.payload_type, &b.env.payload), sig)
        .map_err(|e| format!("the DSSE signature over the PAE: {e}"))?;
    // The log entry verifies before its integrated time is used.
    b.entry
        .verify(root)
        .map_err(|e| format!("transparency log: {e}"))?;
    let (logged_sig, verifier, payload_hash) =
        tlog::read_dsse_entry(&b.entry.body).map_err(|e| format!("transparency log body: {e}"))?;
    let logged_cert = pem_certs(&verifier).ok().and_then(|c| c.into_iter().next());
    if logged_sig != *sig
        || logged_cert.as_deref() != Some(&b.cert_der[..])
        || payload_hash != crate::digest::Sha256Hex::of(&b.env.payload).as_str()
    {
        return Err(
            "transparency log body: it does not record this signature, certificate and payload"
                .into(),
        );
    }
    let at = b.entry.integrated_time;
    valid_at(&leaf, at, "certificate")?;
    valid_at(ca, at, "issuing CA certificate")?;
    Ok(Accepted {
        identity: identity.clone(),
        log_index: b.entry.log_index,
        integrated_time: at,
    })
}
