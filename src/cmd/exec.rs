//! `relsign exec`: a command inside the recipe's toolchain rootfs, in the build sandbox.

use super::common::{load, store};
use crate::args::Global;
use crate::cli::ExecArgs;
use relsign::error::Result;
use relsign::lock;
use relsign::report::Reporter;

pub fn run(a: ExecArgs, global: &Global, r: &dyn Reporter) -> Result<()> {
    let recipe = load(&a.recipe)?;
    let store = store(&global.store)?;
    let deb = lock::debian::DebianLock::read(&recipe.debian_lock_path())?;
    let work = tempfile::tempdir()?;
    let rootfs = work.path().join("rootfs");
    relsign::build::rootfs::assemble_rootfs(&deb, &store, &rootfs, r)?;
    let step = relsign::sandbox::Step {
        uid: None,
        system: false,
        name: a.command.join(" "),
        rootfs,
        binds: vec![relsign::sandbox::Bind {
            host: store.root().to_path_buf(),
            dest: "/store".into(),
            writable: false,
        }],
        env: vec![],
        cwd: "/".into(),
        argv: a.command,
    };
    let out = relsign::sandbox::run(&step)?;
    use std::io::Write;
    std::io::stdout().write_all(&out.stdout)?;
    std::io::stderr().write_all(&out.stderr)?;
    Ok(())
}
