//! Where a release's keyless bundles are, and what an identity is.

use crate::attest;
use std::path::{Path, PathBuf};

/// Where the keyless bundles of a release are: `attestations/keyless/`.
pub const KEYLESS_DIR: &str = "keyless";
pub const PROVENANCE_BUNDLE: &str = "provenance.sigstore.json";

/// An OIDC identity: the issuer and the subject (the certificate's SAN), matched exactly.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (issuer {})", self.subject, self.issuer)
    }
}

pub fn keyless_dir(release: &Path) -> PathBuf {
    release.join(attest::ATTESTATIONS_DIR).join(KEYLESS_DIR)
}

/// A file artifact's keyless bundle name.
pub fn artifact_bundle(file: &str) -> String {
    format!("{}.sigstore.json", file.replace('/', "_"))
}

/// A named statement's keyless bundle name (`attestations/<name>.dsse.json` is signed by
/// `attestations/keyless/statements/<name>.sigstore.json`; a directory of their own, so that
/// no statement's name can be an artifact's).
pub fn statement_bundle(name: &str) -> String {
    format!("statements/{name}.sigstore.json")
}
