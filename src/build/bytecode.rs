//! `image.bytecode`: the venv's Python files compiled to bytecode at build time, as pip does on
//! install, so that a venv the server cannot write to (the signed bits, owned by root) does
//! not compile every module again in every process it starts.
//!
//! Reproducible by construction: the image's own interpreter runs inside the sandbox (no
//! network, `PYTHONHASHSEED=0` from the sandbox's fixed environment), in one process that visits the files in sorted order (the
//! marshalled bytes depend on what the process compiled before, so a pool of workers would
//! not be), with hash-checked `.pyc` files (PEP 552: the source's hash, no timestamp). The
//! path recorded in each code object is the file's path in the image. A file that does not
//! compile (a template named `.py`, say) stays without bytecode, as with pip; the build
//! reports how many.

use crate::build::error::BuildError;
use crate::fsutil;
use crate::report::Reporter;
use crate::sandbox::{self, Bind, Step};
use std::path::Path;

/// Where the venv is mounted for the run: a directory every Debian root has (base-files),
/// so that the Debian tree gets no new mount point.
const MOUNT_AT: &str = "/mnt";

const DRIVER: &str = r#"
import os, sys, py_compile
os.umask(0o022)
site, recorded = sys.argv[1], sys.argv[2]
done = failed = 0
for d, dirs, files in os.walk(site):
    dirs.sort()
    for f in sorted(files):
        if not f.endswith(".py"):
            continue
        src = os.path.join(d, f)
        rel = os.path.relpath(src, site)
        try:
            py_compile.compile(src, dfile=os.path.join(recorded, rel), doraise=True,
                invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
            done += 1
        except (py_compile.PyCompileError, UnicodeDecodeError, ValueError) as e:
            failed += 1
            print("not compiled:", rel, file=sys.stderr)
print(done, failed)
"#;

/// What [`compile_venv`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compiled {
    pub files: usize,
    pub failed: usize,
}

/// Compile `site` (the host directory that is the venv's site-packages, at `site_in_image`
/// in the image) with `python` (e.g. `/usr/bin/python3.13`) of the Debian tree `rootfs`.
pub fn compile_venv(
    rootfs: &Path,
    python: &str,
    site: &Path,
    site_in_image: &str,
    epoch: u64,
    reporter: &dyn Reporter,
) -> Result<Compiled, BuildError> {
    sandbox::require_in_rootfs(rootfs, python)?;
    let mount = rootfs.join(MOUNT_AT.trim_start_matches('/'));
    if !mount.is_dir() {
        return Err(BuildError::Message(format!(
            "image.bytecode mounts the venv at {MOUNT_AT}, which the Debian tree {} lacks (base-files makes it)",
            rootfs.display()
        )));
    }
    let step = Step {
        name: "compile the venv to bytecode".into(),
        rootfs: rootfs.to_path_buf(),
        binds: vec![Bind {
            host: site.to_path_buf(),
            dest: MOUNT_AT.into(),
            writable: true,
        }],
        env: vec![("SOURCE_DATE_EPOCH".into(), epoch.to_string())],
        cwd: "/".into(),
        argv: vec![
            python.into(),
            // Not -I or -E: they would drop PYTHONHASHSEED=0, and the order of a frozenset
            // constant in the marshalled code follows the string hashes.
            "-S".into(),
            "-c".into(),
            DRIVER.into(),
            MOUNT_AT.into(),
            site_in_image.into(),
        ],
        uid: None,
        system: false,
    };
    let started = std::time::Instant::now();
    let out = sandbox::run(&step)?;
    let counts = String::from_utf8_lossy(&out.stdout);
    let mut it = counts.split_whitespace().map(|n| n.parse::<usize>());
    let (Some(Ok(files)), Some(Ok(failed))) = (it.next(), it.next()) else {
        return Err(BuildError::Message(format!(
            "compiling the venv to bytecode: unexpected output {counts:?}"
        )));
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    let not: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("not compiled: "))
        .collect();
    reporter.info(&format!(
        "bytecode: {files} files compiled in {:.1} s{}",
        started.elapsed().as_secs_f64(),
        match not.len() {
            0 => String::new(),
            n => format!(
                "; {n} do not compile and stay source only (as with pip): {}{}",
                not.iter().take(5).cloned().collect::<Vec<_>>().join(", "),
                if n > 5 { ", …" } else { "" }
            ),
        }
    ));
    fsutil::set_tree_times(site, epoch)?;
    Ok(Compiled { files, failed })
}
