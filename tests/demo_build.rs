//! The demo recipe end to end: reproducibility under variations, the artifact snapshot,
//! twine, pip --require-hashes, and the sandbox's lack of network.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Build the demo once for the tests in this file (into target/test-work/demo-a).
fn demo_release() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        fetch_demo();
        let out = root().join("target/test-work/demo-a");
        let _ = std::fs::remove_dir_all(&out);
        let r = demo_recipe();
        // Every step runs (the snapshot is of a real build, not of the action cache).
        run_ok(relsign(&[
            "build",
            r.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--no-cache",
        ]));
        out
    })
}

#[test]
fn second_build_under_variations_is_bit_identical() {
    require_tool("faketime");
    let first = artifact_digests(demo_release());
    // Second build: another output path and working directory, umask 077, another TZ and
    // locale, and a clock three days ahead.
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("elsewhere/out");
    let cmd = format!(
        "umask 077 && exec faketime -f +72h {} build {} --out {} --no-cache",
        bin().display(),
        demo_recipe().display(),
        out.display()
    );
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(&cmd)
        .current_dir(work.path())
        .env("RELSIGN_STORE", shared_store())
        .env("TZ", "Asia/Tokyo")
        .env("LANG", "fr_FR.UTF-8")
        .env("LC_ALL", "fr_FR.UTF-8");
    run_ok(c);
    let second = artifact_digests(&out);
    // The SBOMs of the two builds are byte-identical too.
    let a = tempfile::tempdir().unwrap();
    relsign::fsutil::copy_tree(demo_release(), &a.path().join("r")).unwrap();
    for dir in [a.path().join("r"), out.clone()] {
        run_ok(relsign(&["sbom", dir.to_str().unwrap()]));
    }
    for f in [
        "image.cdx.json",
        "image.spdx.json",
        "relsign_demo-0.1.0-py3-none-any.whl.cdx.json",
        "relsign_demo-0.1.0.tar.gz.spdx.json",
    ] {
        assert_eq!(
            std::fs::read(a.path().join("r/sbom").join(f)).unwrap(),
            std::fs::read(out.join("sbom").join(f)).unwrap(),
            "{f} differs between builds"
        );
    }
    assert_eq!(
        first.len(),
        3,
        "one sdist, one wheel and one image: {first:?}"
    );
    assert_eq!(first, second, "artifacts differ between the two builds");
}

#[test]
fn demo_artifacts_match_the_snapshot() {
    let got: String = artifact_digests(demo_release())
        .iter()
        .map(|(f, d)| format!("{d}  {f}\n"))
        .collect();
    let snap = root().join("tests/snapshots/demo-artifacts.sha256");
    if std::env::var_os("RELSIGN_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&snap, &got).unwrap();
    }
    let want = std::fs::read_to_string(&snap).unwrap_or_default();
    assert_eq!(
        want,
        got,
        "the demo artifacts' digests changed. If that is intended (the demo source, a lock or the \
         normalization changed), re-run with RELSIGN_UPDATE_SNAPSHOTS=1 and commit {}",
        snap.display()
    );
}

/// Gzip (layers, sdists) and deflate (wheels) are compressed in parallel blocks whose bytes do
/// not depend on the thread count: a build on one thread gives the committed digests (made
/// on this machine's cores). The writer's own test covers 1, 2 and 16 threads.
#[test]
fn one_compression_thread_gives_the_same_artifacts() {
    fetch_demo();
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("release");
    let mut c = relsign(&[
        "build",
        demo_recipe().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--no-cache",
    ]);
    c.env("RELSIGN_THREADS", "1");
    run_ok(c);
    assert_eq!(artifact_digests(&out), artifact_digests(demo_release()));
}

#[test]
fn twine_check_accepts_sdist_and_wheel() {
    let dir = demo_release();
    let files: Vec<PathBuf> = artifact_digests(dir)
        .into_iter()
        .filter(|(f, _)| f.ends_with(".whl") || f.ends_with(".tar.gz"))
        .map(|(f, _)| dir.join(f))
        .collect();
    let mut c = Command::new(venv().join("bin/twine"));
    c.arg("check").arg("--strict").args(&files);
    let out = run_ok(c);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("PASSED").count(), 2, "twine output: {text}");
}

