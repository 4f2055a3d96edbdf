//! Packages named in a release's SBOMs, and the order of their versions: what `relsign diff`
//! and `relsign scan` read.

use crate::fsutil::{self, FsError};
use serde::Serialize;
use serde_json::Value;
use std::cmp::Ordering;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum PackagesError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{}: {reason}", .path.display())]
    Input { path: PathBuf, reason: String },
}

fn bad(path: &Path, reason: impl Into<String>) -> PackagesError {
    PackagesError::Input {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// One package of the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Package {
    /// The purl type: `pypi`, `deb`, …
    pub ecosystem: String,
    pub name: String,
    pub version: String,
    /// Debian: the source package (the name advisories use).
    pub source: Option<String>,
    /// Debian: the source's version when it is not the binary's (advisories' ranges are in
    /// source versions; see [`crate::debian::source_version`]).
    pub source_version: Option<String>,
    /// The purl's `distro` qualifier (`debian-13`).
    pub distro: Option<String>,
}

/// The packages listed by a CycloneDX document, or by every `sbom/*.cdx.json` of a release.
pub fn read(target: &Path) -> Result<Vec<Package>, PackagesError> {
    let files: Vec<PathBuf> = if target.is_dir() {
        let d = target.join("sbom");
        let mut v: Vec<PathBuf> = std::fs::read_dir(&d)
            .map_err(fsutil::err("read directory", &d))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with(".cdx.json"))
            .collect();
        v.sort();
        if v.is_empty() {
            return Err(bad(
                &d,
                "no CycloneDX SBOM (*.cdx.json): run `relsign sbom` first",
            ));
        }
        v
    } else {
        vec![target.to_path_buf()]
    };
    let mut out: Vec<Package> = Vec::new();
    for f in files {
        let bytes =
            crate::json::read_limited(&f, crate::json::limit::SBOM).map_err(|e| match e {
                crate::json::ReadError::Fs(e) => PackagesError::Fs(e),
                e => bad(&f, e.to_string()),
            })?;
        let v = crate::json::value(&bytes, crate::json::limit::SBOM)
            .map_err(|e| bad(&f, e.to_string()))?;
        if v.get("bomFormat").and_then(Value::as_str) != Some("CycloneDX") {
            return Err(bad(&f, "not a CycloneDX SBOM (bomFormat)"));
        }
        for c in v
            .get("components")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(purl), Some(name), Some(version)) = (
                c.get("purl").and_then(Value::as_str),
                c.get("name").and_then(Value::as_str),
                c.get("version").and_then(Value::as_str),
            ) else {
                continue;
            };
            let Some((eco, _)) = purl.strip_prefix("pkg:").and_then(|r| r.split_once('/')) else {
                continue;
            };
            let distro = purl.split_once('?').and_then(|(_, q)| {
                q.split('&')
                    .find_map(|kv| kv.strip_prefix("distro="))
                    .map(str::to_string)
            });
            let property = |key: &str| {
                c.get("properties")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .find(|p| p.get("name").and_then(Value::as_str) == Some(key))
                    .and_then(|p| p.get("value").and_then(Value::as_str))
                    .map(str::to_string)
            };
            let source = property("relsign:debian:source");
            let source_version = property("relsign:debian:source-version");
            let p = Package {
                ecosystem: eco.to_string(),
                name: if eco == "pypi" {
                    crate::python::requirements::normalize_name(name)
                } else {
                    name.to_string()
                },
                version: version.to_string(),
                source,
                source_version,
                distro,
            };
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    Ok(out)
}

/// Debian's release number for a suite's codename (`trixie` → 13), for the purl's `distro`.
fn debian_release(suite: &str) -> Option<&'static str> {
    Some(match suite {
        "buster" => "10",
        "bullseye" => "11",
        "bookworm" => "12",
        "trixie" => "13",
        "forky" => "14",
        "duke" => "15",
        _ => return None,
    })
}

/// The packages a recipe's locks pin for what it ships: the Python lock's runtime group and
/// the image's Debian lock (or, without an image, nothing Debian), and how many .debs were not
/// in `store`. Debian's advisories are keyed by source package and give source versions; a
/// lock made by this version records both. For an older lock (names only, or neither), each
/// .deb whose source may differ from it is read from the store (its control file's `Source:`;
/// each entry re-hashed, as every store read is). A .deb that is needed and not in the store is
/// matched with what the lock says at its own version, and counted.
pub fn from_locks(
    recipe: &crate::recipe::Recipe,
    store: &crate::store::Store,
) -> Result<(Vec<Package>, usize), PackagesError> {
    let lock_err = |path: PathBuf, e: String| bad(&path, e);
    let py_path = recipe.python_lock_path();
    let py = crate::lock::python::PyLock::read(&py_path)
        .map_err(|e| lock_err(py_path.clone(), e.to_string()))?;
    let mut out: Vec<Package> = py
        .runtime()
        .map(|p| Package {
            ecosystem: "pypi".into(),
            name: crate::python::requirements::normalize_name(&p.name),
            version: p.version.clone(),
            source: None,
            source_version: None,
            distro: None,
        })
        .collect();
    let mut unknown = 0;
    if let Some((_, path)) = recipe.image_toolchain() {
        let deb = crate::lock::debian::DebianLock::read(&path)
            .map_err(|e| lock_err(path.clone(), e.to_string()))?;
        let distro = debian_release(&deb.suite).map(|n| format!("debian-{n}"));
        // A lock made by this version records source names and versions; older ones record
        // names only, or neither: then what is missing is read from the .debs' control files
        // in the store (`None`: not there). With the names recorded, only a package whose
        // version may not be its source's is read.
        let sources = crate::par::map(crate::par::cores(), &deb.packages, |p| {
            if deb.sources && deb.source_versions {
                return Some((p.source.clone(), p.source_version.clone()));
            }
            let known = deb.sources && crate::debian::source_version(None, &p.version).is_none();
            if known && p.source.is_none() {
                return Some((None, None));
            }
            crate::lock::debian::source_from_store(p, store).ok()
        });
        for (p, source) in deb.packages.iter().zip(sources) {
            unknown += usize::from(source.is_none());
            let (source, source_version) = match source {
                Some(s) => s,
                // Not in the store: the lock's name, and the binary's own version.
                None => (p.source.clone(), None),
            };
            out.push(Package {
                ecosystem: "deb".into(),
                name: p.name.clone(),
                version: p.version.clone(),
                source,
                source_version,
                distro: distro.clone(),
            });
        }
    }
    Ok((out, unknown))
}

/// Order two versions of one ecosystem: dpkg's for Debian, PEP 440's for PyPI.
pub fn version_cmp(ecosystem: &str, a: &str, b: &str) -> Ordering {
    match ecosystem {
        "deb" => crate::debian::version::deb_version_cmp(a, b),
        "pypi" => match (
            crate::python::version::Version::parse(a),
            crate::python::version::Version::parse(b),
        ) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => a.cmp(b),
        },
        _ => a.cmp(b),
    }
}
