//! Keyless signing (feature `keyless`, off by default): Fulcio certificates and Rekor entries
//! through the `sigstore` crate, against the public-good Sigstore instance.
//!
//! What it does: with an OIDC identity token (`SIGSTORE_ID_TOKEN`), it signs each artifact
//! file and the provenance statement's payload as *message signatures* (hashedrekord), and
//! writes `attestations/<file>.keyless.sigstore.json` bundles with the Fulcio certificate and
//! the Rekor entry. The sigstore crate (0.15) signs message digests only; it has no DSSE
//! signing, so the provenance is signed as a message (its canonical payload bytes), written to
//! `attestations/provenance.payload.json` beside the bundle.
//!
//! What is tested: that it compiles (`cargo check --features keyless`). The public-good
//! instance cannot be reached from relsign's build machines, so no keyless signature is made
//! or verified in the tests, and `relsign verify` does not accept keyless bundles (the trust
//! policy names keys, not identities). See the README, "Keyless".
//!
//! Local stand-ins cannot be used through this code either: `SigningContext::new` takes a
//! `Keyring` from the crate-private `sigstore::crypto::keyring`, so only `production()` (the
//! public-good URLs and trust root) can be built from outside the crate.

use crate::attest;
use crate::dsse::Envelope;
use crate::fsutil::{self, FsError};
use crate::report::Reporter;
use sigstore::bundle::sign::SigningContext;
use sigstore::oauth::IdentityToken;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum KeylessError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    Attest(#[from] attest::AttestError),
    #[error("keyless signing: {context}: {source}")]
    Sigstore {
        context: String,
        #[source]
        source: sigstore::errors::SigstoreError,
    },
    #[error("{0}")]
    Other(String),
}

fn ss(context: &str) -> impl FnOnce(sigstore::errors::SigstoreError) -> KeylessError + '_ {
    move |source| KeylessError::Sigstore {
        context: context.to_string(),
        source,
    }
}

/// Sign the release's artifact files and provenance payload with a Fulcio certificate for
/// `id_token`; returns the bundles written.
pub fn sign_keyless(
    dir: &Path,
    id_token: &str,
    r: &dyn Reporter,
) -> Result<Vec<PathBuf>, KeylessError> {
    let m = crate::reldir::read_release(dir).map_err(attest::AttestError::from)?;
    let env_path = attest::provenance_path(dir);
    let env = Envelope::from_json(&fsutil::read(&env_path)?).map_err(|e| {
        KeylessError::Other(format!(
            "{}: {e} (sign with a key first: the statement is created by `relsign sign`)",
            env_path.display()
        ))
    })?;
    r.step("keyless: fetching the Sigstore trust root");
    let ctx = SigningContext::production().map_err(ss("the production trust root"))?;
    let token = IdentityToken::try_from(id_token).map_err(ss("the identity token"))?;
    let session = ctx
        .blocking_signer(token)
        .map_err(ss("a Fulcio certificate"))?;
    let att = dir.join(attest::ATTESTATIONS_DIR);
    let mut written = Vec::new();
    let payload_path = att.join("provenance.payload.json");
    fsutil::write_atomic(&payload_path, &env.payload)?;
    let mut items: Vec<(String, PathBuf)> = vec![("provenance".into(), payload_path)];
    for a in m.artifacts.iter().filter(|a| attest::is_file_artifact(a)) {
        items.push((a.file.replace('/', "_"), a.digest_path(dir)));
    }
    for (name, path) in items {
        r.step(&format!("keyless: signing {}", path.display()));
        let f = std::fs::File::open(&path).map_err(fsutil::err("open", &path))?;
        let art = session.sign(f).map_err(ss("signing"))?;
        let bundle = art.to_bundle();
        let json = serde_json::to_vec_pretty(&bundle)
            .map_err(|e| KeylessError::Other(format!("serializing the bundle: {e}")))?;
        let out = att.join(format!("{name}.keyless.sigstore.json"));
        fsutil::write_atomic(&out, &json)?;
        written.push(out);
    }
    Ok(written)
}
