//! Keyless signing (issue 14): relsign's own Sigstore session against a Fulcio and a Rekor
//! named by URL, and the verification of its bundles against a trusted root and the policy's
//! keyless identities.
//!
//! Signing ([`sign_release`], `relsign sign-keyless`, `relsign release --keyless`): an
//! ephemeral P-256 key gets a Fulcio certificate for the OIDC token's identity and, as an
//! [`crate::attest::Signer`] through `crate::release::sign_all` (the path a release key takes),
//! signs the provenance statement, one PEP 740 publish statement per file artifact and each
//! named statement as DSSE envelopes, logs each signature in Rekor (`dsse` 0.0.1) and writes
//! one Sigstore bundle v0.3 each under `attestations/keyless/`. A key-signed release is
//! co-signed; on an unsigned one it writes the provenance statement (a keyless-only release).
//!
//! Verifying ([`verify_bundle`], used by `relsign verify` when the policy has a `keyless`
//! section, where a verified bundle counts toward the thresholds like a key), in this order:
//! the certificate is issued by a CA of the policy's trusted root; it carries an SCT by a CT
//! log of the trusted root that verifies over its precertificate ([`sct`]); it allows code
//! signing; its SAN and OIDC issuer extension equal one of the policy's identities; the DSSE signature over the PAE verifies with its key; the Rekor entry's promise
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
//! attestations with sigstore-js; both refuse a root whose CT log is another. Not checked by
//! relsign: the token's signature (Fulcio's job). relsign proposes
//! the `dsse` entry as Rekor's schema asks (`proposedContent` only); the stand-in computes the
//! stored entry from it as Rekor does. No real Fulcio or Rekor has been tried.

pub mod bundle;
pub mod cert;
mod error;
mod names;
pub mod pep740;
pub mod root;
pub mod sct;
pub mod session;
pub mod tlog;

use crate::attest;
use crate::dsse::{pae, Envelope};
use crate::fsutil;
use crate::report::Reporter;
use bundle::KeylessBundle;
use cert::{pem_certs, verify_sha256, Cert};
use root::TrustedRoot;
use std::path::{Path, PathBuf};

pub use error::KeylessError;
pub use names::{
    artifact_bundle, keyless_dir, statement_bundle, Identity, KEYLESS_DIR, PROVENANCE_BUNDLE,
};

/// What [`sign_release`] did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeylessOutcome {
    pub identity: Identity,
    pub bundles: Vec<PathBuf>,
    pub log_indexes: Vec<u64>,
    /// True when this signature created the provenance statement (a keyless-only release).
    pub created_statement: bool,
}

/// A keyless session as a release [`attest::Signer`]: each statement is signed as a DSSE
/// envelope over the same payload, logged in Rekor, and written as a Sigstore bundle under
/// `attestations/keyless/`; the release's own envelope is left as it is.
struct KeylessSigner<'s> {
    session: &'s session::Session,
    bundles: Vec<PathBuf>,
    log_indexes: Vec<u64>,
    r: &'s dyn Reporter,
}

impl attest::Signer for KeylessSigner<'_> {
    fn sign(
        &mut self,
        dir: &Path,
        what: attest::Signing,
        env: &mut Envelope,
    ) -> Result<PathBuf, attest::AttestError> {
        let name = match what {
            attest::Signing::Provenance => PROVENANCE_BUNDLE.to_string(),
            attest::Signing::Artifact(file) => artifact_bundle(file),
            attest::Signing::Statement(n) => statement_bundle(n),
        };
        self.r.step(&format!("keyless: signing and logging {name}"));
        let b = self
            .session
            .sign_dsse(&env.payload_type, env.payload.clone())
            .map_err(|e| attest::AttestError::Signer(e.to_string()))?;
        let path = keyless_dir(dir).join(&name);
        fsutil::write_atomic(&path, &b.to_json())?;
        self.log_indexes.push(b.entry.log_index);
        self.bundles.push(path.clone());
        Ok(path)
    }
    fn id(&self) -> String {
        self.session.identity().to_string()
    }
}

/// Sign a release keyless: everything `relsign sign` signs (the provenance statement, one
/// publish statement per file artifact, the test-result, vulnerability and SBOM statements),
/// each logged in Rekor, through the same path as a release key (`crate::release::sign_all`,
/// with its checks before anything is signed). A key-signed release is co-signed; an unsigned
/// one gets its provenance statement here (a keyless-only release).
pub fn sign_release(
    dir: &Path,
    fulcio: &str,
    rekor: &str,
    token: &str,
    r: &dyn Reporter,
) -> Result<KeylessOutcome, KeylessError> {
    r.step(&format!("keyless: a certificate from {fulcio}"));
    let session = session::Session::start(fulcio, rekor, token)?;
    let mut signer = KeylessSigner {
        session: &session,
        bundles: Vec::new(),
        log_indexes: Vec::new(),
        r,
    };
    let (o, _) = crate::release::sign_all(dir, &mut signer, crate::time::now(), r)?;
    Ok(KeylessOutcome {
        identity: session.identity(),
        bundles: signer.bundles,
        log_indexes: signer.log_indexes,
        created_statement: o.created_statement,
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
    sct::verify_embedded(&leaf, ca, &root.ctlogs).map_err(|e| format!("certificate: {e}"))?;
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
