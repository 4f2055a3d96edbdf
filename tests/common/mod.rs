//! Shared helpers for the integration tests: the binary, the test venv, a shared store, and
//! one demo build reused by the tests of a file.
#![allow(dead_code)]

pub mod proxy;
pub mod pyindex;
pub mod signed;
pub mod synthetic;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_relsign"))
}

/// A store shared by all tests (and runs), so locked inputs are fetched once.
pub fn shared_store() -> PathBuf {
    root().join("target/test-store")
}

/// The venv with the outside verifiers that `cargo xtask test` creates. Its absence is a failure
/// that says how to get it, never a skip.
pub fn venv() -> PathBuf {
    let v = std::env::var_os("RELSIGN_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/xtask-venv"));
    assert!(
        v.join("bin/python").exists(),
        "the test venv {} is missing (it holds twine, pip and packaging): run `cargo xtask test`",
        v.display()
    );
    v
}

/// Run sigstore-js (`@sigstore/verify`, installed by `cargo xtask test` into target/js) on
/// every bundle of `release` with the given public keys. Its absence is a failure that says
/// how to get it, never a skip.
pub fn sigstore_js(release: &Path, pubkeys: &[PathBuf]) -> Output {
    sigstore_js_with_root(release, pubkeys, None)
}

/// [`sigstore_js`] with a Sigstore trusted root naming transparency logs: the tlog entries of
/// the bundles are verified, and a provenance bundle needs one.
pub fn sigstore_js_with_root(
    release: &Path,
    pubkeys: &[PathBuf],
    trusted_root: Option<&Path>,
) -> Output {
    require_tool("node");
    let js = std::env::var_os("RELSIGN_TEST_JS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/js"));
    assert!(
        js.join("node_modules/@sigstore/verify/package.json")
            .is_file(),
        "sigstore-js is missing from {}: run `cargo xtask test`, which installs it",
        js.display()
    );
    // ESM resolves packages from the script's own directory: run a copy from there.
    let script = js.join("sigstore_verify.mjs");
    std::fs::copy(root().join("tests/js/sigstore_verify.mjs"), &script).unwrap();
    let mut c = Command::new("node");
    c.arg(&script).arg(release).args(pubkeys);
    match trusted_root {
        Some(r) => c.env("SIGSTORE_TRUSTED_ROOT", r),
        None => c.env_remove("SIGSTORE_TRUSTED_ROOT"),
    };
    c.output().expect("spawn node")
}

/// Fail with the tool's name when a required program is missing.
pub fn require_tool(name: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "required tool `{name}` is not installed: run `cargo xtask test`, which installs it"
    );
}

pub fn relsign(args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(args);
    c.env("RELSIGN_STORE", shared_store());
    c
}

pub fn run_ok(mut c: Command) -> Output {
    let out = c.output().expect("spawn");
    assert!(
        out.status.success(),
        "{c:?} failed: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// stdout and stderr together, for messages and searches.
pub fn out_text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Run, expect exit 1 and a message naming `check`.
pub fn refused(mut c: Command, check: &str) -> String {
    let o = c.output().expect("spawn");
    let text = out_text(&o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{c:?}: expected exit 1 (refused: {check}), got {:?}\n{text}",
        o.status
    );
    assert!(
        text.contains(&format!("check `{check}` failed")),
        "{c:?}: expected the failed check `{check}` to be named:\n{text}"
    );
    text
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The demo's recipe and its three locks copied into `dir` (created); the recipe's path. The
/// caller provides the `demo/` source directory beside it (a link or a copy).
pub fn copy_demo_recipe(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    for f in [
        "demo.toml",
        "demo.debian.lock.toml",
        "pylock.demo.toml",
        "demo.image.debian.lock.toml",
    ] {
        std::fs::copy(root().join("recipes").join(f), dir.join(f)).unwrap();
    }
    dir.join("demo.toml")
}

pub fn demo_recipe() -> PathBuf {
    root().join("recipes/demo.toml")
}

/// Fetch the demo's inputs into the shared store (idempotent; a no-op once present).
pub fn fetch_demo() {
    let r = demo_recipe();
    run_ok(relsign(&["fetch", r.to_str().unwrap()]));
}

/// The artifacts of a release dir as sorted (file, sha256) pairs, from release.json,
/// each re-hashed from disk.
pub fn artifact_digests(dir: &Path) -> Vec<(String, String)> {
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("release.json")).unwrap()).unwrap();
    let mut v = Vec::new();
    for a in json["artifacts"].as_array().unwrap() {
        let file = a["file"].as_str().unwrap().to_string();
        // An image is named by its manifest digest: the manifest blob in the layout.
        let path = if a["kind"] == "oci-image" {
            dir.join(&file)
                .join("blobs/sha256")
                .join(a["sha256"].as_str().unwrap())
        } else {
            dir.join(&file)
        };
        let bytes = std::fs::read(&path).unwrap();
        let actual = relsign::digest::Sha256Hex::of(&bytes).to_string();
        assert_eq!(
            a["sha256"].as_str().unwrap(),
            actual,
            "release.json digest of {file} matches the file"
        );
        v.push((file, actual));
    }
    v.sort();
    v
}

/// A CNCF distribution registry (`docker-registry`) on 127.0.0.1 with filesystem storage in a
/// temp dir and, when `htpasswd` is given, basic auth. Stopped (by PID) when dropped.
pub struct Registry {
    pub port: u16,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Registry {
    pub fn start(htpasswd: Option<&str>) -> Registry {
        require_tool("docker-registry");
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut cfg = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        if let Some(h) = htpasswd {
            let f = dir.path().join("htpasswd");
            std::fs::write(&f, h).unwrap();
            cfg.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: relsign-test\n    path: {}\n",
                f.display()
            ));
        }
        let cfg_path = dir.path().join("config.yml");
        std::fs::write(&cfg_path, cfg).unwrap();
        let child = std::process::Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg_path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let reg = Registry {
            port,
            child,
            _dir: dir,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "docker-registry did not start on 127.0.0.1:{port}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        reg
    }
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A static file server (for a mirror, a log) (Python's http.server from the test venv).
pub struct FileServer {
    child: std::process::Child,
    pub port: u16,
}
impl FileServer {
    pub fn start(dir: &Path) -> FileServer {
        let port = free_port();
        let child = Command::new(venv().join("bin/python"))
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
                "--directory",
            ])
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "http.server did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        FileServer { child, port }
    }
}
impl Drop for FileServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
