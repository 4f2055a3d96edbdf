//! SBOMs for every artifact of a release: CycloneDX 1.6 JSON and SPDX 2.3 JSON.
//!
//! The inventory is read from the artifacts themselves:
//!
//! * a wheel or an sdist: the package (name and version from its METADATA / PKG-INFO, the
//!   artifact's sha256) and the locked runtime dependencies of the release's Python lock (the
//!   locked wheel's sha256; its license when the wheel is in the store, none otherwise);
//! * an image: its dpkg `status.d` entries (licenses from machine-readable copyright files, the
//!   .deb's sha256 from the release's Debian locks) and the `dist-info` directories of its
//!   venvs (licenses from METADATA, the wheel's sha256 from the release and its Python lock).
//!   Every path inside the image is resolved inside its root: a symlink never leads out.
//!
//! Everything gets a purl. The documents are deterministic: the CycloneDX serialNumber and the
//! SPDX documentNamespace derive from the sha256 of the document's own content, and the
//! creation time is SOURCE_DATE_EPOCH.

mod cyclonedx;
mod inventory;
mod license;
mod spdx;

use crate::build::error::BuildError;
use crate::digest::Sha256Hex;
use crate::fsutil::{self, FsError};
use crate::model::{canonical_json, Artifact};
use crate::report::Reporter;
use crate::store::Store;
pub use license::{License, SPDX_EXCEPTIONS, SPDX_IDS};
use serde_json::{json, Value};
pub use spdx::NAMESPACE as SPDX_NAMESPACE;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What can go wrong writing SBOMs; every message names the file (and the field).
#[derive(Debug, thiserror::Error)]
pub enum SbomError {
    #[error(transparent)]
    Fs(#[from] FsError),
    /// `release.json` missing or unreadable.
    #[error(transparent)]
    Release(BuildError),
    #[error("unpacking the image {}: {source}", layout.display())]
    Image {
        layout: PathBuf,
        #[source]
        source: BuildError,
    },
    #[error("{}: {source}", file.display())]
    Lock {
        file: PathBuf,
        #[source]
        source: BoxError,
    },
    #[error("{archive}: {reason}")]
    Archive { archive: String, reason: String },
    #[error("{file}: missing field {field}")]
    MissingField { file: String, field: &'static str },
    #[error("{}: {reason}", file.display())]
    Invalid { file: PathBuf, reason: String },
    #[error("{artifact}: unknown artifact kind {kind:?}")]
    UnknownKind { artifact: String, kind: String },
}

/// A component's kind: CycloneDX `type` and SPDX `primaryPackagePurpose`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum Kind {
    /// A package without programs of its own.
    Library,
    /// A package that ships programs (`bin/` files, console scripts).
    Application,
    /// An OCI image.
    Container,
    /// An sdist.
    Source,
}

impl Kind {
    pub fn cyclonedx(self) -> &'static str {
        match self {
            Kind::Library | Kind::Source => "library",
            Kind::Application => "application",
            Kind::Container => "container",
        }
    }
    pub fn spdx_purpose(self) -> &'static str {
        match self {
            Kind::Library => "LIBRARY",
            Kind::Application => "APPLICATION",
            Kind::Container => "CONTAINER",
            Kind::Source => "SOURCE",
        }
    }
}

/// One package in an inventory.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Component {
    pub kind: Kind,
    pub name: String,
    pub version: String,
    pub purl: String,
    /// The sha256 of the package's file (.deb, wheel, sdist) or an image's manifest, when known.
    pub sha256: Option<String>,
    pub license: License,
    /// "deb", "pypi" or "oci".
    pub ecosystem: String,
    /// A Debian binary package's source package, when its name differs (dpkg's `Source:`):
    /// Debian's advisories are keyed by source. CycloneDX property `relsign:debian:source`.
    pub source: Option<String>,
}

/// How the root relates to the components.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Relation {
    /// An image and what it holds.
    Contains,
    /// A wheel or an sdist and its locked runtime dependencies.
    DependsOn,
}

/// The root artifact and what it contains or depends on.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Inventory {
    pub root: Component,
    pub components: Vec<Component>,
    pub relation: Relation,
}

