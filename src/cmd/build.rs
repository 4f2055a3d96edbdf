//! `relsign build`: the recipe's sdists and wheels built offline, in the sandbox (and with
//! `--check-reproducible`, built again with variations and compared).

use super::common::{load, store};
use crate::args::Global;
use crate::cli::BuildArgs;
use crate::output::{print_checks, print_json};
use relsign::error::{Context, Error, Result};
use relsign::report::Reporter;
use relsign::store::Store;
use std::path::Path;

pub fn run(a: BuildArgs, global: &Global, r: &dyn Reporter) -> Result<()> {
    let json = global.json;
    let recipe = load(&a.recipe)?;
    if a.plan {
        return print_plan(&recipe, json);
    }
    let out = a.out.clone().expect("clap requires --out without --plan");
    let store = store(&global.store)?;
    let vary = if a.variation {
        Some(relsign::build::Variation::standard()?)
    } else {
        None
    };
    let opts = relsign::build::BuildOptions {
        out: out.clone(),
        store: store.clone(),
        keep_work: a.keep_work,
        epochs: Default::default(),
        vary,
        cache: !a.no_cache,
    };
    let m = relsign::build::build(&recipe, &opts, r)
        .with_context(|| format!("building {}", recipe.path.display()))?;
    if !a.check_reproducible {
        if json {
            print_json(serde_json::to_value(&m)?);
        } else {
            outln!("built {} {} into {}", m.name, m.version, out.display());
            for a in &m.artifacts {
                outln!("  {}  {:>9}  {}", a.sha256, a.size, a.file);
            }
        }
        return Ok(());
    }
    let v = check_reproducible_against(&a.recipe, &out, &store, json, r)?;
    if json {
        print_json(v);
    } else {
        outln!("{} {}: reproducible under variations", m.name, m.version);
    }
    Ok(())
}

/// `--plan`: what the build would do, as text or JSON, with the plan's digest.
fn print_plan(recipe: &relsign::recipe::Recipe, json: bool) -> Result<()> {
    let plan = relsign::build::plan_build(recipe)
        .with_context(|| format!("planning {}", recipe.path.display()))?;
    let digest = plan.digest();
    if json {
        let mut v = serde_json::to_value(&plan)?;
        v["digest"] = format!("sha256:{digest}").into();
        print_json(v);
        return Ok(());
    }
    outln!("plan for {} {} (sha256:{digest})", plan.name, plan.version);
    print_build_steps(&plan);
    Ok(())
}

/// The build plan's steps as text (under a heading the caller prints).
pub fn print_build_steps(plan: &relsign::build::plan::BuildPlan) {
    outln!("  inputs:");
    for i in &plan.inputs {
        outln!("    {}  inputs/{}", i.sha256, i.path.display());
    }
    outln!("  build rootfs: {} locked .debs", plan.rootfs.len());
    for p in &plan.packages {
        let source = match &p.source {
            relsign::build::plan::SourcePlan::Dir { path } => {
                format!("directory {}", path.display())
            }
            relsign::build::plan::SourcePlan::Sdist { file, sha256 } => {
                format!("sdist {file} (sha256:{sha256})")
            }
            relsign::build::plan::SourcePlan::Git { url, commit } => {
                format!("git {url} at {commit}")
            }
        };
        outln!("  package {}: {source}", p.package);
        outln!(
            "    {} with {} ({} build requirements, group {})",
            p.steps.join(" then "),
            p.environment.backend,
            p.environment.requirements.len(),
            p.environment.group
        );
    }
    for a in &plan.archives {
        outln!("  archive {}: {} (sha256:{})", a.name, a.file, a.sha256);
    }
    if let Some(i) = &plan.image {
        outln!(
            "  image: {} locked .debs, {} runtime wheels, the wheels of {}",
            i.debs.len(),
            i.runtime_wheels.len(),
            i.built_wheels.join(", ")
        );
        if !i.test_debs.is_empty() {
            let names: Vec<&str> = i.test_debs.iter().map(|d| d.file.as_str()).collect();
            outln!(
                "  test packages (locked with the image, not in it; the gate adds them): {}",
                names.join(", ")
            );
        }
    }
}

/// `--check-reproducible`: build again, as this program from elsewhere with another
/// environment (build dir, cwd, TZ, locale; inside the sandbox another uid, the clock ahead and
/// the source read in reverse order), and compare every artifact with the release in `out`.
pub fn check_reproducible_against(
    recipe_path: &Path,
    out: &Path,
    store: &Store,
    json: bool,
    r: &dyn Reporter,
) -> Result<serde_json::Value> {
    relsign::build::Variation::standard()?;
    let tmp = tempfile::tempdir()?;
    let other = tmp.path().join("elsewhere/out");
    let tmpdir = tmp.path().join("tmp");
    std::fs::create_dir_all(&tmpdir)?;
    r.step(
        "second build with variations (build dir, cwd, TZ, locale, umask, uid, clock +3d, source order)",
    );
    let abs_recipe = std::fs::canonicalize(recipe_path)?;
    let mut second = std::process::Command::new(std::env::current_exe()?);
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: umask(2) is async-signal-safe and touches no memory of the parent.
        unsafe {
            second.pre_exec(|| {
                rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
                Ok(())
            });
        }
    }
    let status = second
        .args(["--quiet", "--store"])
        .arg(store.root())
        .arg("build")
        .arg(&abs_recipe)
        .arg("--out")
        .arg(&other)
        .arg("--variation")
        .current_dir(tmp.path())
        .env("TMPDIR", &tmpdir)
        .env("TZ", "Pacific/Kiritimati")
        .env("LANG", "fr_FR.UTF-8")
        .env("LC_ALL", "fr_FR.UTF-8")
        .stdout(std::process::Stdio::null())
        .status()
        .context("starting the second build")?;
    if !status.success() {
        bail!("the second (varied) build failed: {status}");
    }
    let checks = relsign::rebuild::compare_releases(out, &other)?;
    let ok = checks.iter().all(|c| c.matches);
    if json && !ok {
        print_json(serde_json::json!({"reproducible": ok, "artifacts": checks}));
    } else if !json {
        print_checks(&checks, "first: ", "second:");
    }
    if ok {
        return Ok(serde_json::json!({"reproducible": true, "artifacts": checks}));
    }
    let bad: Vec<&str> = checks
        .iter()
        .filter(|c| !c.matches)
        .map(|c| c.file.as_str())
        .collect();
    Err(Error::verification(
        format!("not reproducible: {}", bad.join(", ")),
        serde_json::json!({"reproducible": false, "artifacts": checks}),
    ))
}
