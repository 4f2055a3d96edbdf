//! A signed demo release (build, gate, SBOMs, signature) with generated TEST-ONLY keys and a
//! trust policy, made once per test binary.

use super::*;
use std::sync::OnceLock;

pub const PASSPHRASE: &str = "relsign test passphrase (TEST ONLY)";

pub struct Signed {
    /// The release directory (do not write into it: copy it first).
    pub release: PathBuf,
    /// The trust policy directory (policy/1.json).
    pub policy: PathBuf,
    /// The release key (encrypted; passphrase [`PASSPHRASE`]).
    pub key: PathBuf,
}

/// `relsign` with the test passphrase and no last-seen state.
pub fn rs(args: &[&str]) -> Command {
    let mut c = relsign(args);
    c.env("RELSIGN_PASSPHRASE", PASSPHRASE);
    c.env_remove("RELSIGN_STATE");
    c
}

/// Generated TEST-ONLY keys (a root and a release key) and a signed policy under `dir`:
/// returns (policy dir, release key).
pub fn keys_and_policy(dir: &Path) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir.join("keys")).unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let root_key = dir.join("keys/root");
    let rel_key = dir.join("keys/release");
    for k in [&root_key, &rel_key] {
        run_ok(rs(&["key", "generate", "--out", &s(k)]));
    }
    let policy = dir.join("policy");
    run_ok(rs(&[
        "policy",
        "init",
        &s(&policy),
        "--root-key",
        &format!("{}.pub", s(&root_key)),
        "--release-key",
        &format!("{}.pub", s(&rel_key)),
        "--provenance-threshold",
        "1",
        "--artifact-threshold",
        "1",
        "--not-before",
        "2000-01-01T00:00:00Z",
        "--test-only",
    ]));
    run_ok(rs(&[
        "policy",
        "sign",
        &s(&policy),
        "--key",
        &format!("{}.key", s(&root_key)),
    ]));
    (policy, PathBuf::from(format!("{}.key", s(&rel_key))))
}

/// Build, gate, SBOM and sign the demo into `target/test-work/<tag>/release`.
pub fn signed_demo(tag: &str) -> Signed {
    fetch_demo();
    let dir = root().join("target/test-work").join(tag);
    hold_lock(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    let (policy, key) = keys_and_policy(&dir);
    let release = dir.join("release");
    run_ok(rs(&[
        "release",
        demo_recipe().to_str().unwrap(),
        "--out",
        release.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]));
    Signed {
        release,
        policy,
        key,
    }
}

/// Hold `<dir>.lock` until the process ends, or fail naming it. Two runs of one test binary in
/// one checkout (two `cargo xtask test` at once) would otherwise remove each other's release
/// directory halfway through its gate, which is what once looked like two `relsign release`
/// runs colliding on one store.
fn hold_lock(dir: &Path) {
    static HELD: OnceLock<std::sync::Mutex<Vec<std::fs::File>>> = OnceLock::new();
    let path = dir.with_extension("lock");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let f = std::fs::File::create(&path).unwrap();
    if rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err() {
        panic!(
            "{} is held by another run of this test binary in this checkout: run one \
             `cargo xtask test` at a time",
            path.display()
        );
    }
    HELD.get_or_init(Default::default).lock().unwrap().push(f);
}

/// One signed demo release per test binary.
pub fn shared_signed_demo() -> &'static Signed {
    static S: OnceLock<Signed> = OnceLock::new();
    S.get_or_init(|| {
        let tag = format!(
            "signed-{}",
            std::env::current_exe()
                .ok()
                .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
                .unwrap_or_default()
        );
        signed_demo(&tag)
    })
}

/// A private copy of the shared signed release.
pub fn signed_copy() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("release");
    relsign::fsutil::copy_tree(&shared_signed_demo().release, &dir).unwrap();
    (t, dir)
}
