//! Faithful packages (issue 12, item 3): a published sdist built with the build backend its own
//! pyproject.toml declares gives PyPI's wheel entry for entry, in content; `relsign compare`
//! shows only normalization (times, order, modes).
//!
//! docassemble.demo 1.10.5 (an 8 MB sdist, 689 wheel entries) asks for setuptools==82.0.1
//! while the recipe's shared build pins say 83.0.0: its own build group gets 82.0.1. The
//! toolchain is the demo's (trixie python3). PyPI's wheel comes through pip (the user's
//! index configuration), pinned by sha256.

mod common;

use common::*;
use std::path::Path;

const SDIST: &str = "docassemble_demo-1.10.5.tar.gz";
const SDIST_SHA256: &str = "7ed12a7f77d6572ec6d313e420e2564e6a25be29e6e93fb7c3f835293ed03366";
const WHEEL: &str = "docassemble_demo-1.10.5-py3-none-any.whl";
/// PyPI's docassemble.demo 1.10.5 wheel.
const PYPI_WHEEL_SHA256: &str = "2bd03f100472b1b0c547037e2280ddac61c294991c2d7b1443b284d8a10f0025";

fn entries(p: &Path) -> usize {
    zip::ZipArchive::new(std::fs::File::open(p).unwrap())
        .unwrap()
        .len()
}

#[test]
fn docassemble_demo_wheel_equals_pypis_in_content() {
    fetch_demo();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::copy(
        root().join("recipes/demo.debian.lock.toml"),
        d.join("debian.lock.toml"),
    )
    .unwrap();
    let recipe = d.join("faithful.toml");
    std::fs::write(
        &recipe,
        format!(
            r#"
[release]
name = "docassemble-demo"
version = "1.10.5"
[python]
version = "3.13"
glibc = "2.41"
build-requirements = ["setuptools==83.0.0"]
lock = "pylock.faithful.toml"
[[package]]
name = "docassemble.demo"
sdist = {{ file = "{SDIST}", sha256 = "{SDIST_SHA256}" }}
[toolchain]
suite = "trixie"
packages = ["python3"]
lock = "debian.lock.toml"
"#
        ),
    )
    .unwrap();
    let r = recipe.to_str().unwrap();
    let o = run_ok(relsign(&["lock", "--python-only", r]));
    let text = String::from_utf8_lossy(&o.stderr);
    assert!(
        text.contains("docassemble.demo: setuptools.build_meta with setuptools==82.0.1"),
        "{text}"
    );
    run_ok(relsign(&["lock", "--check", r]));
    run_ok(relsign(&["fetch", r]));
    let out = d.join("out");
    run_ok(relsign(&["build", r, "--out", out.to_str().unwrap()]));

    // What was used is recorded.
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("release.json")).unwrap()).unwrap();
    let b = &m["builds"][0];
    assert_eq!(b["package"], "docassemble.demo");
    assert_eq!(b["backend"], "setuptools.build_meta");
    assert_eq!(b["group"], "build-docassemble-demo");
    assert_eq!(b["requirements"].as_array().unwrap().len(), 1, "{b}");
    assert_eq!(
        b["requirements"][0]["file"],
        "setuptools-82.0.1-py3-none-any.whl"
    );

    // PyPI's wheel, by sha256, through pip and the user's index configuration.
    let theirs = d.join("pypi");
    let reqs = d.join("pypi.txt");
    std::fs::write(
        &reqs,
        format!("docassemble.demo==1.10.5 --hash=sha256:{PYPI_WHEEL_SHA256}\n"),
    )
    .unwrap();
    let mut pip = std::process::Command::new(venv().join("bin/pip"));
    pip.args([
        "download",
        "--no-deps",
        "--only-binary",
        ":all:",
        "--require-hashes",
    ])
    .arg("-r")
    .arg(&reqs)
    .arg("-d")
    .arg(&theirs);
    run_ok(pip);

    let ours = out.join(WHEEL);
    let pypi = theirs.join(WHEEL);
    assert_eq!(entries(&ours), 689);
    assert_eq!(entries(&pypi), 689);
    let o = relsign(&[
        "compare",
        "--all",
        "--json",
        ours.to_str().unwrap(),
        pypi.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for e in v["entries"].as_array().unwrap() {
        for w in e["what"].as_array().unwrap() {
            let w = w.as_str().unwrap();
            let kind = w.split(' ').next().unwrap().to_string();
            assert!(
                ["mtime", "order", "mode"].contains(&kind.as_str()),
                "{}: {w}: only normalization may differ",
                e["entry"]
            );
            *kinds.entry(kind).or_default() += 1;
        }
    }
    eprintln!(
        "docassemble.demo 1.10.5: {} entries, {} differ only in {kinds:?}",
        entries(&ours),
        v["entries"].as_array().unwrap().len()
    );
}
