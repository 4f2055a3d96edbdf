//! `relsign build --check-reproducible`: passes on the demo, and fails on a fixture project
//! that writes its build time into a file, naming that entry.

mod common;
use common::*;

#[test]
fn check_reproducible_passes_on_the_demo() {
    require_tool("faketime");
    fetch_demo();
    let out = tempfile::tempdir().unwrap();
    let o = run_ok(relsign(&[
        "build",
        demo_recipe().to_str().unwrap(),
        "--out",
        out.path().join("r").to_str().unwrap(),
        "--check-reproducible",
    ]));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("reproducible under variations"), "{text}");
    assert_eq!(text.matches("ok       ").count(), 3, "{text}");
}

#[test]
fn check_reproducible_names_the_entry_that_records_the_build_time() {
    require_tool("faketime");
    fetch_demo();
    let dir = tempfile::tempdir().unwrap();
    relsign::fsutil::copy_tree(
        &root().join("tests/fixtures/stamp"),
        &dir.path().join("stamp"),
    )
    .unwrap();
    std::fs::copy(
        root().join("recipes/demo.debian.lock.toml"),
        dir.path().join("debian.lock.toml"),
    )
    .unwrap();
    let recipe_text = r#"
[release]
name = "stamp"
version = "0.1.0"
[python]
version = "3.13"
glibc = "2.41"
build-requirements = ["setuptools==83.0.0"]
lock = "pylock.toml"
[[package]]
name = "stamp"
path = "stamp"
[toolchain]
suite = "trixie"
packages = ["python3"]
lock = "debian.lock.toml"
"#;
    let recipe_path = dir.path().join("stamp.toml");
    std::fs::write(&recipe_path, recipe_text).unwrap();
    // The fixture's Python lock: the demo's locked setuptools, for this recipe's inputs.
    let recipe = relsign::recipe::Recipe::load(&recipe_path).unwrap();
    let mut lock =
        relsign::lock::python::PyLock::read(&root().join("recipes/pylock.demo.toml")).unwrap();
    lock.packages.retain(|p| p.name == "setuptools");
    let inputs = relsign::lock::python::Inputs::from_recipe(&recipe).unwrap();
    // The fixture's own build environment (group build-stamp: the setuptools it declares).
    let store = relsign::store::Store::at(dir.path().join("unused-store"));
    let builds =
        relsign::lock::builds::resolve_all(&recipe, &store, &inputs.build, &inputs.env).unwrap();
    let inputs = inputs.with_builds(builds);
    lock.dependency_groups = vec!["build".into(), "build-stamp".into()];
    for p in &mut lock.packages {
        p.marker =
            Some("'build' in dependency_groups or 'build-stamp' in dependency_groups".into());
        p.groups = ["build".to_string(), "build-stamp".to_string()].into();
    }
    let tool = lock.relsign.as_mut().unwrap();
    tool.inputs_sha256 = Some(inputs.digest());
    tool.runtime_pins = inputs.runtime_specs();
    tool.build_pins = inputs.build_specs();
    tool.test_pins = inputs.test_specs();
    tool.builds = inputs.builds.iter().map(|b| b.record.clone()).collect();
    lock.write(&dir.path().join("pylock.toml")).unwrap();

    let out = relsign(&[
        "build",
        recipe_path.to_str().unwrap(),
        "--out",
        dir.path().join("out").to_str().unwrap(),
        "--check-reproducible",
    ])
    .output()
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    assert!(text.contains("DIFFERS  stamp-0.1.0.tar.gz: first difference at stamp-0.1.0/src/stamp/_built.py: content"), "{text}");
    assert!(
        text.contains(
            "DIFFERS  stamp-0.1.0-py3-none-any.whl: first difference at stamp/_built.py: content"
        ),
        "{text}"
    );
}
