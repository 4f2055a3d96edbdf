//! The relsign command: parse arguments, call the library, print, map errors to exit codes.

/// `println!` for the command's output, minus the panic when stdout is a closed pipe
/// (`relsign verify … | head -1`): output stops, the command goes on and exits with its own
/// code.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::write_out(format_args!($($arg)*))
    };
}

/// `eprintln!` without the panic when stderr is closed (`relsign … 2>&1 | head -1`).
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

mod cli;
mod publish_cli;
mod tlog_cli;
mod trust_cli;

static STDOUT_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static JSON_PRINTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn write_out(args: std::fmt::Arguments) {
    use std::io::Write;
    use std::sync::atomic::Ordering;
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
        } else {
            errln!("error: writing to stdout: {e}");
            std::process::exit(relsign::EXIT_ERROR);
        }
    }
}

use anyhow::{Context, Result};
use clap::Parser;
use cli::{Cli, Command};
use indicatif::{ProgressBar, ProgressStyle};
use relsign::report::{Progress, Reporter};
use relsign::store::Store;
use relsign::{lock, recipe::Recipe};
use std::io::IsTerminal;
use std::path::Path;

/// Human progress on stderr: steps, notices and byte progress bars on a terminal.
struct Term {
    quiet: bool,
    tty: bool,
}

struct Bar(ProgressBar);
impl Progress for Bar {
    fn inc(&self, n: u64) {
        self.0.inc(n)
    }
    fn finish(&self) {
        self.0.finish_and_clear()
    }
}
struct NoBar;
impl Progress for NoBar {
    fn inc(&self, _: u64) {}
    fn finish(&self) {}
}

impl Reporter for Term {
    fn step(&self, msg: &str) {
        if !self.quiet {
            errln!("==> {msg}");
        }
    }
    fn info(&self, msg: &str) {
        if !self.quiet {
            errln!("    {msg}");
        }
    }
    fn warn(&self, msg: &str) {
        errln!("warning: {msg}");
    }
    fn progress(&self, label: &str, total: Option<u64>) -> Box<dyn Progress + '_> {
        if self.quiet || !self.tty {
            return Box::new(NoBar);
        }
        let pb = match total {
            Some(t) => ProgressBar::new(t),
            None => ProgressBar::new_spinner(),
        };
        pb.set_style(
            ProgressStyle::with_template(
                "    {msg:40!} {bar:30} {bytes:>10}/{total_bytes:10} {bytes_per_sec}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        pb.set_message(label.to_string());
        Box::new(Bar(pb))
    }
}

/// An error that maps to exit code 1 (check failed) rather than 2, with details for `--json`.
#[derive(Debug)]
struct CheckFailed(String, serde_json::Value);

/// A `docker://` reference pulled (image and release metadata) into a temporary release
/// directory, which the returned guard removes; any other target as it is. What was pulled is
/// not verified here: `relsign verify` is the command that checks it.
fn pulled_release(
    target: &std::path::Path,
    r: &dyn relsign::report::Reporter,
) -> anyhow::Result<(Option<tempfile::TempDir>, std::path::PathBuf)> {
    let s = target.to_string_lossy();
    if !s.starts_with("docker://") {
        return Ok((None, target.to_path_buf()));
    }
    let tmp = tempfile::tempdir()?;
    let layout = relsign::publish::pull::pull_release(&s, tmp.path(), r)?;
    let dir = relsign::fsutil::parent_dir(&layout).to_path_buf();
    r.info(&format!(
        "{s}: pulled (not verified here; `relsign verify {s}` checks the signatures)"
    ));
    Ok((Some(tmp), dir))
}
impl std::fmt::Display for CheckFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for CheckFailed {}

/// Exit 1 for a failed check anywhere in the error's chain (an integrity failure, a
/// verification refusal, a stale lock), 2 for anything else.
fn exit_code(e: &anyhow::Error) -> i32 {
    // Each library error type says itself whether it is a failed check.
    macro_rules! failed_check {
        ($cause:expr, $($ty:ty => $method:ident),* $(,)?) => {
            $( if $cause.downcast_ref::<$ty>().is_some_and(|e| e.$method()) { return true; } )*
        };
    }
    let is_check = |cause: &(dyn std::error::Error + 'static)| -> bool {
        if cause.is::<CheckFailed>() {
            return true;
        }
        failed_check!(cause,
            relsign::store::StoreError => is_integrity,
            relsign::fetch::FetchError => is_integrity,
            relsign::build::error::BuildError => is_integrity,
            lock::python::PyLockError => is_integrity,
            lock::debian::DebianLockError => is_integrity,
            relsign::debian::DebError => is_integrity,
            relsign::upstream::UpstreamError => is_integrity,
            relsign::vulndb::VulnDbError => is_integrity,
            relsign::verify::VerifyError => is_refusal,
            relsign::policy::PolicyError => is_refusal,
        );
        false
    };
    if e.chain().any(is_check) {
        relsign::EXIT_FAILED_CHECK
    } else {
        relsign::EXIT_ERROR
    }
}

fn main() {
    // Files relsign creates get the same modes whatever the caller's umask (the steps in the
    // sandbox set umask 022 too): build outputs must not depend on it.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            let usage = !matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion);
            // A usage error under --json is still one JSON document on stdout.
            if usage && std::env::args().any(|a| a == "--json") {
                print_json(serde_json::json!({
                    "ok": false,
                    "exit_code": relsign::EXIT_ERROR,
                    "error": e.kind().to_string(),
                    "usage": e.render().to_string(),
                }));
            }
            e.exit()
        }
    };
    let json = cli.global.json;
    let term = Term {
        quiet: cli.global.quiet || json,
        tty: std::io::stderr().is_terminal(),
    };
    match run(cli, &term) {
        Ok(()) => {}
        Err(e) => {
            let code = exit_code(&e);
            if json && !JSON_PRINTED.load(std::sync::atomic::Ordering::Relaxed) {
                let mut v =
                    serde_json::json!({"ok": false, "exit_code": code, "error": error_text(&e)});
                if let Some(CheckFailed(_, serde_json::Value::Object(details))) =
                    e.downcast_ref::<CheckFailed>()
                {
                    for (k, val) in details {
                        v[k] = val.clone();
                    }
                }
                print_json(v);
            }
            errln!("error: {}", error_text(&e));
            std::process::exit(code);
        }
    }
}