#[test]
fn pip_installs_wheel_and_locked_deps_with_require_hashes() {
    let dir = demo_release();
    let work = tempfile::tempdir().unwrap();
    let wheels = work.path().join("wheels");
    std::fs::create_dir_all(&wheels).unwrap();
    let mut reqs = String::new();
    // The demo wheel itself.
    for (f, d) in artifact_digests(dir) {
        if f.ends_with(".whl") {
            std::fs::copy(dir.join(&f), wheels.join(&f)).unwrap();
            reqs.push_str(&format!("relsign-demo==0.1.0 --hash=sha256:{d}\n"));
        }
    }
    // Its locked runtime dependencies, taken from the store by digest.
    let lock =
        relsign::lock::python::PyLock::read(&root().join("recipes/pylock.demo.toml")).unwrap();
    let store = relsign::store::Store::at(shared_store());
    for (pkg, file) in lock
        .runtime()
        .flat_map(|p| p.wheels.iter().map(move |f| (p, f)))
    {
        let src = store.get(&file.sha256, &file.name).unwrap();
        std::fs::copy(src, wheels.join(&file.name)).unwrap();
        reqs.push_str(&format!(
            "{}=={} --hash=sha256:{}\n",
            pkg.name, pkg.version, file.sha256
        ));
    }
    std::fs::write(work.path().join("req.txt"), &reqs).unwrap();
    let v = work.path().join("venv");
    run_ok({
        let mut c = Command::new(venv().join("bin/python"));
        c.args(["-m", "venv"]).arg(&v);
        c
    });
    run_ok({
        let mut c = Command::new(v.join("bin/pip"));
        c.args([
            "install",
            "-q",
            "--no-index",
            "--require-hashes",
            "--find-links",
        ])
        .arg(&wheels)
        .arg("-r")
        .arg(work.path().join("req.txt"));
        c
    });
    let out = run_ok({
        let mut c = Command::new(v.join("bin/relsign-demo"));
        c.args(["greet", "Ada"]);
        c
    });
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Hello, Ada!");
    let bad = Command::new(v.join("bin/relsign-demo"))
        .args(["sum", "1", "x"])
        .output()
        .unwrap();
    assert!(!bad.status.success(), "bad input must fail");
}

#[test]
fn sandbox_has_no_network() {
    fetch_demo();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let r = demo_recipe();
    // Control: the same sandbox runs Python fine when no network is involved.
    let ok = run_ok(relsign(&[
        "exec",
        r.to_str().unwrap(),
        "--",
        "/usr/bin/python3",
        "-c",
        "print('alive')",
    ]));
    assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), "alive");
    // The host can reach the listener...
    std::net::TcpStream::connect(("127.0.0.1", port)).expect("host connects to its own listener");
    // ...but a step in the sandbox cannot.
    let code = format!("import socket; socket.create_connection(('127.0.0.1', {port}), timeout=5); print('CONNECTED')");
    let out = relsign(&[
        "exec",
        r.to_str().unwrap(),
        "--",
        "/usr/bin/python3",
        "-c",
        &code,
    ])
    .output()
    .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "the step must fail: {err}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("CONNECTED"));
    assert!(
        err.contains("ConnectionRefusedError")
            || err.contains("Network is unreachable")
            || err.contains("OSError"),
        "{err}"
    );
    // Only the control connection reached the listener.
    let mut accepted = 0;
    while listener.accept().is_ok() {
        accepted += 1;
    }
    assert_eq!(accepted, 1);
}

/// The demo image's manifest digest from release.json.
fn image_digest(dir: &Path) -> String {
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("release.json")).unwrap()).unwrap();
    let img = json["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "oci-image")
        .expect("the demo release has an image");
    format!("sha256:{}", img["sha256"].as_str().unwrap())
}

#[test]
fn skopeo_and_umoci_accept_the_layout() {
    require_tool("skopeo");
    require_tool("umoci");
    let dir = demo_release();
    let layout = dir.join("image");
    let out = run_ok({
        let mut c = Command::new("skopeo");
        c.arg("inspect")
            .arg(format!("oci:{}:0.1.0", layout.display()));
        c
    });
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["Digest"].as_str().unwrap(), image_digest(dir));
    assert_eq!(v["Architecture"], "amd64");
    assert_eq!(
        v["Created"],
        v["Labels"]["org.opencontainers.image.created"]
    );
    let work = tempfile::tempdir().unwrap();
    let bundle = work.path().join("bundle");
    run_ok({
        let mut c = Command::new("umoci");
        c.arg("unpack")
            .arg("--image")
            .arg(format!("{}:0.1.0", layout.display()))
            .arg(&bundle);
        c
    });
    assert!(bundle.join("rootfs/opt/venv/bin/relsign-demo").is_file());
    assert!(bundle
        .join("rootfs/usr/bin/python3")
        .symlink_metadata()
        .is_ok());
}

