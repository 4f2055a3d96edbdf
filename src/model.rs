//! The release model: what `release.json` says (artifacts, inputs, sources, build
//! environments) and the canonical JSON every signed document is written in.
//!
//! This module is at the bottom of the house: it depends on nothing of relsign's but
//! [`crate::digest`], and everything that reads or writes a release uses it.

use crate::digest::Sha256Hex;
use serde::{Deserialize, Serialize};

/// What an artifact is. Serialized as the strings `release.json` has always used.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ArtifactKind {
    #[serde(rename = "sdist")]
    Sdist,
    #[serde(rename = "wheel")]
    Wheel,
    /// An OCI image layout directory (`<file>` is the directory).
    #[serde(rename = "oci-image")]
    OciImage,
}

impl ArtifactKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactKind::Sdist => "sdist",
            ArtifactKind::Wheel => "wheel",
            ArtifactKind::OciImage => "oci-image",
        }
    }
    /// A Python distribution (sdist or wheel), as an index serves it.
    pub fn is_python(self) -> bool {
        matches!(self, ArtifactKind::Sdist | ArtifactKind::Wheel)
    }
}

impl std::fmt::Display for ArtifactKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One artifact in `release.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Artifact {
    pub file: String,
    pub kind: ArtifactKind,
    pub package: String,
    pub size: u64,
    pub sha256: Sha256Hex,
    pub media_type: String,
}

impl Artifact {
    /// The file whose SHA-256 is the artifact's digest, in the release directory `dir`: the
    /// file itself, or an image's manifest blob.
    pub fn digest_path(&self, dir: &std::path::Path) -> std::path::PathBuf {
        match self.kind {
            ArtifactKind::OciImage => dir
                .join(&self.file)
                .join("blobs/sha256")
                .join(self.sha256.as_str()),
            ArtifactKind::Sdist | ArtifactKind::Wheel => dir.join(&self.file),
        }
    }
}

/// An input file copied into the release directory (recipe, locks).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InputFile {
    pub path: String,
    pub sha256: Sha256Hex,
}

/// `release.json`: names, versions, digests.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReleaseManifest {
    #[serde(rename = "_type")]
    pub type_: String,
    pub name: String,
    pub version: String,
    pub source_date_epoch: u64,
    pub recipe: InputFile,
    pub locks: Vec<InputFile>,
    pub sources: Vec<SourceRecord>,
    pub artifacts: Vec<Artifact>,
    pub builder: String,
    /// Each package's build environment: its backend and the locked build requirements
    /// installed for it (its `build-<package>` group of the Python lock).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub builds: Vec<BuildUsed>,
}

/// One package's build environment in `release.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BuildUsed {
    pub package: String,
    /// The PEP 517 backend its project declares.
    pub backend: String,
    /// The lock's dependency group.
    pub group: String,
    pub requirements: Vec<BuildRequirement>,
}

/// A build requirement installed from the store.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BuildRequirement {
    pub name: String,
    pub version: String,
    pub file: String,
    pub sha256: Sha256Hex,
}

/// The in-toto statement type every attestation carries.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";

pub const RELEASE_TYPE: &str = "https://relsign.dev/release/v1";

/// Canonical JSON: sorted keys (serde_json's default map is ordered), no insignificant
/// whitespace, UTF-8.
pub fn canonical_json<T: Serialize>(v: &T) -> Vec<u8> {
    let value = serde_json::to_value(v).expect("serializable");
    serde_json::to_vec(&value).expect("serializable")
}

/// Where a package's source came from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SourceRecord {
    pub package: String,
    pub kind: String,
    /// Dir: relative path in the recipe; sdist: file name; git: URL (credentials removed).
    pub location: String,
    /// Dir: digest of the tree listing; sdist: file digest; git: commit id.
    pub digest: String,
    pub source_date_epoch: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn canonical_json_sorts_keys_without_spaces() {
        #[derive(Serialize)]
        struct T {
            b: u8,
            a: Vec<u8>,
        }
        assert_eq!(
            canonical_json(&T { b: 1, a: vec![2] }),
            br#"{"a":[2],"b":1}"#
        );
    }
    #[test]
    fn artifact_kinds_keep_their_release_json_names() {
        for k in [
            ArtifactKind::Sdist,
            ArtifactKind::Wheel,
            ArtifactKind::OciImage,
        ] {
            let s = serde_json::to_string(&k).unwrap();
            assert_eq!(s, format!("\"{}\"", k.as_str()));
            assert_eq!(serde_json::from_str::<ArtifactKind>(&s).unwrap(), k);
        }
        assert!(serde_json::from_str::<ArtifactKind>("\"tarball\"").is_err());
    }
}
