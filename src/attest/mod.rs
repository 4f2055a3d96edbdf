//! Statements, SLSA provenance, DSSE envelopes, Sigstore bundles, and `relsign sign`.
//!
//! Layout of a signed release directory:
//!
//! ```text
//! DIR/release.json
//! DIR/<artifacts>
//! DIR/attestations/provenance.dsse.json                 DSSE envelope, one signature per key
//! DIR/attestations/provenance.<fp>.sigstore.json        DSSE bundle, one per signature
//! DIR/attestations/<artifact file>.<fp>.sigstore.json   DSSE publish-statement bundle per key
//! DIR/attestations/<name>.dsse.json                     named statements (SBOMs, test result…)
//! DIR/attestations/<name>.<fp>.sigstore.json            their bundles, one per key
//! DIR/attestations/keyless/…                            keyless bundles (crate::keyless)
//! ```
//!
//! `<fp>` is the key's fingerprint: the first 16 hex digits of SHA-256(DER SPKI).

pub mod bundle;
pub mod error;
pub mod statement;

use crate::digest::Sha256Hex;
use crate::dsse;
use crate::fsutil;
use crate::keys::SecretKey;
use crate::model::{Artifact, ReleaseManifest};
use crate::report::Reporter;
use std::path::{Path, PathBuf};

pub const ATTESTATIONS_DIR: &str = "attestations";
pub const PROVENANCE_FILE: &str = "provenance.dsse.json";

pub use error::AttestError;

/// True for artifacts that are single files (they get per-file publish-statement bundles).
pub fn is_file_artifact(a: &Artifact) -> bool {
    a.kind != crate::model::ArtifactKind::OciImage
}

pub fn provenance_path(dir: &Path) -> PathBuf {
    dir.join(ATTESTATIONS_DIR).join(PROVENANCE_FILE)
}

pub fn provenance_bundle_name(fp: &str) -> String {
    format!("provenance.{fp}.sigstore.json")
}

pub fn artifact_bundle_name(file: &str, fp: &str) -> String {
    format!("{}.{fp}.sigstore.json", file.replace('/', "_"))
}

/// What a signature is over, so that a [`Signer`] can name what it writes.
#[derive(Debug, Clone, Copy)]
pub enum Signing<'a> {
    /// The provenance statement.
    Provenance,
    /// A file artifact's publish statement.
    Artifact(&'a str),
    /// A named statement (`attestations/<name>.dsse.json`).
    Statement(&'a str),
}

/// Who signs a release: a release key ([`KeySigner`]: its signature goes into the envelope,
/// and a Sigstore bundle beside it) or a keyless session (`crate::keyless`: a Sigstore bundle
/// with its certificate and log entry under `attestations/keyless/`, the envelope unchanged).
/// [`sign_release`] and `crate::release::sign_all` are the same for both.
pub trait Signer {
    /// Sign `env` as `what`, in the release directory `dir`: returns the bundle written. The
    /// caller writes the envelope after the bundle.
    fn sign(
        &mut self,
        dir: &Path,
        what: Signing,
        env: &mut dsse::Envelope,
    ) -> Result<PathBuf, AttestError>;
    /// The signer as reports name it: a key id, or a keyless identity.
    fn id(&self) -> String;
}

/// A release key as a [`Signer`].
pub struct KeySigner<'k>(pub &'k SecretKey);

impl Signer for KeySigner<'_> {
    fn sign(
        &mut self,
        dir: &Path,
        what: Signing,
        env: &mut dsse::Envelope,
    ) -> Result<PathBuf, AttestError> {
        env.sign(self.0);
        let pk = self.0.public();
        let fp = pk.fingerprint();
        let name = match what {
            Signing::Provenance => provenance_bundle_name(&fp),
            Signing::Artifact(file) => artifact_bundle_name(file, &fp),
            Signing::Statement(n) => format!("{n}.{fp}.sigstore.json"),
        };
        let b = bundle::Bundle::dsse(env, pk.key_id()).expect("just signed");
        let path = dir.join(ATTESTATIONS_DIR).join(name);
        fsutil::write_atomic(&path, &b.to_json())?;
        Ok(path)
    }
    fn id(&self) -> String {
        self.0.public().key_id().to_string()
    }
}

/// What `relsign sign` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SignOutcome {
    pub release: String,
    pub version: String,
    /// The signer: a key id, or a keyless identity.
    pub key_id: String,
    pub envelope: PathBuf,
    /// Distinct key signers of the envelope after this signature.
    pub signatures: usize,
    /// True when this signature created the statement (the first signer).
    pub created_statement: bool,
    pub bundles: Vec<PathBuf>,
}