#[test]
fn skopeo_copies_the_layout_to_a_registry_with_the_same_digest() {
    require_tool("skopeo");
    let reg = Registry::start(None);
    let dir = demo_release();
    let dest = format!("docker://{}/relsign-demo:0.1.0", reg.host());
    run_ok({
        let mut c = Command::new("skopeo");
        c.args([
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            "--preserve-digests",
        ])
        .arg(format!("oci:{}:0.1.0", dir.join("image").display()))
        .arg(&dest);
        c
    });
    let out = run_ok({
        let mut c = Command::new("skopeo");
        c.args(["inspect", "--tls-verify=false"]).arg(&dest);
        c
    });
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["Digest"].as_str().unwrap(),
        image_digest(dir),
        "pushed digest equals the built one"
    );
}

#[test]
fn the_image_runs_the_demo_without_docker() {
    let dir = demo_release();
    let out = run_ok(relsign(&[
        "run",
        dir.to_str().unwrap(),
        "--",
        "python3",
        "-c",
        "import relsign_demo, click; print(relsign_demo.__version__)",
    ]));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0.1.0");
    let out = run_ok(relsign(&[
        "run",
        dir.to_str().unwrap(),
        "--",
        "relsign-demo",
        "greet",
        "Ada",
    ]));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Hello, Ada!");
    // The entry point with bad input: the command's own exit code comes through.
    let bad = relsign(&[
        "run",
        dir.to_str().unwrap(),
        "--",
        "relsign-demo",
        "sum",
        "1",
        "x",
    ])
    .output()
    .unwrap();
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("not an integer"));
}

#[test]
fn image_status_d_matches_the_lock_and_every_wheel_has_metadata() {
    let dir = demo_release();
    let work = tempfile::tempdir().unwrap();
    let rootfs = work.path().join("rootfs");
    relsign::build::image::unpack_layout(&dir.join("image"), Some("0.1.0"), &rootfs).unwrap();
    let lock = relsign::lock::debian::DebianLock::read(
        &root().join("recipes/demo.image.debian.lock.toml"),
    )
    .unwrap();
    let status_d = rootfs.join("var/lib/dpkg/status.d");
    let mut names: Vec<String> = std::fs::read_dir(&status_d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".md5sums"))
        .collect();
    names.sort();
    let mut locked: Vec<String> = lock.packages.iter().map(|p| p.name.clone()).collect();
    locked.sort();
    assert_eq!(names, locked, "status.d lists exactly the locked packages");
    for p in &lock.packages {
        let text = std::fs::read_to_string(status_d.join(&p.name)).unwrap();
        assert!(
            text.lines().any(|l| l == format!("Version: {}", p.version)),
            "{}: {text}",
            p.name
        );
        assert!(
            text.lines().any(|l| l == "Status: install ok installed"),
            "{}",
            p.name
        );
    }
    assert!(
        rootfs.join("etc/os-release").symlink_metadata().is_ok()
            && rootfs.join("etc/debian_version").is_file()
    );
    assert_eq!(std::fs::read(rootfs.join("etc/machine-id")).unwrap(), b"");
    // Every installed wheel: the built one and each locked runtime dependency.
    let site = rootfs.join("opt/venv/lib/python3.13/site-packages");
    let py = relsign::lock::python::PyLock::read(&root().join("recipes/pylock.demo.toml")).unwrap();
    let mut expected: Vec<String> = py.runtime().map(|p| p.name.clone()).collect();
    expected.push("relsign-demo".into());
    expected.sort();
    let mut dists: Vec<String> = std::fs::read_dir(&site)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".dist-info"))
        .collect();
    dists.sort();
    assert_eq!(dists.len(), expected.len(), "{dists:?} vs {expected:?}");
    for d in &dists {
        let meta = std::fs::read_to_string(site.join(d).join("METADATA")).unwrap();
        let name = meta.lines().find_map(|l| l.strip_prefix("Name: ")).unwrap();
        assert!(
            expected.contains(&relsign::python::requirements::normalize_name(name)),
            "{name}"
        );
        assert!(site.join(d).join("RECORD").is_file() && site.join(d).join("INSTALLER").is_file());
    }
}

/// A copy of the demo release, so a test can write into it without disturbing the others.
fn release_copy() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    relsign::fsutil::copy_tree(demo_release(), &t.path().join("release")).unwrap();
    t
}

