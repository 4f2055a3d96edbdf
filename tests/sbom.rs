//! SBOMs of the demo release: the real validators (cyclonedx-python-lib's strict 1.6 JSON
//! validator, `pyspdxtools -i`), the image SBOM against the unpacked image, the wheel and sdist
//! SBOMs against the lock, and byte-identical SBOMs across runs and builds.

mod common;
use common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const FILES: [&str; 3] = [
    "relsign_demo-0.1.0.tar.gz",
    "relsign_demo-0.1.0-py3-none-any.whl",
    "image",
];

fn build_demo(out: &Path) {
    let _ = std::fs::remove_dir_all(out);
    let r = demo_recipe();
    // Every step runs: the SBOMs of two real builds are compared.
    run_ok(relsign(&[
        "build",
        r.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--no-cache",
    ]));
}

/// The demo built once for this file (target/test-work/sbom-a), with its SBOMs.
fn demo_release() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        fetch_demo();
        let out = root().join("target/test-work/sbom-a");
        build_demo(&out);
        let started = std::time::Instant::now();
        let o = run_ok(relsign(&["sbom", out.to_str().unwrap(), "--json"]));
        eprintln!("relsign sbom took {:?}", started.elapsed());
        let listed: Value = serde_json::from_slice(&o.stdout).unwrap();
        let listed: Vec<&str> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["artifact"].as_str().unwrap())
            .collect();
        assert_eq!(listed, FILES, "--json lists one entry per artifact");
        out
    })
}

fn sbom_files(rel: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = FILES
        .iter()
        .flat_map(|f| ["cdx", "spdx"].map(|ext| rel.join("sbom").join(format!("{f}.{ext}.json"))))
        .collect();
    v.sort();
    v
}

fn json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

const CDX_VALIDATE: &str = "import sys
from cyclonedx.validation.json import JsonStrictValidator
from cyclonedx.schema import SchemaVersion
v = JsonStrictValidator(SchemaVersion.V1_6)
bad = 0
for f in sys.argv[1:]:
    e = v.validate_str(open(f).read())
    if e is not None:
        print('INVALID', f, e)
        bad += 1
    else:
        print('valid', f)
sys.exit(1 if bad else 0)
";

fn cdx_validate(files: &[PathBuf]) -> std::process::Output {
    Command::new(venv().join("bin/python"))
        .arg("-c")
        .arg(CDX_VALIDATE)
        .args(files)
        .output()
        .unwrap()
}