/// Check each artifact's bytes against release.json's digest.
fn check_artifacts(dir: &Path, m: &ReleaseManifest, r: &dyn Reporter) -> Result<(), AttestError> {
    r.step(&format!(
        "checking the {} artifacts of {} {}",
        m.artifacts.len(),
        m.name,
        m.version
    ));
    for a in &m.artifacts {
        let p = a.digest_path(dir);
        let (got, _) = crate::digest::hash_file(&p).map_err(fsutil::err("read", &p))?;
        if got != a.sha256 {
            return Err(AttestError::Digest {
                file: p,
                expected: a.sha256.clone(),
                got,
            });
        }
    }
    Ok(())
}

/// The existing provenance envelope, when it describes this release.
fn existing_provenance(
    env_path: &Path,
    m: &ReleaseManifest,
) -> Result<dsse::Envelope, AttestError> {
    let env =
        dsse::Envelope::from_json(&fsutil::read(env_path)?).map_err(|e| AttestError::Format {
            file: env_path.to_path_buf(),
            reason: e.to_string(),
        })?;
    let prov = statement::parse_provenance(&env.payload).map_err(|e| AttestError::Format {
        file: env_path.to_path_buf(),
        reason: e,
    })?;
    let want: Vec<(String, Sha256Hex)> = m
        .artifacts
        .iter()
        .map(|a| (a.file.clone(), a.sha256.clone()))
        .collect();
    let have: Vec<(String, Sha256Hex)> = prov
        .subjects
        .iter()
        .map(|s| (s.name.clone(), s.sha256.clone()))
        .collect();
    if want != have || prov.name != m.name || prov.version != m.version {
        return Err(AttestError::Mismatch {
            file: env_path.to_path_buf(),
            reason: format!(
                "provenance: {} {} with {} subjects; release.json: {} {} with {} artifacts",
                prov.name,
                prov.version,
                have.len(),
                m.name,
                m.version,
                want.len()
            ),
        });
    }
    Ok(env)
}

/// Sign a release directory with `signer`: create the provenance statement (first signer) or
/// sign the existing one (co-signer), and sign one publish statement per artifact file.
/// `signed_on` is the self-asserted signing time recorded in a new statement; a co-signer signs
/// the existing statement as it is.
pub fn sign_release(
    dir: &Path,
    signer: &mut dyn Signer,
    signed_on: i64,
    r: &dyn Reporter,
) -> Result<SignOutcome, AttestError> {
    let m: ReleaseManifest = crate::reldir::read_release(dir)?;
    check_artifacts(dir, &m, r)?;
    let env_path = provenance_path(dir);
    let (mut env, created) = if env_path.exists() {
        r.info("adding a signature to the existing provenance");
        (existing_provenance(&env_path, &m)?, false)
    } else {
        r.step("writing the SLSA provenance statement");
        let st = statement::provenance(dir, &m, signed_on)?;
        let payload = crate::model::canonical_json(&st);
        (
            dsse::Envelope::new(dsse::INTOTO_PAYLOAD_TYPE, payload),
            true,
        )
    };
    let mut bundles = vec![signer.sign(dir, Signing::Provenance, &mut env)?];
    for a in m.artifacts.iter().filter(|a| is_file_artifact(a)) {
        r.step(&format!("signing {}", a.file));
        let p = a.digest_path(dir);
        let (sha, _) = crate::digest::hash_file(&p).map_err(fsutil::err("read", &p))?;
        if sha != a.sha256 {
            return Err(AttestError::Digest {
                file: p,
                expected: a.sha256.clone(),
                got: sha,
            });
        }
        // A DSSE publish statement (PEP 740's shape) naming the file and its SHA-256: one hash
        // pass for the verifier, and a bundle every Sigstore verifier accepts.
        let st = statement::publish_statement(&a.file, &sha);
        let mut one =
            dsse::Envelope::new(dsse::INTOTO_PAYLOAD_TYPE, crate::model::canonical_json(&st));
        bundles.push(signer.sign(dir, Signing::Artifact(&a.file), &mut one)?);
    }
    // The envelope last: a reader never sees a signature whose bundles are missing.
    fsutil::write_atomic(&env_path, &env.to_json())?;
    let signers: std::collections::BTreeSet<&str> =
        env.signatures.iter().map(|s| s.keyid.as_str()).collect();
    Ok(SignOutcome {
        release: m.name,
        version: m.version,
        key_id: signer.id(),
        envelope: env_path,
        signatures: signers.len(),
        created_statement: created,
        bundles,
    })
}

/// The raw 32 bytes of a hex digest.
pub fn sha2_bytes(d: &Sha256Hex) -> Vec<u8> {
    let s = d.as_str().as_bytes();
    let val = |c: u8| match c {
        b'0'..=b'9' => c - b'0',
        _ => c - b'a' + 10,
    };
    s.chunks(2).map(|p| val(p[0]) << 4 | val(p[1])).collect()
}