#[test]
fn the_gate_passes_in_a_venv_and_in_the_image() {
    let t = release_copy();
    let rel = t.path().join("release");
    let out = run_ok(relsign(&[
        "test",
        demo_recipe().to_str().unwrap(),
        "--release",
        rel.to_str().unwrap(),
    ]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("behave in venv: 7 passed, 0 failed, 0 skipped"),
        "{text}"
    );
    assert!(
        text.contains("behave in image: 7 passed, 0 failed, 0 skipped"),
        "{text}"
    );
    for place in ["venv", "image"] {
        let junit: Vec<_> = std::fs::read_dir(rel.join("test-results").join(place))
            .unwrap()
            .collect();
        assert_eq!(junit.len(), 1, "one JUnit file per feature in {place}");
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(rel.join("test-results/summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["runs"].as_array().unwrap().len(), 2);
}

#[test]
fn a_failing_scenario_fails_the_gate_with_exit_1() {
    let t = release_copy();
    let rel = t.path().join("release");
    // The demo recipe with one more scenario, which fails.
    let recipe_dir = t.path().join("recipe");
    relsign::fsutil::copy_tree(&root().join("recipes"), &recipe_dir).unwrap();
    let feature = recipe_dir.join("demo/features/cli.feature");
    let mut text = std::fs::read_to_string(&feature).unwrap();
    text.push_str("\n  Scenario: a deliberately wrong sum\n    When I run \"relsign-demo sum 2 2\"\n    Then the output is \"5\"\n");
    std::fs::write(&feature, text).unwrap();
    let out = relsign(&[
        "test",
        recipe_dir.join("demo.toml").to_str().unwrap(),
        "--release",
        rel.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr(&out),
    );
    assert_eq!(out.status.code(), Some(1), "{so}{se}");
    assert!(
        so.contains("behave in venv: 7 passed, 1 failed")
            && so.contains("behave in image: 7 passed, 1 failed"),
        "{so}"
    );
    assert!(
        se.contains("a deliberately wrong sum"),
        "names the failing scenario: {se}"
    );
}

#[test]
fn rebuild_of_the_demo_release_matches_bit_for_bit() {
    let t = release_copy();
    let rel = t.path().join("release");
    let out = run_ok(relsign(&["rebuild", rel.to_str().unwrap()]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.matches("\nok ").count() + usize::from(text.starts_with("ok ")),
        3,
        "{text}"
    );
    assert!(text.contains("every digest matches"), "{text}");
}

#[test]
fn rebuild_refuses_a_recipe_that_is_not_the_recorded_one_before_building() {
    let t = release_copy();
    let rel = t.path().join("release");
    let recipe = rel.join("inputs/demo.toml");
    let mut text = std::fs::read_to_string(&recipe).unwrap();
    text.push_str("\n# an edit\n");
    std::fs::write(&recipe, text).unwrap();
    // An empty store: were it to build, it would stop at the first missing input (exit 2).
    let store = tempfile::tempdir().unwrap();
    let out = relsign(&["rebuild", rel.to_str().unwrap()])
        .env("RELSIGN_STORE", store.path())
        .output()
        .unwrap();
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr(&out),
    );
    assert_eq!(out.status.code(), Some(1), "{so}{se}");
    assert!(
        so.contains("inputs/demo.toml differs: expected="),
        "names the recipe: {so}"
    );
    assert!(se.contains("not rebuilding"), "{se}");
}

#[test]
fn rebuild_names_a_tampered_artifact() {
    let t = release_copy();
    let rel = t.path().join("release");
    let wheel = rel.join("relsign_demo-0.1.0-py3-none-any.whl");
    let mut bytes = std::fs::read(&wheel).unwrap();
    bytes[100] ^= 0x01;
    std::fs::write(&wheel, bytes).unwrap();
    let out = relsign(&["rebuild", rel.to_str().unwrap()])
        .output()
        .unwrap();
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr(&out),
    );
    assert_eq!(out.status.code(), Some(1), "{so}{se}");
    assert!(
        so.contains("DIFFERS  relsign_demo-0.1.0-py3-none-any.whl"),
        "{so}"
    );
    assert!(
        se.contains("not reproduced: relsign_demo-0.1.0-py3-none-any.whl"),
        "{se}"
    );
}

#[test]
fn rebuild_names_the_first_entry_a_changed_source_file_touches() {
    let t = release_copy();
    let rel = t.path().join("release");
    let cli = rel.join("inputs/demo/src/relsign_demo/cli.py");
    let mut text = std::fs::read_to_string(&cli).unwrap();
    text.push_str("# a change\n");
    std::fs::write(&cli, text).unwrap();
    let out = relsign(&["rebuild", rel.to_str().unwrap()])
        .output()
        .unwrap();
    let so = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{so}{}", stderr(&out));
    assert!(
        so.contains("input source of relsign-demo (demo) differs"),
        "{so}"
    );
    assert!(so.contains("relsign_demo-0.1.0.tar.gz: first difference at relsign_demo-0.1.0/src/relsign_demo/cli.py: content"), "{so}");
    assert!(
        so.contains(
            "relsign_demo-0.1.0-py3-none-any.whl: first difference at relsign_demo/cli.py: content"
        ),
        "{so}"
    );
}
