//! SBOMs for every artifact of a release: CycloneDX 1.6 JSON and SPDX 2.3 JSON.
//!
//! The inventory is read from the artifacts themselves: a wheel's or sdist's metadata plus its
//! locked runtime dependencies; an image's dpkg `status.d` entries (licenses from
//! machine-readable copyright files) and the venv's `dist-info` directories. Everything gets a
//! purl and, where the bytes are known, a sha256. The documents are deterministic: the
//! serialNumber and the documentNamespace derive from the inventory's digest, and the creation
//! time is SOURCE_DATE_EPOCH.

mod license;

use crate::build::{canonical_json, Artifact, BuildError, ReleaseManifest};
use crate::digest::Sha256Hex;
use crate::fsutil;
use crate::lock::python::PyLock;
use crate::report::Reporter;
use crate::store::Store;
pub use license::License;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One package in an inventory.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Component {
    /// CycloneDX type: library, application, container.
    pub kind: String,
    pub name: String,
    pub version: String,
    pub purl: String,
    pub sha256: Option<String>,
    pub license: License,
    /// "deb" or "pypi" (or "oci" for an image root).
    pub ecosystem: String,
}

/// The root artifact and what it contains or depends on.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Inventory {
    pub root: Component,
    pub components: Vec<Component>,
    /// "contains" (an image) or "depends" (a wheel, an sdist).
    pub relation: String,
}

/// Percent-encode a purl segment (name or version): keep unreserved characters.
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

pub fn pypi_purl(name: &str, version: &str) -> String {
    let n = crate::python::requirements::normalize_name(name);
    format!("pkg:pypi/{}@{}", purl_encode(&n), purl_encode(version))
}

pub fn deb_purl(name: &str, version: &str, arch: &str, distro: &str) -> String {
    format!(
        "pkg:deb/debian/{}@{}?arch={}&distro={}",
        purl_encode(name),
        purl_encode(version),
        purl_encode(arch),
        purl_encode(distro)
    )
}

fn python_component(md: &crate::python::metadata::Metadata, sha256: Option<String>) -> Component {
    Component {
        kind: "library".into(),
        name: md.name.clone(),
        version: md.version.clone(),
        purl: pypi_purl(&md.name, &md.version),
        sha256,
        license: License::from_python(md.license_expression.as_deref(), md.license.as_deref()),
        ecosystem: "pypi".into(),
    }
}

fn other<E: std::error::Error + Send + Sync + 'static>(
    context: String,
) -> impl FnOnce(E) -> BuildError {
    move |e| BuildError::Other {
        context,
        source: Box::new(e),
    }
}

/// The locked runtime dependencies of a release, as components.
fn runtime_components(
    release: &Path,
    m: &ReleaseManifest,
    store: &Store,
) -> Result<Vec<Component>, BuildError> {
    let Some(lock_file) = m
        .locks
        .iter()
        .find(|l| l.path.ends_with(".toml") && l.path.contains("pylock"))
    else {
        return Ok(Vec::new());
    };
    let lock = PyLock::read(&release.join(&lock_file.path))
        .map_err(other(format!("reading {}", lock_file.path)))?;
    let mut out = Vec::new();
    for p in lock.runtime() {
        let Some(w) = p.wheels.first().or(p.sdist.as_ref()) else {
            continue;
        };
        let license = match store.get(&w.sha256, &w.name) {
            Ok(path) if w.name.ends_with(".whl") => {
                crate::python::metadata::read_wheel(&path, &w.name)
                    .map(|md| {
                        License::from_python(
                            md.license_expression.as_deref(),
                            md.license.as_deref(),
                        )
                    })
                    .unwrap_or(License::None)
            }
            _ => License::None,
        };
        out.push(Component {
            kind: "library".into(),
            name: p.name.clone(),
            version: p.version.clone(),
            purl: pypi_purl(&p.name, &p.version),
            sha256: Some(w.sha256.to_string()),
            license,
            ecosystem: "pypi".into(),
        });
    }
    Ok(out)
}

