//! `relsign lock --check`, and `relsign fetch --export` as an offline mirror checked by the
//! real tools: pip installs from its PEP 503 index and packaging validates its PEP 751 lock.

mod common;
use common::*;
use std::process::Command;

#[test]
fn lock_check_passes_then_fails_when_the_recipe_changes() {
    let recipe = demo_recipe();
    let out = run_ok(relsign(&["lock", "--check", recipe.to_str().unwrap()]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("up to date"));

    // A copy of the recipe with one more build requirement: the Python lock is stale.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(&recipe).unwrap().replace(
        "build-requirements = [\"setuptools==83.0.0\"]",
        "build-requirements = [\"setuptools==83.0.0\", \"wheel==0.45.1\"]",
    );
    assert!(text.contains("wheel==0.45.1"));
    std::fs::write(dir.path().join("demo.toml"), text).unwrap();
    relsign::fsutil::copy_tree(&root().join("recipes/demo"), &dir.path().join("demo")).unwrap();
    for f in ["pylock.demo.toml", "demo.debian.lock.toml"] {
        std::fs::copy(root().join("recipes").join(f), dir.path().join(f)).unwrap();
    }
    // The image's lock is not there yet: not "stale" but a missing file, named by its key.
    let out = relsign(&[
        "lock",
        "--check",
        dir.path().join("demo.toml").to_str().unwrap(),
    ])
    .output()
    .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("image.lock") && err.contains("demo.image.debian.lock.toml does not exist"),
        "names the key and the file: {err}"
    );
    std::fs::copy(
        root().join("recipes/demo.image.debian.lock.toml"),
        dir.path().join("demo.image.debian.lock.toml"),
    )
    .unwrap();
    let out = relsign(&[
        "lock",
        "--check",
        dir.path().join("demo.toml").to_str().unwrap(),
    ])
    .output()
    .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("wheel==0.45.1") && err.contains("pylock.demo.toml"),
        "names the pin and the lock: {err}"
    );

    // And with another suite, the Debian lock is stale too.
    let text = std::fs::read_to_string(dir.path().join("demo.toml"))
        .unwrap()
        .replace("suite = \"trixie\"", "suite = \"forky\"");
    std::fs::write(dir.path().join("demo.toml"), text).unwrap();
    let out = relsign(&[
        "lock",
        "--check",
        "--json",
        dir.path().join("demo.toml").to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let stale = v["stale"].as_array().unwrap();
    assert!(
        stale.iter().any(|s| s.as_str().unwrap().contains("forky")),
        "{stale:?}"
    );
}

/// A package's pyproject.toml that now declares another build backend version makes the lock
/// stale, naming the package and both declarations; `lock --python-only` fixes it without
/// touching the Debian locks.
#[test]
fn lock_check_fails_when_a_pyproject_declares_another_backend() {
    let dir = tempfile::tempdir().unwrap();
    for f in [
        "demo.toml",
        "pylock.demo.toml",
        "demo.debian.lock.toml",
        "demo.image.debian.lock.toml",
    ] {
        std::fs::copy(root().join("recipes").join(f), dir.path().join(f)).unwrap();
    }
    relsign::fsutil::copy_tree(&root().join("recipes/demo"), &dir.path().join("demo")).unwrap();
    let recipe = dir.path().join("demo.toml");
    let r = recipe.to_str().unwrap();
    run_ok(relsign(&["lock", "--check", r]));
    let pyproject = dir.path().join("demo/pyproject.toml");
    let text = std::fs::read_to_string(&pyproject).unwrap();
    assert!(
        text.contains("requires = [\"setuptools==83.0.0\"]"),
        "{text}"
    );
    std::fs::write(
        &pyproject,
        text.replace(
            "build-backend = \"setuptools.build_meta\"",
            "build-backend = \"setuptools.build_meta:__legacy__\"",
        ),
    )
    .unwrap();
    let out = relsign(&["lock", "--check", r]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("package relsign-demo: its pyproject.toml declares the backend setuptools.build_meta:__legacy__, the lock was made for setuptools.build_meta"),
        "{err}"
    );
    let debs: Vec<Vec<u8>> = ["demo.debian.lock.toml", "demo.image.debian.lock.toml"]
        .iter()
        .map(|f| std::fs::read(dir.path().join(f)).unwrap())
        .collect();
    run_ok(relsign(&["lock", "--python-only", r]));
    run_ok(relsign(&["lock", "--check", r]));
    let lock = std::fs::read_to_string(dir.path().join("pylock.demo.toml")).unwrap();
    assert!(
        lock.contains("backend = \"setuptools.build_meta:__legacy__\""),
        "{lock}"
    );
    for (f, before) in ["demo.debian.lock.toml", "demo.image.debian.lock.toml"]
        .iter()
        .zip(debs)
    {
        assert_eq!(
            std::fs::read(dir.path().join(f)).unwrap(),
            before,
            "{f} is left as it was"
        );
    }
}

#[test]
fn exported_vendor_dir_is_a_mirror_for_fetch_pip_and_pep751() {
    fetch_demo();
    let recipe = demo_recipe();
    let dir = tempfile::tempdir().unwrap();
    let vendor = dir.path().join("vendor");
    run_ok(relsign(&[
        "fetch",
        recipe.to_str().unwrap(),
        "--export",
        vendor.to_str().unwrap(),
    ]));

    // A new, empty store filled only from the vendor directory.
    let store = dir.path().join("store2");
    let simple = format!("file://{}/simple", vendor.display());
    let debian = format!("file://{}/debian", vendor.display());
    let out = run_ok({
        let mut c = Command::new(bin());
        c.args([
            "fetch",
            recipe.to_str().unwrap(),
            "--index-url",
            &simple,
            "--debian-mirror",
            &debian,
        ])
        .env("RELSIGN_STORE", &store);
        c
    });
    assert!(String::from_utf8_lossy(&out.stdout).contains("all locked inputs"));
    let deb =
        relsign::lock::debian::DebianLock::read(&root().join("recipes/demo.debian.lock.toml"))
            .unwrap();
    let py = relsign::lock::python::PyLock::read(&root().join("recipes/pylock.demo.toml")).unwrap();
    let s2 = relsign::store::Store::at(&store);
    for d in &deb.packages {
        assert!(
            s2.has_verified(&d.sha256).unwrap(),
            "{} fetched from the vendor dir",
            d.filename
        );
    }
    for (_, f) in py.files() {
        assert!(
            s2.has_verified(&f.sha256).unwrap(),
            "{} fetched from the vendor dir",
            f.name
        );
    }

    // pip (the real PEP 503 client) installs from the exported index, hash-checked.
    let v = dir.path().join("venv");
    run_ok({
        let mut c = Command::new(venv().join("bin/python"));
        c.args(["-m", "venv"]).arg(&v);
        c
    });
    let click = py
        .runtime()
        .find(|p| p.name == "click")
        .expect("click is locked");
    let req = dir.path().join("req.txt");
    std::fs::write(
        &req,
        format!(
            "click=={} --hash=sha256:{}\n",
            click.version, click.wheels[0].sha256
        ),
    )
    .unwrap();
    run_ok({
        let mut c = Command::new(v.join("bin/pip"));
        c.args([
            "install",
            "-q",
            "--require-hashes",
            "--index-url",
            &simple,
            "-r",
        ])
        .arg(&req)
        .env_remove("PIP_FIND_LINKS");
        c
    });

    // packaging's PEP 751 parser accepts the vendor directory's lock.
    let check = format!(
        "import tomllib, packaging.pylock as p\nl = p.Pylock.from_dict(tomllib.load(open('{}', 'rb')))\nl.validate()\nprint(len(l.packages), sorted(str(x.name) for x in l.packages))",
        vendor.join("pylock.toml").display()
    );
    let out = run_ok({
        let mut c = Command::new(venv().join("bin/python"));
        c.args(["-c", &check]);
        c
    });
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(&format!("{} ", py.packages.len())),
        "{text}"
    );
}