impl Inventory {
    /// The components ordered by purl, one per purl (the purl is the CycloneDX bom-ref).
    pub fn sorted_components(&self) -> Vec<&Component> {
        let mut by_purl: BTreeMap<&str, &Component> = BTreeMap::new();
        for c in &self.components {
            by_purl
                .entry(c.purl.as_str())
                .and_modify(|e| {
                    if c < *e {
                        *e = c
                    }
                })
                .or_insert(c);
        }
        by_purl.into_values().collect()
    }
}

/// Percent-encode a purl segment (name, version, qualifier value): keep unreserved characters.
pub fn purl_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `pkg:pypi/<normalized name>@<version>`.
pub fn pypi_purl(name: &str, version: &str) -> String {
    let n = crate::python::requirements::normalize_name(name);
    format!("pkg:pypi/{}@{}", purl_encode(&n), purl_encode(version))
}

/// `pkg:deb/debian/<name>@<version>?arch=<arch>&distro=<distro>`.
pub fn deb_purl(name: &str, version: &str, arch: &str, distro: &str) -> String {
    format!(
        "pkg:deb/debian/{}@{}?arch={}&distro={}",
        purl_encode(name),
        purl_encode(version),
        purl_encode(arch),
        purl_encode(distro)
    )
}

/// `pkg:oci/<name>@sha256%3A<manifest digest>`.
pub fn oci_purl(name: &str, manifest_sha256: &str) -> String {
    format!(
        "pkg:oci/{}@sha256%3A{manifest_sha256}",
        purl_encode(&name.to_ascii_lowercase())
    )
}

/// A UUID in version-4 form (version and variant bits set) from the sha256 of a document's
/// canonical JSON: the same content, the same UUID.
fn content_uuid(doc: &Value) -> String {
    let d = Sha256Hex::of(&canonical_json(doc));
    uuid_from(&d)
}

fn uuid_from(d: &Sha256Hex) -> String {
    let h = d.as_str();
    let mut b: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap_or(0))
        .collect();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = crate::digest::hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..]
    )
}

/// The SBOM files written for one artifact.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SbomFile {
    pub artifact: String,
    pub cyclonedx: PathBuf,
    pub spdx: PathBuf,
    /// Components besides the artifact itself.
    pub components: usize,
}

/// Where an artifact's SBOMs go: `sbom/<file>.cdx.json` and `sbom/<file>.spdx.json`.
pub fn sbom_paths(release: &Path, a: &Artifact) -> (PathBuf, PathBuf) {
    let d = release.join("sbom");
    (
        d.join(format!("{}.cdx.json", a.file)),
        d.join(format!("{}.spdx.json", a.file)),
    )
}

/// Pretty JSON (serde_json's maps are sorted, so the bytes are deterministic), newline-ended.
fn to_bytes(v: &Value) -> Vec<u8> {
    let mut b = serde_json::to_vec_pretty(v).expect("a JSON value serializes");
    b.push(b'\n');
    b
}

/// The inventory of one artifact of a release.
pub fn inventory(
    release: &Path,
    m: &crate::model::ReleaseManifest,
    a: &Artifact,
    store: &Store,
) -> Result<Inventory, SbomError> {
    match a.kind.as_str() {
        "oci-image" => inventory::image(release, m, a),
        "wheel" | "sdist" => inventory::python(release, m, a, store),
        other => Err(SbomError::UnknownKind {
            artifact: a.file.clone(),
            kind: other.into(),
        }),
    }
}

/// Write both SBOMs for every artifact of the release in `release` (a directory holding
/// `release.json`), through temp file + rename. The same release gives the same bytes.
pub fn generate(
    release: &Path,
    store: &Store,
    reporter: &dyn Reporter,
) -> Result<Vec<SbomFile>, SbomError> {
    let m = crate::rebuild::read_manifest(release).map_err(SbomError::Release)?;
    let mut out = Vec::new();
    for a in &m.artifacts {
        reporter.step(&format!("SBOM for {}", a.file));
        let inv = inventory(release, &m, a, store)?;
        let n = inv.sorted_components().len();
        let (cdx_path, spdx_path) = sbom_paths(release, a);
        fsutil::write_atomic(
            &cdx_path,
            &to_bytes(&cyclonedx::document(&inv, m.source_date_epoch)),
        )?;
        let name = format!("{} {} {}", a.package, m.version, a.file);
        fsutil::write_atomic(
            &spdx_path,
            &to_bytes(&spdx::document(&inv, m.source_date_epoch, &name, &a.file)),
        )?;
        reporter.info(&format!("SBOM for {}: {n} components", a.file));
        out.push(SbomFile {
            artifact: a.file.clone(),
            cyclonedx: cdx_path,
            spdx: spdx_path,
            components: n,
        });
    }
    Ok(out)
}

