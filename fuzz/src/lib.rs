//! Helpers shared by the fuzz targets: temp files for parsers that take a path, and a sandbox
//! directory for the targets that write files, with the checks that nothing was written
//! outside it.
//!
//! `cargo xtask fuzz` runs the targets inside bubblewrap with the root file system read-only and
//! a private tmpfs on /tmp, and sets `RELSIGN_FUZZ_PRIVATE_TMP=1`. Then:
//!
//! * a write that escapes the destination into the read-only root fails with EROFS, which
//!   [`no_escape`] turns into a crash (a relsign reader must never try to write there);
//! * a write that escapes into /tmp leaves a file there, which [`Sandbox::check`] finds. What
//!   /tmp held when the target first looked (the directories `cargo xtask fuzz` binds back when
//!   the checkout is under /tmp: the fuzzer, its seeds, corpus and artifacts) is not an escape.

use std::path::{Path, PathBuf};

/// A directory with a destination (`root/`) to extract into, and a canary beside it.
pub struct Sandbox {
    pub outer: tempfile::TempDir,
    pub dest: PathBuf,
}

const CANARY: &[u8] = b"canary: nothing may write here\n";

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    pub fn new() -> Sandbox {
        tmp_at_start();
        let outer = tempfile::Builder::new()
            .prefix("relsign-fuzz-")
            .tempdir()
            .expect("temp dir");
        let dest = outer.path().join("root");
        std::fs::create_dir(outer.path().join("outside")).expect("mkdir");
        std::fs::write(outer.path().join("outside/canary"), CANARY).expect("canary");
        Sandbox { outer, dest }
    }

    /// Panic when anything exists in the sandbox outside `root/` (other than the canary), when
    /// the canary changed, or (in the private /tmp of `cargo xtask fuzz`) when /tmp holds
    /// anything but this sandbox.
    pub fn check(&self) {
        let outer = self.outer.path();
        for e in std::fs::read_dir(outer).expect("read sandbox") {
            let name = e.expect("entry").file_name();
            let name = name.to_string_lossy();
            assert!(
                name == "root" || name == "outside",
                "escape: {name:?} was written beside the destination"
            );
        }
        let names: Vec<_> = std::fs::read_dir(outer.join("outside"))
            .expect("read outside")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["canary"], "escape: written into the canary dir");
        assert_eq!(
            std::fs::read(outer.join("outside/canary")).expect("canary"),
            CANARY,
            "escape: the canary was overwritten"
        );
        if private_tmp() {
            let tmp = std::env::temp_dir();
            let before = tmp_at_start();
            for e in std::fs::read_dir(&tmp).expect("read /tmp") {
                let p = e.expect("entry").path();
                let name = p.file_name().unwrap_or_default().to_string_lossy();
                assert!(
                    name.starts_with("relsign-fuzz-")
                        || name.starts_with("libFuzzerTemp")
                        || before.contains(name.as_ref()),
                    "escape: {} was written in the private /tmp",
                    p.display()
                );
            }
        }
    }
}

/// The names in /tmp when first asked: taken by [`Sandbox::new`], before any input runs.
fn tmp_at_start() -> &'static std::collections::BTreeSet<String> {
    static AT_START: std::sync::OnceLock<std::collections::BTreeSet<String>> =
        std::sync::OnceLock::new();
    AT_START.get_or_init(|| {
        std::fs::read_dir(std::env::temp_dir())
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with("relsign-fuzz-"))
                    .collect()
            })
            .unwrap_or_default()
    })
}

fn private_tmp() -> bool {
    std::env::var_os("RELSIGN_FUZZ_PRIVATE_TMP").is_some()
}

const EROFS: i32 = 30;

extern "C" {
    fn __errno_location() -> *mut i32;
}

fn set_errno(v: i32) {
    // SAFETY: glibc's thread-local errno; the pointer is valid for the calling thread.
    unsafe { *__errno_location() = v }
}

fn errno() -> i32 {
    // SAFETY: as above.
    unsafe { *__errno_location() }
}

/// Run `f` (a reader that writes into a destination) and crash when it tried to write outside
/// the destination: under `cargo xtask fuzz` the root file system is read-only, so such a write
/// fails with EROFS. Checked on errno after the call (relsign stringifies some I/O errors, so
/// the error value alone cannot show it) and on the error chain. Never on error messages: they
/// quote archive bytes, which the fuzzer fills with whatever the target compares against.
pub fn no_escape<T, E: std::error::Error + 'static>(
    f: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    set_errno(0);
    let r = f();
    let seen = errno();
    assert_ne!(
        seen, EROFS,
        "escape: a syscall failed with EROFS (a write outside the destination)"
    );
    if let Err(e) = &r {
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(err) = cur {
            if let Some(io) = err.downcast_ref::<std::io::Error>() {
                assert_ne!(
                    io.raw_os_error(),
                    Some(EROFS),
                    "escape: a write outside the destination: {e}"
                );
            }
            cur = err.source();
        }
    }
    r
}

/// Write `bytes` to a file named `name` in a new temp dir (for parsers that take a path).
pub fn temp_file(name: &str, bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::Builder::new()
        .prefix("relsign-fuzz-")
        .tempdir()
        .expect("temp dir");
    let p = d.path().join(name);
    std::fs::write(&p, bytes).expect("write temp file");
    (d, p)
}

/// True when `p` is a relative `/`-separated path with no empty, `.` or `..` component.
pub fn is_clean_relative(p: &str) -> bool {
    !p.is_empty() && !p.starts_with('/') && p.split('/').all(|c| !matches!(c, "" | "." | ".."))
}

/// `path` joined to `root` must stay under `root` lexically.
pub fn assert_inside(root: &Path, rel: &str) {
    assert!(is_clean_relative(rel), "reported path {rel:?} is not clean");
    assert!(root.join(rel).starts_with(root));
}
