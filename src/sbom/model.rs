//! The SBOM model every format is written from: components, their relations, purls, and
//! the error of making SBOMs.

use super::license::License;
use crate::build::error::BuildError;
use crate::digest::Sha256Hex;
use crate::fsutil::FsError;
use crate::model::canonical_json;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

pub(super) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What can go wrong writing SBOMs; every message names the file (and the field).
#[derive(Debug, thiserror::Error)]
pub enum SbomError {
    #[error(transparent)]
    Fs(#[from] FsError),
    /// `release.json` missing or unreadable.
    #[error(transparent)]
    Release(crate::reldir::ReadError),
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
    /// The source's version, when it is not the binary's (`Source: name (version)`, or a
    /// binNMU): advisories' fixed versions are the source's. CycloneDX property
    /// `relsign:debian:source-version`.
    pub source_version: Option<String>,
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
pub(super) fn content_uuid(doc: &Value) -> String {
    let d = Sha256Hex::of(&canonical_json(doc));
    uuid_from(&d)
}

pub(super) fn uuid_from(d: &Sha256Hex) -> String {
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
