//! `relsign run`: a command inside a built image, in the sandbox (`--services`: with the
//! image's services started first, as root). The exit code is the command's.

use crate::cli::RunArgs;
use relsign::error::Result;
use relsign::report::Reporter;
use std::path::Path;

pub fn run(a: RunArgs, r: &dyn Reporter) -> Result<()> {
    let layout = if a.layout.join("oci-layout").is_file() {
        a.layout
    } else {
        a.layout.join("image")
    };
    let work = tempfile::tempdir()?;
    let rootfs = work.path().join("rootfs");
    if a.services {
        let args = ServicesArgs {
            user: a.user,
            binds: a.bind,
            services_from: a.services_from,
        };
        let code = run_services(&layout, a.tag.as_deref(), args, a.command, work.path(), r)?;
        // The unpacked image goes before exiting (exit runs no destructors).
        drop(work);
        if code != 0 {
            std::process::exit(code);
        }
        return Ok(());
    }
    r.step(&format!("unpacking {}", layout.display()));
    let config = relsign::build::image::unpack_layout(&layout, a.tag.as_deref(), &rootfs)?;
    let c = &config.config;
    let argv = if a.command.is_empty() {
        c.entrypoint.iter().chain(&c.cmd).cloned().collect()
    } else {
        a.command
    };
    if argv.is_empty() {
        bail!(
            "{}: the image has no Entrypoint or Cmd; give a command after --",
            layout.display()
        );
    }
    let env = c.env_pairs();
    let step = relsign::sandbox::Step {
        uid: None,
        system: false,
        name: argv.join(" "),
        rootfs,
        binds: vec![],
        env,
        cwd: if c.working_dir.is_empty() {
            "/".into()
        } else {
            c.working_dir.clone()
        },
        argv,
    };
    let out = relsign::sandbox::run_capture(&step)?;
    use std::io::Write;
    std::io::stdout().write_all(&out.stdout)?;
    std::io::stderr().write_all(&out.stderr)?;
    drop(work);
    match out.code {
        Some(0) => Ok(()),
        Some(code) => std::process::exit(code),
        None => bail!("the command was killed by a signal"),
    }
}

/// `relsign run --services`: unpack with owners (as root), start the services, run COMMAND
/// (or wait for SIGINT/SIGTERM), stop them; returns COMMAND's code.
struct ServicesArgs {
    user: Option<String>,
    binds: Vec<relsign::services::HostBind>,
    services_from: Option<std::path::PathBuf>,
}

fn run_services(
    layout: &Path,
    tag: Option<&str>,
    args: ServicesArgs,
    command: Vec<String>,
    work: &Path,
    r: &dyn Reporter,
) -> Result<i32> {
    if !rustix::process::geteuid().is_root() {
        bail!(
            "relsign run --services runs each service under its own user, which needs every uid: run it as root (without --services, relsign run needs no root)"
        );
    }
    let rootfs = work.join("rootfs");
    r.step(&format!("unpacking {} (with owners)", layout.display()));
    let t = std::time::Instant::now();
    let config = relsign::build::image::unpack_layout_with(layout, tag, &rootfs, true)?;
    r.info(&format!("unpacked in {:.1} s", t.elapsed().as_secs_f64()));
    // The rootfs is the sandbox's /: every user must be able to traverse it.
    std::fs::set_permissions(&rootfs, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let c = &config.config;
    let services = match &args.services_from {
        Some(recipe) => {
            let recipe = relsign::recipe::Recipe::load(recipe)?;
            r.info(&format!(
                "services from {} (not the ones recorded in the image)",
                recipe.path.display()
            ));
            recipe.file.image.map(|i| i.services).unwrap_or_default()
        }
        None => relsign::services::from_labels(&c.labels)
            .map_err(|e| anyhow::anyhow!("{}: {e}", layout.display()))?,
    };
    if services.is_empty() {
        bail!(
            "{}: the image declares no services (its recipe has no [[image.services]]; the config has no label {})",
            layout.display(),
            relsign::services::LABEL
        );
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_usize(sig, stop.clone(), sig as usize)?;
    }
    let helper = std::env::current_exe()?;
    let spec = relsign::services::RunSpec {
        helper: &helper,
        rootfs: &rootfs,
        logs: &work.join("logs"),
        services: &services,
        binds: &args.binds,
        image_env: c.env_pairs(),
        workdir: if c.working_dir.is_empty() {
            "/".into()
        } else {
            c.working_dir.clone()
        },
        command,
        command_user: args.user.unwrap_or_else(|| "root".into()),
        command_env: Default::default(),
        setup: &[],
        stop: &stop,
    };
    let report = relsign::services::run(&spec, r)?;
    Ok(report.code.unwrap_or(0))
}
