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
        run_ok(relsign(&[
            "build",
            r.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
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
        "umask 077 && exec faketime -f +72h {} build {} --out {}",
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
    assert_eq!(first.len(), 2, "one sdist and one wheel: {first:?}");
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

#[test]
fn twine_check_accepts_sdist_and_wheel() {
    let dir = demo_release();
    let files: Vec<PathBuf> = artifact_digests(dir)
        .into_iter()
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
