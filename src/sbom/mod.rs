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
mod model;
mod spdx;

use crate::fsutil;
use crate::model::Artifact;
use crate::report::Reporter;
use crate::store::Store;
pub use license::{License, SPDX_EXCEPTIONS, SPDX_IDS};
use serde_json::Value;
pub use spdx::NAMESPACE as SPDX_NAMESPACE;
use std::path::{Path, PathBuf};

pub use model::{
    deb_purl, oci_purl, purl_encode, pypi_purl, Component, Inventory, Kind, Relation, SbomError,
};

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
    match a.kind {
        crate::model::ArtifactKind::OciImage => inventory::image(release, m, a),
        crate::model::ArtifactKind::Wheel | crate::model::ArtifactKind::Sdist => {
            inventory::python(release, m, a, store)
        }
    }
}

/// Write both SBOMs for every artifact of the release in `release` (a directory holding
/// `release.json`), through temp file + rename. The same release gives the same bytes.
pub fn generate(
    release: &Path,
    store: &Store,
    reporter: &dyn Reporter,
) -> Result<Vec<SbomFile>, SbomError> {
    let m = crate::reldir::read_release(release).map_err(SbomError::Release)?;
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
    crate::intoto::Statement::new(
        vec![crate::intoto::Descriptor::file(&a.file, &a.sha256)],
        predicate_type,
        document,
    )
    .to_value()
}

pub const CYCLONEDX_PREDICATE: &str = "https://cyclonedx.org/bom";
pub const SPDX_PREDICATE: &str = "https://spdx.dev/Document";

#[cfg(test)]
mod tests {
    use super::model::uuid_from;
    use super::*;
    use crate::digest::Sha256Hex;

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
            source_version: None,
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