/// The in-toto statement that attests an SBOM: the artifact is the subject, the document the
/// predicate.
pub fn statement(a: &Artifact, predicate_type: &str, document: Value) -> Value {
    json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": a.file, "digest": {"sha256": a.sha256.as_str()}}],
        "predicateType": predicate_type,
        "predicate": document,
    })
}

pub const CYCLONEDX_PREDICATE: &str = "https://cyclonedx.org/bom";
pub const SPDX_PREDICATE: &str = "https://spdx.dev/Document";

#[cfg(test)]
mod tests {
    use super::*;

    fn comp(name: &str, eco: &str, license: License) -> Component {
        Component {
            kind: Kind::Library,
            name: name.into(),
            version: "1.0+x".into(),
            purl: if eco == "deb" {
                deb_purl(name, "1.0+x", "amd64", "debian-13")
            } else {
                pypi_purl(name, "1.0+x")
            },
            sha256: Some("ab".repeat(32)),
            license,
            ecosystem: eco.into(),
            source: None,
        }
    }

    #[test]
    fn purls_are_encoded() {
        assert_eq!(
            deb_purl("libc6", "2.41-12+deb13u1", "amd64", "debian-13"),
            "pkg:deb/debian/libc6@2.41-12%2Bdeb13u1?arch=amd64&distro=debian-13"
        );
        assert_eq!(
            deb_purl("x", "1:2.0~rc1", "all", "debian-13"),
            "pkg:deb/debian/x@1%3A2.0~rc1?arch=all&distro=debian-13"
        );
        assert_eq!(
            pypi_purl("Relsign_Demo", "0.1.0"),
            "pkg:pypi/relsign-demo@0.1.0"
        );
        assert_eq!(
            oci_purl("Demo", &"0".repeat(64)),
            format!("pkg:oci/demo@sha256%3A{}", "0".repeat(64))
        );
    }

    #[test]
    fn uuid_is_v4_form() {
        let u = uuid_from(&Sha256Hex::of(b"x"));
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!("89ab".contains(&u[19..20]));
    }

    #[test]
    fn documents_are_deterministic_and_content_derived() {
        let inv = |lic: License| Inventory {
            root: Component {
                kind: Kind::Container,
                ..comp("img", "oci", License::None)
            },
            components: vec![
                comp("zlib", "deb", lic),
                comp("click", "pypi", License::None),
                comp("click", "pypi", License::None),
            ],
            relation: Relation::Contains,
        };
        let a = cyclonedx::document(&inv(License::Spdx("Zlib".into())), 1_700_000_000);
        let b = cyclonedx::document(&inv(License::Spdx("Zlib".into())), 1_700_000_000);
        assert_eq!(to_bytes(&a), to_bytes(&b));
        assert_eq!(a["components"].as_array().unwrap().len(), 2, "one per purl");
        assert_eq!(a["metadata"]["timestamp"], "2023-11-14T22:13:20Z");
        let c = cyclonedx::document(&inv(License::Spdx("MIT".into())), 1_700_000_000);
        assert_ne!(a["serialNumber"], c["serialNumber"]);
        let d = cyclonedx::document(&inv(License::Spdx("Zlib".into())), 1_700_000_001);
        assert_ne!(a["serialNumber"], d["serialNumber"]);

        let names = License::Declared {
            items: vec!["GPL-2.0-or-later".into(), "public domain".into()],
            all_apply: true,
        };
        let s = spdx::document(&inv(names), 1_700_000_000, "img 1 image", "image");
        assert!(s["documentNamespace"]
            .as_str()
            .unwrap()
            .starts_with("https://relsign.dev/spdxdocs/image-"));
        let zlib = &s["packages"][1];
        assert_eq!(zlib["name"], "zlib");
        assert_eq!(
            zlib["licenseDeclared"],
            "GPL-2.0-or-later AND LicenseRef-public-domain"
        );
        assert_eq!(
            s["hasExtractedLicensingInfos"][0]["licenseId"],
            "LicenseRef-public-domain"
        );
        assert_eq!(s["relationships"].as_array().unwrap().len(), 3);
        assert_eq!(s["relationships"][1]["relationshipType"], "CONTAINS");
    }
}