/// The inventory of a wheel or an sdist.
fn python_inventory(
    release: &Path,
    m: &ReleaseManifest,
    a: &Artifact,
    store: &Store,
) -> Result<Inventory, BuildError> {
    let path = release.join(&a.file);
    let md = if a.kind == "wheel" {
        crate::python::metadata::read_wheel(&path, &a.file)
    } else {
        crate::python::metadata::read_sdist(&path, &a.file)
    }
    .map_err(other(format!("reading the metadata of {}", a.file)))?;
    let root = python_component(&md, Some(a.sha256.to_string()));
    Ok(Inventory {
        root,
        components: runtime_components(release, m, store)?,
        relation: "depends".into(),
    })
}

/// The inventory of an image: its Debian packages and the Python packages of its venv.
fn image_inventory(
    release: &Path,
    m: &ReleaseManifest,
    a: &Artifact,
) -> Result<Inventory, BuildError> {
    let work =
        tempfile::tempdir().map_err(fsutil::err("create temp dir in", &std::env::temp_dir()))?;
    let rootfs = work.path().join("rootfs");
    crate::image::unpack_layout(&release.join(&a.file), None, &rootfs)?;
    // The .debs' own digests, from the Debian locks the release carries.
    let mut debs = BTreeMap::new();
    for l in &m.locks {
        if let Ok(lock) = crate::lock::debian::DebianLock::read(&release.join(&l.path)) {
            for p in lock.packages {
                debs.insert((p.name, p.version), p.sha256.to_string());
            }
        }
    }
    let mut inv = inventory_of_rootfs(&rootfs, m, a, &debs)?;
    // The wheels' digests: the release's own wheels and the locked runtime wheels.
    let mut wheels: BTreeMap<(String, String), String> = BTreeMap::new();
    for w in m.artifacts.iter().filter(|w| w.kind == "wheel") {
        if let Ok(n) = crate::python::tags::WheelName::parse(&w.file) {
            wheels.insert(
                (n.normalized_name(), n.version.clone()),
                w.sha256.to_string(),
            );
        }
    }
    if let Some(l) = m.locks.iter().find(|l| l.path.contains("pylock")) {
        if let Ok(lock) = PyLock::read(&release.join(&l.path)) {
            for p in lock.runtime() {
                if let Some(w) = p.wheels.first() {
                    wheels.insert((p.name.clone(), p.version.clone()), w.sha256.to_string());
                }
            }
        }
    }
    for c in inv.components.iter_mut().filter(|c| c.ecosystem == "pypi") {
        let key = (
            crate::python::requirements::normalize_name(&c.name),
            c.version.clone(),
        );
        c.sha256 = wheels.get(&key).cloned();
    }
    Ok(inv)
}

/// Debian release number (or codename) from the rootfs's os-release, for purls.
fn distro(rootfs: &Path) -> String {
    for p in ["etc/os-release", "usr/lib/os-release"] {
        if let Ok(text) = std::fs::read_to_string(rootfs.join(p)) {
            let get = |k: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(&format!("{k}=")))
                    .map(|v| v.trim_matches('"').to_string())
            };
            if let Some(v) = get("VERSION_ID").filter(|v| !v.is_empty()) {
                return format!("debian-{v}");
            }
            if let Some(v) = get("VERSION_CODENAME") {
                return v;
            }
        }
    }
    "debian".into()
}