fn pyspdxtools(file: &Path) -> (bool, String) {
    let o = Command::new(venv().join("bin/pyspdxtools"))
        .arg("-i")
        .arg(file)
        .output()
        .unwrap();
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

#[test]
fn the_validators_accept_every_sbom() {
    let rel = demo_release();
    let files = sbom_files(rel);
    let cdx: Vec<PathBuf> = files
        .iter()
        .filter(|f| f.to_string_lossy().ends_with(".cdx.json"))
        .cloned()
        .collect();
    assert_eq!(cdx.len(), 3);
    let o = cdx_validate(&cdx);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{text}{}", stderr(&o));
    assert_eq!(text.matches("valid ").count(), 3, "{text}");
    for f in files
        .iter()
        .filter(|f| f.to_string_lossy().ends_with(".spdx.json"))
    {
        let (ok, text) = pyspdxtools(f);
        assert!(ok && text.trim().is_empty(), "{}: {text}", f.display());
    }

    // The validators are not asleep: a bad license id and a bad SPDX id are refused.
    let t = tempfile::tempdir().unwrap();
    let mut doc = json(&rel.join("sbom/image.cdx.json"));
    doc["components"][0]["licenses"] = serde_json::json!([{"license": {"id": "Not-A-License"}}]);
    let bad = t.path().join("bad.cdx.json");
    std::fs::write(&bad, serde_json::to_vec(&doc).unwrap()).unwrap();
    let o = cdx_validate(&[bad]);
    assert!(
        !o.status.success(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let mut doc = json(&rel.join("sbom/image.spdx.json"));
    doc["packages"][1]["licenseDeclared"] = "Not-A-License".into();
    let bad = t.path().join("bad.spdx.json");
    std::fs::write(&bad, serde_json::to_vec(&doc).unwrap()).unwrap();
    let (ok, text) = pyspdxtools(&bad);
    assert!(
        !ok || !text.trim().is_empty(),
        "pyspdxtools accepted a bad license: {text}"
    );
}

#[test]
fn the_spdx_ids_relsign_knows_are_current() {
    // Every id relsign may emit is on the SPDX list cyclonedx-python-lib ships, and is the
    // current (not a deprecated) id in license-expression's index.
    let script = "import json, sys, os, cyclonedx, license_expression
enum = set(json.load(open(os.path.join(os.path.dirname(cyclonedx.__file__), 'schema/_res/spdx.SNAPSHOT.schema.json')))['enum'])
idx = json.load(open(os.path.join(os.path.dirname(license_expression.__file__), 'data/scancode-licensedb-index.json')))
current = {x['spdx_license_key'] for x in idx if not x.get('is_deprecated')}
bad = [i for i in sys.argv[1:] if i not in enum or i not in current]
print('unknown or deprecated:', bad)
sys.exit(1 if bad else 0)
";
    let mut c = Command::new(venv().join("bin/python"));
    c.arg("-c")
        .arg(script)
        .args(relsign::sbom::SPDX_IDS)
        .args(relsign::sbom::SPDX_EXCEPTIONS);
    run_ok(c);
}

/// `Key: value` of the first paragraph of a control file (continuation lines skipped).
fn control_field(text: &str, key: &str) -> String {
    text.lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {key} in {text}"))
}

fn purl_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// (type, name, version, arch) of a purl.
fn purl_parts(purl: &str) -> (String, String, String, String) {
    let (path, qs) = purl.split_once('?').unwrap_or((purl, ""));
    let (head, version) = path.rsplit_once('@').unwrap();
    let name = head.rsplit('/').next().unwrap();
    let ty = head
        .strip_prefix("pkg:")
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    let arch = qs
        .split('&')
        .find_map(|q| q.strip_prefix("arch="))
        .unwrap_or("")
        .to_string();
    (ty.into(), purl_decode(name), purl_decode(version), arch)
}

#[test]
fn the_image_sbom_lists_exactly_what_the_image_holds() {
    let rel = demo_release();
    let work = tempfile::tempdir().unwrap();
    let rootfs = work.path().join("rootfs");
    relsign::build::image::unpack_layout(&rel.join("image"), None, &rootfs).unwrap();

    // What the image holds: status.d entries and dist-info directories.
    let mut in_image = BTreeSet::new();
    let status_d = rootfs.join("var/lib/dpkg/status.d");
    for e in std::fs::read_dir(&status_d).unwrap() {
        let p = e.unwrap().path();
        if p.extension().map(|x| x == "md5sums").unwrap_or(false) {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(
            control_field(&text, "Package"),
            p.file_name().unwrap().to_string_lossy()
        );
        in_image.insert((
            "deb".to_string(),
            control_field(&text, "Package"),
            control_field(&text, "Version"),
            control_field(&text, "Architecture"),
        ));
    }
    let site = rootfs.join("opt/venv/lib/python3.13/site-packages");
    for e in std::fs::read_dir(&site).unwrap() {
        let n = e.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(stem) = n.strip_suffix(".dist-info") {
            let (name, version) = stem.rsplit_once('-').unwrap();
            let md = std::fs::read_to_string(site.join(&n).join("METADATA")).unwrap();
            assert_eq!(control_field(&md, "Version"), version, "{n}");
            in_image.insert((
                "pypi".to_string(),
                name.to_ascii_lowercase().replace(['_', '.'], "-"),
                version.to_string(),
                String::new(),
            ));
        }
    }
    let debs = in_image.iter().filter(|c| c.0 == "deb").count();
    let pys = in_image.len() - debs;
    assert!(debs > 20 && pys >= 2, "{debs} debs, {pys} python packages");

    // CycloneDX: components by purl and by name/version fields.
    let cdx = json(&rel.join("sbom/image.cdx.json"));
    let comps = cdx["components"].as_array().unwrap();
    let mut in_cdx = BTreeSet::new();
    for c in comps {
        let purl = c["purl"].as_str().unwrap();
        let (ty, name, version, arch) = purl_parts(purl);
        assert_eq!(c["version"].as_str().unwrap(), version, "{purl}");
        assert_eq!(c["bom-ref"].as_str().unwrap(), purl);
        if ty == "deb" {
            assert_eq!(c["name"].as_str().unwrap(), name, "{purl}");
            assert!(purl.contains("&distro=debian-13"), "{purl}");
        }
        let h = c["hashes"][0]["content"].as_str().unwrap_or("");
        assert_eq!(h.len(), 64, "{purl} has a sha256");
        assert!(in_cdx.insert((ty, name, version, arch)), "{purl} twice");
    }
    assert_eq!(
        in_image, in_cdx,
        "CycloneDX: the image SBOM lists exactly what the image holds"
    );
    let release: Value = json(&rel.join("release.json"));
    let image = release["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "oci-image")
        .unwrap();
    let root = &cdx["metadata"]["component"];
    assert_eq!(root["type"], "container");
    assert_eq!(root["hashes"][0]["content"], image["sha256"]);
    assert_eq!(
        root["purl"].as_str().unwrap(),
        format!(
            "pkg:oci/relsign-demo@sha256%3A{}",
            image["sha256"].as_str().unwrap()
        )
    );
    // Licenses where the image says them: libc6's DEP-5 copyright, the demo's METADATA.
    let lic =
        |name: &str| comps.iter().find(|c| c["name"] == name).unwrap()["licenses"].to_string();
    assert!(
        lic("libc6").contains("LGPL-2.1-or-later"),
        "{}",
        lic("libc6")
    );
    assert!(lic("relsign-demo").contains("Apache-2.0"));
    assert_eq!(
        cdx["dependencies"][0]["dependsOn"]
            .as_array()
            .unwrap()
            .len(),
        in_image.len()
    );

    // SPDX: the same packages, plus the image, which the document describes.
    let spdx = json(&rel.join("sbom/image.spdx.json"));
    let mut in_spdx = BTreeSet::new();
    for p in &spdx["packages"].as_array().unwrap()[1..] {
        let purl = p["externalRefs"][0]["referenceLocator"].as_str().unwrap();
        let (ty, name, version, arch) = purl_parts(purl);
        assert_eq!(p["versionInfo"].as_str().unwrap(), version);
        assert_eq!(p["checksums"][0]["algorithm"], "SHA256");
        in_spdx.insert((ty, name, version, arch));
    }
    assert_eq!(in_image, in_spdx, "SPDX lists exactly what the image holds");
    let rels = spdx["relationships"].as_array().unwrap();
    assert_eq!(rels[0]["relationshipType"], "DESCRIBES");
    assert_eq!(
        rels.iter()
            .filter(|r| r["relationshipType"] == "CONTAINS")
            .count(),
        in_image.len()
    );
}

#[test]
fn wheel_and_sdist_sboms_name_the_package_and_its_locked_dependencies() {
    let rel = demo_release();
    let lock = relsign::lock::python::PyLock::read(&rel.join("inputs/pylock.demo.toml")).unwrap();
    let locked: BTreeSet<(String, String)> = lock
        .runtime()
        .map(|p| {
            (
                format!("pkg:pypi/{}@{}", p.name, p.version),
                p.wheels[0].sha256.to_string(),
            )
        })
        .collect();
    assert!(!locked.is_empty());
    let release: Value = json(&rel.join("release.json"));
    for a in release["artifacts"].as_array().unwrap() {
        if a["kind"] == "oci-image" {
            continue;
        }
        let file = a["file"].as_str().unwrap();
        let cdx = json(&rel.join(format!("sbom/{file}.cdx.json")));
        let root = &cdx["metadata"]["component"];
        assert_eq!(root["purl"], "pkg:pypi/relsign-demo@0.1.0", "{file}");
        assert_eq!(root["hashes"][0]["content"], a["sha256"], "{file}");
        assert_eq!(root["licenses"][0]["license"]["id"], "Apache-2.0", "{file}");
        let deps: BTreeSet<(String, String)> = cdx["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["purl"].as_str().unwrap().to_string(),
                    c["hashes"][0]["content"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(deps, locked, "{file}: the locked runtime dependencies");
        let click = &cdx["components"][0];
        assert!(
            click.get("licenses").is_some(),
            "click's license from its wheel in the store"
        );
        assert_eq!(cdx["dependencies"][0]["ref"], root["bom-ref"]);
        let spdx = json(&rel.join(format!("sbom/{file}.spdx.json")));
        assert_eq!(
            spdx["relationships"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["relationshipType"] == "DEPENDS_ON")
                .count(),
            locked.len()
        );
        let purpose = if file.ends_with(".whl") {
            "APPLICATION"
        } else {
            "SOURCE"
        };
        assert_eq!(spdx["packages"][0]["primaryPackagePurpose"], purpose);
    }
}

fn read_all(rel: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    sbom_files(rel)
        .into_iter()
        .map(|f| {
            let b = std::fs::read(&f).unwrap();
            (f.strip_prefix(rel).unwrap().to_path_buf(), b)
        })
        .collect()
}

#[test]
fn sboms_are_byte_identical_across_runs_and_builds() {
    let rel = demo_release();
    let first = read_all(rel);
    let cdx = json(&rel.join("sbom/image.cdx.json"));
    let spdx = json(&rel.join("sbom/image.spdx.json"));
    assert_eq!(
        cdx["metadata"]["timestamp"], spdx["creationInfo"]["created"],
        "both carry SOURCE_DATE_EPOCH"
    );
    // The same release, again, in a copy elsewhere.
    let t = tempfile::tempdir().unwrap();
    let copy = t.path().join("copy");
    relsign::fsutil::copy_tree(rel, &copy).unwrap();
    std::fs::remove_dir_all(copy.join("sbom")).unwrap();
    run_ok(relsign(&["sbom", copy.to_str().unwrap()]));
    assert_eq!(first, read_all(&copy), "a second run writes the same bytes");
    // A second build into another directory.
    let b = root().join("target/test-work/sbom-b");
    build_demo(&b);
    run_ok(relsign(&["sbom", b.to_str().unwrap(), "--quiet"]));
    let second = read_all(&b);
    for ((f, x), (_, y)) in first.iter().zip(&second) {
        assert!(x == y, "{} differs between two builds", f.display());
    }
    assert_eq!(first.len(), 6);
}