/// The error and its causes, `: `-joined, leaving out a cause whose text an outer message
/// already carries (errors that show their source and also return it from `source()`).
fn error_text(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// The gate's summary: counts per place and per feature.
fn print_gate(report: &relsign::gate::GateReport) {
    for run in &report.runs {
        outln!(
            "behave in {}: {} passed, {} failed, {} skipped",
            run.place,
            run.passed,
            run.failed,
            run.skipped
        );
        for s in &run.suites {
            outln!(
                "  {:<50} {} passed, {} failed, {} skipped",
                s.name,
                s.passed(),
                s.failures + s.errors,
                s.skipped
            );
        }
        if !run.gating.is_empty() {
            let passed = run.gating.iter().filter(|g| g.status == "passed").count();
            outln!(
                "  gating scenarios: {passed} passed, {} not passed (they alone decide)",
                run.gating.len() - passed
            );
            for g in run.gating.iter().filter(|g| g.status != "passed") {
                outln!("    {}: {} :: {}", g.status, g.feature, g.scenario);
            }
        }
    }
}

/// The Debian locks of a recipe: the build toolchain's, then the image's.
fn debian_locks(recipe: &Recipe) -> Vec<(relsign::recipe::Toolchain, std::path::PathBuf)> {
    let mut v = vec![(recipe.file.toolchain.clone(), recipe.debian_lock_path())];
    v.extend(recipe.image_toolchain());
    v
}

fn store(cli_store: &Option<std::path::PathBuf>) -> Result<Store> {
    Ok(match cli_store {
        Some(p) => Store::at(p),
        None => Store::open_default()?,
    })
}

fn load(recipe: &Path) -> Result<Recipe> {
    Ok(Recipe::load(recipe)?)
}

/// The command's one JSON document on stdout (`--json`). An error after it is reported on
/// stderr only, so stdout stays one parseable document.
fn print_json<T: serde::Serialize>(v: T) {
    JSON_PRINTED.store(true, std::sync::atomic::Ordering::Relaxed);
    outln!("{}", serde_json::to_string_pretty(&v).expect("json"));
}

/// `relsign scan TARGET` without --db: the recipe's locked databases (for a release
/// directory, its recipe copy's) judged by its [vulnerabilities] policy, as the release's gate
/// judges; exit 1 when the policy fails.
fn scan_with_recipe_gate(
    target: &Path,
    is_recipe: bool,
    pkgs: &[relsign::packages::Package],
    store_dir: &Option<std::path::PathBuf>,
    json: bool,
) -> Result<()> {
    let (recipe, gate_report) = if is_recipe {
        (load(target)?, None)
    } else {
        match relsign::vulns::release_recipe(target)? {
            Some(recipe) => (recipe, Some(target.join(relsign::vulns::REPORT_FILE))),
            None => anyhow::bail!(
                "{}: no recipe to take the locked vulnerability databases from (a recipe, or a release directory with release.json and inputs/): give --db ZIP-OR-DIR",
                target.display()
            ),
        }
    };
    let store = store(store_dir)?;
    let started = relsign::time::now();
    let db = relsign::vulns::load_for_scan(&recipe, gate_report.as_deref(), &store, started)?;
    let spec = recipe
        .file
        .vulnerabilities
        .as_ref()
        .expect("load_for_scan needs the section");
    let today = relsign::time::format(started);
    let report = relsign::vulns::judge(pkgs, spec, &db, &today[..10], started);
    if json {
        let mut v = serde_json::to_value(&report)?;
        v["ok"] = report.passed().into();
        v["recipe"] = serde_json::to_value(&recipe.path)?;
        v["lock"] = serde_json::to_value(&db.lock)?;
        print_json(v);
    } else {
        outln!(
            "{} package(s) against {} OSV record(s) from {} (pinned in {}):\n{}",
            report.packages,
            report.records,
            if gate_report.as_deref() == Some(db.lock.as_path()) {
                "the databases the release's gate report names"
            } else {
                "the recipe's locked databases"
            },
            db.lock.display(),
            report
                .databases
                .iter()
                .map(|d| format!(
                    "  {} {} sha256:{} taken {}",
                    d.name, d.file, d.sha256, d.taken
                ))
                .collect::<Vec<_>>()
                .join("\n")
        );
        let p = &report.policy;
        outln!(
            "policy: [vulnerabilities] of {}: fail-on {}, severity {}, {} allow-list entr{}",
            recipe.path.display(),
            p.fail_on,
            p.severity.as_deref().unwrap_or("-"),
            p.allow.len(),
            if p.allow.len() == 1 { "y" } else { "ies" }
        );
        outln!("{}", relsign::scan::render(&report.findings).trim_end());
        outln!("{}", report.result);
    }
    if !report.passed() {
        let failing = report
            .findings
            .iter()
            .filter(|j| j.verdict == "fail")
            .count();
        return Err(CheckFailed(
            format!(
                "{failing} finding(s) fail the [vulnerabilities] policy of {}:\n{}",
                recipe.path.display(),
                report.remediation()
            ),
            serde_json::json!({"check": "scan", "failing": failing}),
        )
        .into());
    }
    Ok(())
}

/// What the release's policy gates need, loaded before the build: the locked vulnerability
/// databases and the stable branch's baseline.
struct PolicyInputs {
    vulns: Option<relsign::vulndb::Loaded>,
    stable: Option<(String, Option<relsign::stable::Baseline>)>,
}

impl PolicyInputs {
    fn load(
        recipe: &Recipe,
        store: &Store,
        stable_releases: &[std::path::PathBuf],
        r: &Term,
    ) -> Result<PolicyInputs> {
        let vulns = match &recipe.file.vulnerabilities {
            Some(_) => {
                let l = relsign::vulndb::load(recipe, store, relsign::time::now())?;
                r.info(&format!(
                    "vulnerability gate: {} OSV record(s) from {}",
                    l.records.len(),
                    l.databases
                        .iter()
                        .map(|d| format!("{} sha256:{} (taken {})", d.name, d.sha256, d.taken))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                Some(l)
            }
            None => None,
        };
        let stable = match &recipe.file.release.stable {
            Some(branch) => {
                let locs: Vec<std::path::PathBuf> = if stable_releases.is_empty() {
                    let rel = &recipe.file.release.stable_releases;
                    rel.iter().map(|p| recipe.resolve(p)).collect()
                } else {
                    stable_releases.to_vec()
                };
                let f = &recipe.file.release;
                let b = relsign::stable::find_baseline(&f.name, &f.version, branch, &locs)?;
                match &b {
                    Some(b) => r.info(&format!(
                        "stable branch {branch}: compared with {} ({})",
                        b.version,
                        b.dir.display()
                    )),
                    None => r.info(&format!(
                        "stable branch {branch}: no earlier release found: this release is the branch's baseline"
                    )),
                }
                Some((branch.clone(), b))
            }
            None => None,
        };
        Ok(PolicyInputs { vulns, stable })
    }

    /// Run the gates on the built release (SBOMs written); on a failure, mark the directory
    /// and fail naming what to change.
    fn run(self, recipe: &Recipe, out: &Path, json: bool, r: &Term) -> Result<()> {
        let mut why = Vec::new();
        let mut details = serde_json::json!({});
        if let (Some(db), Some(spec)) = (&self.vulns, &recipe.file.vulnerabilities) {
            r.step("vulnerability gate: the release's packages against the locked databases");
            let now = relsign::time::now();
            let today = relsign::time::format(now);
            let report = relsign::vulns::run(out, spec, db, &today[..10], now)?;
            if !json {
                let judged: Vec<String> = report
                    .findings
                    .iter()
                    .map(|e| {
                        format!(
                            "  {} {} {} ({}) {}",
                            e.verdict,
                            e.finding.id,
                            e.finding.package,
                            e.finding.installed,
                            e.note.as_deref().unwrap_or("")
                        )
                    })
                    .collect();
                outln!(
                    "vulnerability gate: {}: {} finding(s) in {} package(s), {} record(s)\n{}",
                    report.result,
                    report.findings.len(),
                    report.packages,
                    report.records,
                    judged.join("\n")
                );
            }
            if !report.passed() {
                why.push(format!(
                    "the vulnerability gate failed ({}):\n{}",
                    relsign::vulns::REPORT_FILE,
                    report.remediation()
                ));
            }
            details["vulnerabilities"] = serde_json::to_value(&report)?;
        }
        if let Some((branch, baseline)) = self.stable {
            let own: std::collections::BTreeSet<String> = recipe
                .packages
                .iter()
                .map(|p| relsign::python::requirements::normalize_name(&p.name))
                .collect();
            let report = relsign::stable::run(out, &branch, baseline, &own)?;
            if !report.ok() {
                why.push(format!(
                    "the stable-branch policy ({branch}) failed ({}): these packages change what the branch promises:\n{}",
                    relsign::stable::REPORT_FILE,
                    report.summary()
                ));
            }
            details["stable"] = serde_json::to_value(&report)?;
        }
        if why.is_empty() {
            return Ok(());
        }
        let why = why.join("\n");
        relsign::release::mark_not_a_release(out, &why)?;
        let msg = format!(
            "nothing was signed and {} is not a release:\n{why}",
            out.display()
        );
        Err(CheckFailed(msg, details).into())
    }
}

/// `--check-reproducible`: build again, as this program from elsewhere with another
/// environment (build dir, cwd, TZ, locale; inside the sandbox another uid, the clock ahead and
/// the source read in reverse order), and compare every artifact with the release in `out`.
fn check_reproducible_against(
    recipe_path: &Path,
    out: &Path,
    store: &Store,
    json: bool,
    r: &Term,
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
        anyhow::bail!("the second (varied) build failed: {status}");
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
    Err(CheckFailed(
        format!("not reproducible: {}", bad.join(", ")),
        serde_json::json!({"reproducible": false, "artifacts": checks}),
    )
    .into())
}

/// One line per artifact, `ok` or `DIFFERS` with the first difference and both sides under
/// the given labels (rebuild: release/rebuilt; --check-reproducible: first/second).
fn print_checks(checks: &[relsign::rebuild::ArtifactCheck], left: &str, right: &str) {
    for c in checks {
        match &c.difference {
            None if c.matches => outln!("ok       {}  sha256:{}", c.file, c.expected),
            None => outln!("DIFFERS  {}", c.file),
            Some(d) => outln!(
                "DIFFERS  {}: first difference at {}: {}\n         {left} {}\n         {right} {}",
                c.file,
                d.location,
                d.what,
                d.left,
                d.right
            ),
        }
    }
}

/// `relsign rebuild TARGET`: a release directory, a provenance file (DSSE envelope), or a
/// registry reference (`docker://…`, pulled with its referrers into a temporary release dir).
fn rebuild_target(
    target: &Path,
    recipe: Option<&Path>,
    store: &Store,
    out: &Path,
    r: &Term,
) -> Result<relsign::rebuild::RebuildReport> {
    use relsign::rebuild::{rebuild, rebuild_expected, Expected};
    let shown = target.to_string_lossy();
    if shown.starts_with("docker://") {
        let tmp = tempfile::tempdir()?;
        let dir = pull_reference(&shown, tmp.path(), r)?;
        return Ok(rebuild(&dir, recipe, store, out, r)?);
    }
    if target.is_dir() {
        return Ok(rebuild(target, recipe, store, out, r)?);
    }
    let exp = Expected::from_provenance(target)?;
    let recipe_path = match (recipe, &exp.release_dir) {
        (Some(p), _) => p.to_path_buf(),
        (None, Some(d)) => d.join(&exp.recipe.0),
        (None, None) => anyhow::bail!(
            "{}: a provenance outside a release directory: give --recipe (the recipe in a checkout of the source; its digest must be sha256:{})",
            target.display(),
            exp.recipe.1
        ),
    };
    Ok(rebuild_expected(&exp, &recipe_path, store, out, r)?)
}

/// Pull a release from a registry reference into `dir` (see `relsign::publish::pull`).
fn pull_reference(reference: &str, dir: &Path, r: &Term) -> Result<std::path::PathBuf> {
    Ok(relsign::publish::pull::pull_release(reference, dir, r)?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| dir.to_path_buf()))
}

/// `relsign lock --refresh`: move the Debian locks' vanished .debs to the smallest update and
/// print the change as a diff.
fn lock_refresh(
    recipe: &Recipe,
    global: &cli::Global,
    mirrors: &cli::Mirrors,
    allow_expired_release: bool,
    r: &Term,
) -> Result<()> {
    let http = relsign::fetch::Http::new()?;
    let store = store(&global.store)?;
    let deb_mirrors = lock::debian::mirrors(&recipe.file.toolchain, &mirrors.debian_mirrors);
    let mut done = Vec::new();
    for (key, (mut toolchain, path)) in ["toolchain.lock", "image.lock"]
        .into_iter()
        .zip(debian_locks(recipe))
    {
        if !path.exists() {
            anyhow::bail!(
                "{}: {key}: {} does not exist (run `relsign lock {}` first)",
                recipe.path.display(),
                path.display(),
                recipe.path.display()
            );
        }
        toolchain.allow_expired_release |= allow_expired_release;
        r.step(&format!(
            "checking that the mirrors still serve {}",
            path.display()
        ));
        let old = lock::debian::DebianLock::read(&path)?;
        let new = lock::debian::refresh(&path, &old, &toolchain, &deb_mirrors, &http, &store, r)?;
        if !new.moved.is_empty() {
            new.lock.write(&path)?;
        }
        done.push((path, new));
    }
    if global.json {
        print_json(serde_json::json!({
            "ok": true,
            "debian_locks": done.iter().map(|(p, n)| serde_json::json!({
                "path": p,
                "changed": !n.moved.is_empty(),
                "moved": n.moved,
                "snapshot": n.lock.snapshot,
            })).collect::<Vec<_>>(),
        }));
        return Ok(());
    }
    for (path, n) in &done {
        if n.moved.is_empty() {
            outln!(
                "{}: every locked .deb is still served; unchanged",
                path.display()
            );
            continue;
        }
        outln!("{}:", path.display());
        for m in &n.moved {
            outln!("- {} {}", m.name, m.from);
            outln!("+ {} {}", m.name, m.to);
        }
    }
    Ok(())
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
    r: &Term,
) -> Result<i32> {
    if !rustix::process::geteuid().is_root() {
        anyhow::bail!(
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
        anyhow::bail!(
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
        stop: &stop,
    };
    let report = relsign::services::run(&spec, r)?;
    Ok(report.code.unwrap_or(0))
}

fn run(cli: Cli, r: &Term) -> Result<()> {
    let json = cli.global.json;
    match cli.command {
        Command::Trust(c) => trust_cli::run(c, &cli.global, r),
        Command::Publish(a) => publish_cli::run(a, json, r),
        Command::Log(a) => tlog_cli::run(a, json),
        Command::Destinations(a) => publish_cli::destinations_cmd(a, json, r),
        Command::Lock {
            recipe,
            check,
            refresh,
            python_only,
            allow_expired_release,
            allow_incomplete,
            mirrors,
        } => {
            let recipe = load(&recipe)?;
            if refresh {
                return lock_refresh(&recipe, &cli.global, &mirrors, allow_expired_release, r);
            }
            if check {
                // A lock file that is not there is a wrong path (or a recipe never locked),
                // not a stale lock: say which key names it.
                let mut named = vec![
                    ("toolchain.lock", recipe.debian_lock_path()),
                    ("python.lock", recipe.python_lock_path()),
                ];
                named.extend(recipe.image_toolchain().map(|(_, p)| ("image.lock", p)));
                for (key, p) in &named {
                    if !p.exists() {
                        anyhow::bail!(
                            "{}: {key}: {} does not exist (a wrong path, or run `relsign lock {}` first)",
                            recipe.path.display(),
                            p.display(),
                            recipe.path.display()
                        );
                    }
                }
                let mut reasons = Vec::new();
                for (toolchain, deb_path) in debian_locks(&recipe) {
                    match lock::debian::DebianLock::read(&deb_path) {
                        Ok(l) => reasons.extend(
                            lock::debian::check(&l, &toolchain)
                                .into_iter()
                                .map(|s| format!("{}: {s}", deb_path.display())),
                        ),
                        Err(e) => reasons.push(e.to_string()),
                    }
                }
                let py_path = recipe.python_lock_path();
                match lock::python::PyLock::read(&py_path) {
                    Ok(l) => reasons.extend(
                        lock::python::check(&l, &recipe)?
                            .into_iter()
                            .map(|s| format!("{}: {s}", py_path.display())),
                    ),
                    Err(e) => reasons.push(e.to_string()),
                }
                if !reasons.is_empty() {
                    let msg = format!(
                        "the locks no longer match {}:\n  {}",
                        recipe.path.display(),
                        reasons.join("\n  ")
                    );
                    return Err(CheckFailed(msg, serde_json::json!({ "stale": reasons })).into());
                }
                if json {
                    print_json(serde_json::json!({"ok": true, "stale": []}));
                } else {
                    outln!("locks are up to date with {}", recipe.path.display());
                }
                return Ok(());
            }
            let http = relsign::fetch::Http::new()?;
            let store = store(&cli.global.store)?;
            let deb_mirrors =
                lock::debian::mirrors(&recipe.file.toolchain, &mirrors.debian_mirrors);
            let mut deb_counts = Vec::new();
            if !python_only {
                r.step("locking the Debian toolchain");
            }
            for (mut toolchain, path) in debian_locks(&recipe).into_iter().filter(|_| !python_only)
            {
                toolchain.allow_expired_release |= allow_expired_release;
                let deb = lock::debian::lock(&toolchain, &deb_mirrors, &http, r)?;
                deb.write(&path)?;
                deb_counts.push((path, deb.packages.len(), deb.snapshot));
            }
            r.step("locking the Python pins");
            let index = relsign::lock::index::index_urls(&recipe, &mirrors.index_urls)?;
            let out = lock::python::lock(&recipe, &index, &http, &store, r, allow_incomplete)?;
            out.lock.write(&recipe.python_lock_path())?;
            if json {
                print_json(serde_json::json!({
                    "ok": true,
                    "debian_locks": deb_counts.iter().map(|(p, n, t)| serde_json::json!({"path": p, "packages": n, "snapshot": t})).collect::<Vec<_>>(),
                    "python_lock": recipe.python_lock_path(), "python_packages": out.lock.packages.len(),
                    "closure": {"checked": out.closure.checked, "missing": out.closure.missing_names()},
                }));
            } else {
                for (path, n, t) in &deb_counts {
                    match t {
                        Some(t) => outln!("wrote {} ({n} .debs, snapshot {t})", path.display()),
                        None => outln!("wrote {} ({n} .debs)", path.display()),
                    }
                }
                outln!(
                    "wrote {} ({} packages)",
                    recipe.python_lock_path().display(),
                    out.lock.packages.len()
                );
                outln!("closure check: {}", out.closure.summary());
            }
            Ok(())
        }
        Command::Fetch {
            recipe,
            export,
            debian_snapshots,
            archive_mirrors,
            mirrors,
        } => {
            let recipe = load(&recipe)?;
            let http = relsign::fetch::Http::new()?;
            let store = store(&cli.global.store)?;
            let deb_locks = debian_locks(&recipe)
                .into_iter()
                .map(|(_, path)| lock::debian::DebianLock::read(&path))
                .collect::<Result<Vec<_>, _>>()?;
            // One combined set of .debs (the toolchain's and the image's), for --export.
            let mut deb = deb_locks[0].clone();
            for l in &deb_locks[1..] {
                for p in &l.packages {
                    if !deb.packages.contains(p) {
                        deb.packages.push(p.clone());
                    }
                }
            }
            let py = lock::python::PyLock::read(&recipe.python_lock_path())?;
            r.step(&format!(
                "fetching {} .debs into {}",
                deb.packages.len(),
                store.root().display()
            ));
            let deb_mirrors =
                lock::debian::mirrors(&recipe.file.toolchain, &mirrors.debian_mirrors);
            let snapshots = relsign::snapshot::patterns(
                &debian_snapshots,
                &recipe.file.toolchain.snapshot_urls,
            )
            .map_err(anyhow::Error::msg)?;
            // Each lock on its own: each has its own snapshot timestamp.
            for l in &deb_locks {
                lock::debian::fetch(l, &deb_mirrors, &snapshots, &http, &store, r)?;
            }
            relsign::vulndb::fetch(&recipe, &http, &store, r)?;
            r.step("fetching Python files");
            let index = relsign::lock::index::index_urls(&recipe, &mirrors.index_urls)?;
            lock::python::fetch(&py, &index, &http, &store, r)?;
            for p in &recipe.packages {
                match &p.source {
                    relsign::recipe::Source::Sdist { file, sha256 } => {
                        lock::python::fetch_file(file, sha256, &index, &http, &store, r)?;
                    }
                    relsign::recipe::Source::Git { url, commit, .. } => {
                        relsign::git::fetch_git(&store, url, commit)?;
                    }
                    relsign::recipe::Source::Dir(_) => {}
                }
            }
            if !recipe.file.archives.is_empty() {
                r.step(&format!(
                    "fetching {} upstream archive(s)",
                    recipe.file.archives.len()
                ));
                let extra = relsign::upstream::extra_locations(&archive_mirrors);
                relsign::upstream::fetch(&recipe, &extra, &http, &store, r)?;
            }
            if let Some(dir) = &export {
                r.step(&format!("exporting a vendor mirror to {}", dir.display()));
                lock::debian::export(&deb, &store, &dir.join("debian"))?;
                lock::python::export(&py, &store, dir)?;
                relsign::upstream::export(&recipe, &store, dir)?;
            }
            if json {
                print_json(
                    serde_json::json!({"ok": true, "store": store.root(), "export": export}),
                );
            } else {
                outln!("all locked inputs are in {}", store.root().display());
                if let Some(dir) = export {
                    outln!("vendor mirror: --index-url file://{0}/simple --debian-mirror file://{0}/debian", std::fs::canonicalize(&dir).unwrap_or(dir).display());
                }
            }
            Ok(())
        }
        Command::Build {
            recipe: recipe_path,
            out,
            keep_work,
            check_reproducible,
            variation,
        } => {
            let recipe = load(&recipe_path)?;
            let store = store(&cli.global.store)?;
            let vary = if variation {
                Some(relsign::build::Variation::standard()?)
            } else {
                None
            };
            let opts = relsign::build::BuildOptions {
                out: out.clone(),
                store: store.clone(),
                keep_work,
                epochs: Default::default(),
                vary,
            };
            let m = relsign::build::build(&recipe, &opts, r)
                .with_context(|| format!("building {}", recipe.path.display()))?;
            if !check_reproducible {
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
            let v = check_reproducible_against(&recipe_path, &out, &store, json, r)?;
            if json {
                print_json(v);
            } else {
                outln!("{} {}: reproducible under variations", m.name, m.version);
            }
            Ok(())
        }
        Command::Rebuild {
            release,
            recipe,
            out,
        } => {
            let store = store(&cli.global.store)?;
            let tmp = tempfile::tempdir()?;
            let out = out.unwrap_or_else(|| tmp.path().join("rebuilt"));
            r.info("rebuild compares digests with the provenance's claims; it does not check signatures (relsign verify does)");
            let report = rebuild_target(&release, recipe.as_deref(), &store, &out, r)?;
            if json {
                print_json(
                    serde_json::json!({"reproducible": report.reproducible(), "report": report}),
                );
            } else {
                for i in &report.inputs {
                    outln!(
                        "input {} differs: expected={}, got={}",
                        i.path,
                        i.expected,
                        i.got
                    );
                }
                print_checks(&report.artifacts, "release:", "rebuilt:");
            }
            if report.reproducible() {
                if !json {
                    outln!("{} {}: every digest matches", report.name, report.version);
                }
                Ok(())
            } else {
                let bad: Vec<&str> = report
                    .artifacts
                    .iter()
                    .filter(|a| !a.matches)
                    .map(|a| a.file.as_str())
                    .collect();
                let msg = if report.artifacts.is_empty() {
                    format!(
                        "{} {}: {} recorded input(s) differ (the recipe or its locks); nothing was rebuilt",
                        report.name,
                        report.version,
                        report.inputs.len()
                    )
                } else {
                    format!(
                        "{} {} is not reproduced: {}{}",
                        report.name,
                        report.version,
                        bad.join(", "),
                        if report.inputs.is_empty() {
                            String::new()
                        } else {
                            format!(" ({} input(s) differ)", report.inputs.len())
                        }
                    )
                };
                Err(CheckFailed(msg, serde_json::json!({})).into())
            }
        }
        Command::Vulndb { recipe, from } => {
            let recipe = load(&recipe)?;
            let from = relsign::vulndb::parse_from(&from).map_err(anyhow::Error::msg)?;
            let store = store(&cli.global.store)?;
            let http = relsign::fetch::Http::new()?;
            let now = relsign::time::now();
            let dbs = relsign::vulndb::record(&recipe, &from, &http, &store, now, r)?;
            if json {
                print_json(serde_json::json!({"ok": true, "databases": dbs}));
            } else {
                for d in &dbs {
                    outln!(
                        "{}: {} record(s), {} bytes, sha256:{}, taken {}",
                        d.name,
                        d.records,
                        d.size,
                        d.sha256,
                        d.taken
                    );
                }
            }
            Ok(())
        }
        Command::Release {
            recipe: recipe_path,
            out,
            keys,
            pass,
            check_reproducible,
            all_scenarios,
            log,
            stable_releases,
        } => {
            let mut recipe = load(&recipe_path)?;
            recipe.run_all_scenarios(all_scenarios);
            let store = store(&cli.global.store)?;
            if recipe.file.test.is_none() {
                anyhow::bail!("{}: a signed release needs the [test] gate (behave features); add a [test] section", recipe.path.display());
            }
            // Keys first: a wrong passphrase should fail before an hour of building.
            let mut secret = Vec::new();
            for k in &keys {
                relsign::keys::check_private_mode(k)?;
                let p = trust_cli::passphrase(&pass, k, false)?;
                secret.push(
                    relsign::keys::SecretKey::read(k, &p)
                        .with_context(|| format!("reading {}", k.display()))?,
                );
            }
            let log_key = log.secret_key()?;
            // The policy's inputs before an hour of building: the locked vulnerability
            // databases (present, valid, not too old) and the stable branch's baseline.
            let policy = PolicyInputs::load(&recipe, &store, &stable_releases, r)?;
            let _ = std::fs::remove_file(out.join(relsign::reldir::NOT_A_RELEASE));
            let opts = relsign::build::BuildOptions {
                out: out.clone(),
                store: store.clone(),
                keep_work: false,
                epochs: Default::default(),
                vary: None,
            };
            let m = relsign::build::build(&recipe, &opts, r)
                .with_context(|| format!("building {}", recipe.path.display()))?;
            if check_reproducible {
                if let Err(e) = check_reproducible_against(&recipe_path, &out, &store, json, r) {
                    relsign::release::mark_not_a_release(&out, &format!("{e:#}"))?;
                    return Err(e.context(format!(
                        "nothing was signed and {} is not a release",
                        out.display()
                    )));
                }
            }
            let report = relsign::gate::run(&recipe, &out, &m, &store, r)?;
            if !json {
                print_gate(&report);
            }
            if !report.ok() {
                let why = report.failure_summary();
                relsign::release::mark_not_a_release(&out, &why)?;
                let msg = format!(
                    "the release gate failed; nothing was signed and {} is not a release:\n{why}",
                    out.display()
                );
                return Err(CheckFailed(msg, serde_json::json!({"gate": report})).into());
            }
            relsign::sbom::generate(&out, &store, r)?;
            policy.run(&recipe, &out, json, r)?;
            let signed_on = relsign::time::now();
            let mut written = Vec::new();
            for sk in &secret {
                let (o, statements) = relsign::release::sign_all(&out, sk, signed_on, r)?;
                written.push(o.envelope.clone());
                written.extend(o.bundles.clone());
                written.extend(statements);
            }
            written.sort();
            written.dedup();
            let logged = match (&log.log, &log_key) {
                (Some(dir), Some(lk)) => {
                    let signers: Vec<_> = secret.iter().map(|k| k.public().clone()).collect();
                    relsign::releaselog::log_release(&out, dir, lk, &signers)
                        .map_err(tlog_cli::tlog_err)
                        .with_context(|| format!("logging the signatures in {}", dir.display()))?
                }
                _ => vec![],
            };
            if json {
                print_json(
                    serde_json::json!({"ok": true, "release": m, "gate": report, "signed": written, "logged": logged}),
                );
            } else {
                outln!(
                    "released {} {} into {} ({} signature file(s) by {} key(s))",
                    m.name,
                    m.version,
                    out.display(),
                    written.len(),
                    secret.len()
                );
                for a in &m.artifacts {
                    outln!("  {}  {}", a.sha256, a.file);
                }
                tlog_cli::print_logged(&logged);
            }
            Ok(())
        }
        Command::Sbom { release } => {
            let store = store(&cli.global.store)?;
            let files = relsign::sbom::generate(&release, &store, r)?;
            if json {
                print_json(serde_json::to_value(&files)?);
            } else {
                for f in &files {
                    outln!(
                        "{}: {} components\n  {}\n  {}",
                        f.artifact,
                        f.components,
                        f.cyclonedx.display(),
                        f.spdx.display()
                    );
                }
            }
            Ok(())
        }
        Command::Scan {
            target,
            db,
            fail_on,
            severity,
            allow,
        } => {
            let (_pulled, target) = pulled_release(&target, r)?;
            let is_recipe = target.extension().is_some_and(|e| e == "toml");
            // A recipe: the packages its locks pin; else a release directory or an SBOM.
            let pkgs = if is_recipe {
                relsign::packages::from_locks(&load(&target)?)?
            } else {
                relsign::packages::read(&target)?
            };
            if db.is_empty() {
                return scan_with_recipe_gate(&target, is_recipe, &pkgs, &cli.global.store, json);
            }
            let fail_on = fail_on.unwrap_or_else(|| "fixed".into());
            let mut records = Vec::new();
            let mut named = Vec::new();
            for d in &db {
                records.extend(relsign::scan::load_db(d)?);
                // The database in use, by digest (a directory has none: it is named by path).
                let sha = if d.is_file() {
                    Some(
                        relsign::digest::hash_file(d)
                            .map_err(relsign::fsutil::err("read", d))?
                            .0,
                    )
                } else {
                    None
                };
                named.push(serde_json::json!({"path": d, "sha256": sha}));
            }
            let allow = match &allow {
                Some(p) => relsign::scan::read_allow(p)?,
                None => vec![],
            };
            let today = relsign::time::format(relsign::time::now());
            let judged = relsign::scan::judge(
                relsign::scan::scan(&pkgs, &records),
                &fail_on,
                severity.as_deref(),
                &allow,
                &today[..10],
            );
            let failing = judged.iter().filter(|j| j.verdict == "fail").count();
            if json {
                print_json(serde_json::json!({
                    "ok": failing == 0,
                    "packages": pkgs.len(),
                    "records": records.len(),
                    "databases": named,
                    "findings": judged,
                }));
            } else {
                outln!(
                    "{} package(s) against {} OSV record(s) from {}",
                    pkgs.len(),
                    records.len(),
                    named
                        .iter()
                        .map(|d| match d["sha256"].as_str() {
                            Some(h) => format!("{} (sha256:{h})", d["path"].as_str().unwrap_or("")),
                            None => d["path"].as_str().unwrap_or("").to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                outln!("{}", relsign::scan::render(&judged).trim_end());
            }
            if failing > 0 {
                return Err(CheckFailed(
                    format!(
                        "{failing} finding(s) fail the policy (--fail-on {fail_on}{}): move each package to its FIXED IN version, or allow-list it with a reason and an expiry",
                        severity.as_deref().map(|s| format!(", --severity {s}")).unwrap_or_default()
                    ),
                    serde_json::json!({"check": "scan", "failing": failing}),
                )
                .into());
            }
            Ok(())
        }
        Command::Diff { old, new, fail_on } => {
            for k in &fail_on {
                if !relsign::diff::KINDS.contains(&k.as_str()) {
                    anyhow::bail!(
                        "--fail-on: {k:?} is not one of {}",
                        relsign::diff::KINDS.join(", ")
                    );
                }
            }
            let (_a, old) = pulled_release(&old, r)?;
            let (_b, new) = pulled_release(&new, r)?;
            let d = relsign::diff::diff(&old, &new)?;
            let failed: Vec<String> = fail_on
                .iter()
                .filter(|k| d.count(k) > 0)
                .map(|k| format!("{} {k}", d.count(k)))
                .collect();
            if json {
                print_json(serde_json::json!({
                    "ok": failed.is_empty(),
                    "packages": d.packages,
                    "layers": d.layers,
                    "failed": failed,
                }));
            } else {
                outln!("{}", relsign::diff::render(&d).trim_end());
            }
            if !failed.is_empty() {
                return Err(CheckFailed(
                    format!(
                        "the upgrade changes what --fail-on forbids: {}",
                        failed.join(", ")
                    ),
                    serde_json::json!({"check": "diff", "failed": failed}),
                )
                .into());
            }
            Ok(())
        }
        Command::Compare {
            left,
            right,
            diffoscope,
            all,
        } => {
            if all {
                let diffs = relsign::compare::all_zip_differences(&left, &right)?;
                let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
                for d in &diffs {
                    for w in &d.what {
                        let k = w.split(' ').next().unwrap_or(w).to_string();
                        *counts.entry(k).or_default() += 1;
                    }
                }
                if json {
                    print_json(
                        serde_json::json!({"identical": diffs.is_empty(), "entries": diffs, "counts": counts}),
                    );
                } else {
                    for d in &diffs {
                        outln!("{}: {}", d.entry, d.what.join(", "));
                    }
                    outln!(
                        "{} entries differ ({})",
                        diffs.len(),
                        counts
                            .iter()
                            .map(|(k, n)| format!("{k}: {n}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
                if diffs.is_empty() {
                    return Ok(());
                }
                return Err(CheckFailed(
                    format!(
                        "{} and {} differ in {} entries",
                        left.display(),
                        right.display(),
                        diffs.len()
                    ),
                    serde_json::json!({}),
                )
                .into());
            }
            let d = relsign::compare::compare_paths(&left, &right)?;
            if json {
                print_json(serde_json::json!({"identical": d.is_none(), "difference": d}));
            } else if let Some(d) = &d {
                outln!(
                    "first difference at {}: {} differs\n  left:  {}\n  right: {}",
                    d.location,
                    d.what,
                    d.left,
                    d.right
                );
            } else {
                outln!("identical");
            }
            if diffoscope && d.is_some() {
                match std::process::Command::new("diffoscope").arg(&left).arg(&right).status() {
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        r.warn("diffoscope is not installed (apt-get install diffoscope); the summary above is relsign's own")
                    }
                    Err(e) => return Err(e).context("running diffoscope"),
                }
            }
            match d {
                None => Ok(()),
                Some(d) => Err(CheckFailed(
                    format!(
                        "{} and {} differ at {} ({})",
                        left.display(),
                        right.display(),
                        d.location,
                        d.what
                    ),
                    serde_json::json!({}),
                )
                .into()),
            }
        }
        Command::Test {
            recipe,
            release,
            all_scenarios,
        } => {
            let mut recipe = load(&recipe)?;
            recipe.run_all_scenarios(all_scenarios);
            let store = store(&cli.global.store)?;
            let path = release.join("release.json");
            let manifest: relsign::model::ReleaseManifest = serde_json::from_slice(
                &std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
            )
            .with_context(|| format!("parsing {}", path.display()))?;
            let report = relsign::gate::run(&recipe, &release, &manifest, &store, r)?;
            if json {
                print_json(serde_json::to_value(&report)?);
            } else {
                print_gate(&report);
            }
            if !report.ok() {
                let msg = format!("the release gate failed:\n{}", report.failure_summary());
                return Err(CheckFailed(msg, serde_json::json!({})).into());
            }
            Ok(())
        }
        Command::Run {
            layout,
            tag,
            services,
            user,
            bind,
            services_from,
            command,
        } => {
            let layout = if layout.join("oci-layout").is_file() {
                layout
            } else {
                layout.join("image")
            };
            let work = tempfile::tempdir()?;
            let rootfs = work.path().join("rootfs");
            if services {
                let args = ServicesArgs {
                    user,
                    binds: bind,
                    services_from,
                };
                let code = run_services(&layout, tag.as_deref(), args, command, work.path(), r)?;
                // The unpacked image goes before exiting (exit runs no destructors).
                drop(work);
                if code != 0 {
                    std::process::exit(code);
                }
                return Ok(());
            }
            r.step(&format!("unpacking {}", layout.display()));
            let config = relsign::build::image::unpack_layout(&layout, tag.as_deref(), &rootfs)?;
            let c = &config.config;
            let argv = if command.is_empty() {
                c.entrypoint.iter().chain(&c.cmd).cloned().collect()
            } else {
                command
            };
            if argv.is_empty() {
                anyhow::bail!(
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
                None => anyhow::bail!("the command was killed by a signal"),
            }
        }
        Command::Enter {
            pid,
            uid,
            gid,
            groups,
            cwd,
            command,
        } => {
            let e = relsign::services::Enter {
                pid,
                uid,
                gid,
                groups,
                cwd,
                argv: command,
            };
            match relsign::services::enter(&e) {
                Ok(code) => std::process::exit(code),
                Err(why) => {
                    errln!("relsign __enter: {why}");
                    std::process::exit(127)
                }
            }
        }
        Command::Exec { recipe, command } => {
            let recipe = load(&recipe)?;
            let store = store(&cli.global.store)?;
            let deb = lock::debian::DebianLock::read(&recipe.debian_lock_path())?;
            let work = tempfile::tempdir()?;
            let rootfs = work.path().join("rootfs");
            relsign::build::rootfs::assemble_rootfs(&deb, &store, &rootfs, r)?;
            let step = relsign::sandbox::Step {
                uid: None,
                system: false,
                name: command.join(" "),
                rootfs,
                binds: vec![relsign::sandbox::Bind {
                    host: store.root().to_path_buf(),
                    dest: "/store".into(),
                    writable: false,
                }],
                env: vec![],
                cwd: "/".into(),
                argv: command,
            };
            let out = relsign::sandbox::run(&step)?;
            use std::io::Write;
            std::io::stdout().write_all(&out.stdout)?;
            std::io::stderr().write_all(&out.stderr)?;
            Ok(())
        }
    }
}