/// Inventory an unpacked image rootfs (public so tests can compare with the tree).
pub fn inventory_of_rootfs(
    rootfs: &Path,
    m: &ReleaseManifest,
    a: &Artifact,
    deb_digests: &BTreeMap<(String, String), String>,
) -> Result<Inventory, BuildError> {
    let distro = distro(rootfs);
    let mut components = Vec::new();
    let status_d = rootfs.join("var/lib/dpkg/status.d");
    let mut names: Vec<String> = std::fs::read_dir(&status_d)
        .map_err(fsutil::err("read directory", &status_d))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| !n.ends_with(".md5sums"))
        .collect();
    names.sort();
    for n in names {
        let text = fsutil::read_to_string(&status_d.join(&n))?;
        let para = crate::debian::control::parse_paragraphs(&text)
            .map_err(|e| BuildError::Message(format!("{}: {e}", status_d.join(&n).display())))?
            .into_iter()
            .next()
            .unwrap_or_default();
        let name = para.get("Package").unwrap_or(&n).to_string();
        let version = para.get("Version").unwrap_or("").to_string();
        let arch = para.get("Architecture").unwrap_or("").to_string();
        let license = License::from_debian_copyright(
            &rootfs.join("usr/share/doc").join(&name).join("copyright"),
        );
        components.push(Component {
            kind: "library".into(),
            purl: deb_purl(&name, &version, &arch, &distro),
            sha256: deb_digests.get(&(name.clone(), version.clone())).cloned(),
            name,
            version,
            license,
            ecosystem: "deb".into(),
        });
    }
    // Python packages of every site-packages in the image's venvs.
    let mut sites = Vec::new();
    for base in ["opt", "usr/local/lib", "srv", "app"] {
        find_site_packages(&rootfs.join(base), &mut sites, 6);
    }
    sites.sort();
    for site in sites {
        let mut dists: Vec<PathBuf> = std::fs::read_dir(&site)
            .map_err(fsutil::err("read directory", &site))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().map(|x| x == "dist-info").unwrap_or(false))
            .collect();
        dists.sort();
        for d in dists {
            let md_path = d.join("METADATA");
            let md = crate::python::metadata::Metadata::parse(&fsutil::read_to_string(&md_path)?);
            components.push(python_component(&md, None));
        }
    }
    let root = Component {
        kind: "container".into(),
        name: a.package.clone(),
        version: m.version.clone(),
        purl: format!("pkg:oci/{}@sha256%3A{}", purl_encode(&a.package), a.sha256),
        sha256: Some(a.sha256.to_string()),
        license: License::None,
        ecosystem: "oci".into(),
    };
    Ok(Inventory {
        root,
        components,
        relation: "contains".into(),
    })
}

fn find_site_packages(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    if depth == 0
        || !dir.is_dir()
        || dir
            .symlink_metadata()
            .map(|m| m.file_type().is_symlink())
            .unwrap_or(true)
    {
        return;
    }
    if dir
        .file_name()
        .map(|n| n == "site-packages")
        .unwrap_or(false)
    {
        out.push(dir.to_path_buf());
        return;
    }
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            find_site_packages(&e.path(), out, depth - 1);
        }
    }
}

/// A UUID (version-4 form) derived from a digest, so the same inventory gets the same serial.
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

fn cdx_component(c: &Component) -> Value {
    let mut v = json!({"type": c.kind, "bom-ref": c.purl, "name": c.name, "version": c.version, "purl": c.purl});
    if let Some(h) = &c.sha256 {
        v["hashes"] = json!([{"alg": "SHA-256", "content": h}]);
    }
    if let Some(l) = c.license.cyclonedx() {
        v["licenses"] = l;
    }
    v
}

/// CycloneDX 1.6 JSON.
pub fn cyclonedx(inv: &Inventory, epoch: u64) -> Value {
    let digest = Sha256Hex::of(&canonical_json(inv));
    let mut comps: Vec<&Component> = inv.components.iter().collect();
    comps.sort();
    comps.dedup_by(|a, b| a.purl == b.purl);
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": format!("urn:uuid:{}", uuid_from(&digest)),
        "version": 1,
        "metadata": {
            "timestamp": crate::oci::rfc3339(epoch),
            "tools": {"components": [{"type": "application", "name": "relsign", "version": env!("CARGO_PKG_VERSION")}]},
            "component": cdx_component(&inv.root),
        },
        "components": comps.iter().map(|c| cdx_component(c)).collect::<Vec<_>>(),
        "dependencies": [
            {"ref": inv.root.purl, "dependsOn": comps.iter().map(|c| c.purl.clone()).collect::<Vec<_>>()}
        ],
    })
}

fn spdx_id(c: &Component, used: &mut BTreeMap<String, usize>) -> String {
    let base: String = format!("{}-{}-{}", c.ecosystem, c.name, c.version)
        .chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() || ch == '.' || ch == '-' {
                ch
            } else {
                '-'
            }
        })
        .collect();
    let n = used.entry(base.clone()).or_insert(0);
    *n += 1;
    if *n == 1 {
        format!("SPDXRef-Package-{base}")
    } else {
        format!("SPDXRef-Package-{base}-{n}")
    }
}

/// SPDX 2.3 JSON.
pub fn spdx(inv: &Inventory, epoch: u64, doc_name: &str) -> Value {
    let digest = Sha256Hex::of(&canonical_json(inv));
    let mut used = BTreeMap::new();
    let mut extracted: BTreeMap<String, String> = BTreeMap::new();
    let mut comps: Vec<&Component> = inv.components.iter().collect();
    comps.sort();
    comps.dedup_by(|a, b| a.purl == b.purl);
    let mut pkg = |c: &Component, used: &mut BTreeMap<String, usize>| -> (String, Value) {
        let id = spdx_id(c, used);
        let lic = c.license.spdx_expression(&mut extracted);
        let mut v = json!({
            "SPDXID": id,
            "name": c.name,
            "versionInfo": c.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": lic,
            "copyrightText": "NOASSERTION",
            "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": c.purl}],
        });
        if let Some(h) = &c.sha256 {
            v["checksums"] = json!([{"algorithm": "SHA256", "checksumValue": h}]);
        }
        (id, v)
    };
    let (root_id, root) = pkg(&inv.root, &mut used);
    let mut packages = vec![root];
    let mut relationships = vec![
        json!({"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": root_id}),
    ];
    let rel = if inv.relation == "contains" {
        "CONTAINS"
    } else {
        "DEPENDS_ON"
    };
    for c in comps {
        let (id, v) = pkg(c, &mut used);
        packages.push(v);
        relationships.push(
            json!({"spdxElementId": root_id, "relationshipType": rel, "relatedSpdxElement": id}),
        );
    }
    let mut doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": doc_name,
        "documentNamespace": format!("https://relsign.dev/spdxdocs/{}-{}", purl_encode(doc_name), digest),
        "creationInfo": {"created": crate::oci::rfc3339(epoch), "creators": [format!("Tool: relsign-{}", env!("CARGO_PKG_VERSION"))]},
        "packages": packages,
        "relationships": relationships,
    });
    if !extracted.is_empty() {
        doc["hasExtractedLicensingInfos"] = extracted
            .iter()
            .map(|(id, name)| json!({"licenseId": id, "name": name, "extractedText": format!("The license named {name:?} by the package's metadata.")}))
            .collect();
    }
    doc
}

/// The SBOM files written for one artifact.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SbomFiles {
    pub artifact: String,
    pub cyclonedx: PathBuf,
    pub spdx: PathBuf,
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

/// Write both SBOMs for every artifact of the release.
pub fn generate(
    release: &Path,
    store: &Store,
    reporter: &dyn Reporter,
) -> Result<Vec<SbomFiles>, BuildError> {
    let m = crate::rebuild::read_manifest(release)?;
    let mut out = Vec::new();
    for a in &m.artifacts {
        reporter.step(&format!("SBOM for {}", a.file));
        let inv = match a.kind.as_str() {
            "oci-image" => image_inventory(release, &m, a)?,
            _ => python_inventory(release, &m, a, store)?,
        };
        let (cdx_path, spdx_path) = sbom_paths(release, a);
        let mut cdx =
            serde_json::to_vec_pretty(&cyclonedx(&inv, m.source_date_epoch)).expect("json");
        cdx.push(b'\n');
        fsutil::write_atomic(&cdx_path, &cdx)?;
        let mut sp = serde_json::to_vec_pretty(&spdx(
            &inv,
            m.source_date_epoch,
            &format!("{}-{}", a.file, m.version),
        ))
        .expect("json");
        sp.push(b'\n');
        fsutil::write_atomic(&spdx_path, &sp)?;
        reporter.info(&format!("{}: {} components", a.file, inv.components.len()));
        out.push(SbomFiles {
            artifact: a.file.clone(),
            cyclonedx: cdx_path,
            spdx: spdx_path,
            components: inv.components.len(),
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
    #[test]
    fn purls_are_encoded() {
        assert_eq!(
            deb_purl("libc6", "2.41-12+deb13u1", "amd64", "debian-13"),
            "pkg:deb/debian/libc6@2.41-12%2Bdeb13u1?arch=amd64&distro=debian-13"
        );
        assert_eq!(
            deb_purl("x", "1:2.0", "all", "debian-13"),
            "pkg:deb/debian/x@1%3A2.0?arch=all&distro=debian-13"
        );
        assert_eq!(
            pypi_purl("Relsign_Demo", "0.1.0"),
            "pkg:pypi/relsign-demo@0.1.0"
        );
    }
    #[test]
    fn uuid_is_v4_form() {
        let u = uuid_from(&Sha256Hex::of(b"x"));
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!("89ab".contains(&u[19..20]));
    }
}
