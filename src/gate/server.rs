//! The gate's place "services": a project's own behave suite (`[test.server]`), taken from
//! one of the recipe's pinned `[[archive]]`s, run inside the sandbox of
//! `relsign run --services` (the image's services up, network loopback only) against the
//! running server.
//!
//! * The suite runs as the recipe's user with the image's Python, behave and its test
//!   requirements from the lock's `test` group (`/relsign/test-site`), and the recipe's
//!   stand-ins (`python-path`, `binds`) for what the suite would download at run time.
//! * Only the gating scenarios run (behave `--name`, exact), unless `all`; each must run and
//!   pass: a name that matches no scenario is "not run", which fails the gate.
//! * The report records, by digest, the suite and every stand-in, so the test-result
//!   attestation says exactly what ran besides the release.

use super::results::{summarize, CaseResult, GateRun, GatingOutcome};
use crate::build::error::BuildError;
use crate::digest::Sha256Hex;
use crate::model::ReleaseManifest;
use crate::recipe::{GatingScenario, Recipe, ServerTest};
use crate::report::Reporter;
use crate::sandbox::RawOutput;
use crate::services::HostBind;
use crate::store::Store;
use std::path::Path;

/// Where the suite's pieces are mounted in the sandbox.
const SITE: &str = "/relsign/test-site";
const FEATURES: &str = "/relsign/features";
const OUT: &str = "/relsign/out";
const PYTHON_PATH: &str = "/relsign/gate-python";

/// What the place needs from the gate.
pub struct ServerRun<'a> {
    pub recipe: &'a Recipe,
    pub release_dir: &'a Path,
    pub manifest: &'a ReleaseManifest,
    pub store: &'a Store,
    /// The lock's `test` group, unpacked.
    pub site: &'a Path,
    pub work: &'a Path,
    pub junit_dir: &'a Path,
}

fn msg(s: String) -> BuildError {
    BuildError::Message(s)
}

/// Run the suite; the outcome of every gating scenario is in the result.
pub fn run(ctx: &ServerRun, reporter: &dyn Reporter) -> Result<GateRun, BuildError> {
    let recipe = ctx.recipe;
    let spec = recipe
        .file
        .test
        .as_ref()
        .and_then(|t| t.server.as_ref())
        .ok_or_else(|| msg("test.run-in has \"services\" but there is no [test.server]".into()))?;
    let img = ctx
        .manifest
        .artifacts
        .iter()
        .find(|a| a.kind == crate::model::ArtifactKind::OciImage)
        .ok_or_else(|| msg("test.run-in has \"services\" but the release has no image".into()))?;
    let (binds, mut inputs) = mounts(ctx, spec)?;

    reporter.step("gate: the project's suite against the image's services");
    let rootfs = ctx.work.join("server-rootfs");
    let layout = ctx.release_dir.join(&img.file);
    let t = std::time::Instant::now();
    let config = crate::build::image::unpack_layout_with(&layout, None, &rootfs, true)?;
    reporter.info(&format!(
        "unpacked the image with owners in {:.1} s",
        t.elapsed().as_secs_f64()
    ));
    inputs.extend(add_test_packages(ctx, &rootfs, reporter)?);
    let io = |what: &'static str| move |e: std::io::Error| msg(format!("{what}: {e}"));
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&rootfs, std::fs::Permissions::from_mode(0o755))
        .map_err(io("rootfs permissions"))?;
    // The suite's user writes its JUnit files there.
    std::fs::set_permissions(ctx.junit_dir, std::fs::Permissions::from_mode(0o1777))
        .map_err(io("JUnit directory permissions"))?;
    let c = &config.config;
    let mut services = crate::services::from_labels(&c.labels)
        .map_err(|e| msg(format!("{}: {e}", layout.display())))?;
    if services.is_empty() {
        return Err(msg(format!(
            "{}: the image declares no services",
            layout.display()
        )));
    }
    inputs.extend(server_setup(spec, &mut services));
    let venv = recipe.image_venv();
    let stop = std::sync::atomic::AtomicUsize::new(0);
    let helper = std::env::current_exe().map_err(io("relsign's own path"))?;
    let mut env = spec.env.clone();
    env.insert(
        "SOURCE_DATE_EPOCH".into(),
        ctx.manifest.source_date_epoch.to_string(),
    );
    let logs = ctx.work.join("server-logs");
    let run = crate::services::RunSpec {
        helper: &helper,
        rootfs: &rootfs,
        logs: &logs,
        services: &services,
        binds: &binds,
        image_env: c.env_pairs(),
        workdir: FEATURES.into(),
        command: behave_argv(&format!("{venv}/bin/python"), spec),
        command_user: spec.user.clone(),
        command_env: env,
        setup: &spec.setup,
        stop: &stop,
    };
    let report = crate::services::run(&run, reporter).map_err(|e| msg(e.to_string()));
    if let Some(dir) = &spec.keep_logs {
        let kept = ServerLogs {
            outputs: &logs,
            rootfs: &rootfs,
            services: &services,
            extra: &spec.logs,
        };
        kept.keep(dir)?;
        reporter.info(&format!("the services' logs are kept in {}", dir.display()));
    }
    let report = report?;
    let out = RawOutput {
        code: report.code,
        stdout: Vec::new(),
        stderr: Vec::new(),
    };
    let mut result = summarize("services", ctx.junit_dir, ctx.release_dir, &out)?;
    result.gating = outcomes(&spec.gating, &result.cases);
    result.inputs = inputs;
    Ok(result)
}

/// The gate's test-only server configuration: `service-env` added to every service (over
/// its own `env`; first-start steps see it too), for this run only. What the report records
/// of it and of the `setup` steps, by digest: the environment as sorted `NAME=VALUE` lines,
/// and each step as its user and argv (NUL-separated).
fn server_setup(
    spec: &ServerTest,
    services: &mut [crate::services::ServiceSpec],
) -> Vec<(String, Sha256Hex)> {
    let mut inputs = Vec::new();
    if !spec.service_env.is_empty() {
        for s in services.iter_mut() {
            s.env.extend(spec.service_env.clone());
        }
        let text: String = spec
            .service_env
            .iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect();
        let names: Vec<&str> = spec.service_env.keys().map(|k| k.as_str()).collect();
        inputs.push((
            format!(
                "service-env {} (every service, this run only)",
                names.join(" ")
            ),
            Sha256Hex::of(text.as_bytes()),
        ));
    }
    for f in &spec.setup {
        let text = std::iter::once(f.user.as_str())
            .chain(f.run.iter().map(|a| a.as_str()))
            .collect::<Vec<_>>()
            .join("\0");
        inputs.push((
            format!("setup as {}: {}", f.user, f.run.join(" ")),
            Sha256Hex::of(text.as_bytes()),
        ));
    }
    inputs
}

/// The logs of a suite's run: the services' output files, and the log files they declare
/// and `[test.server] logs` names, as the image's copy holds them after the run.
struct ServerLogs<'a> {
    outputs: &'a Path,
    rootfs: &'a Path,
    services: &'a [crate::services::ServiceSpec],
    extra: &'a [String],
}

impl ServerLogs<'_> {
    /// Copy them to `dir` (emptied first): `<service>.log` for the outputs, `image/<path>` for
    /// the image's files and directories (symlinks are copied as links, never followed; a path
    /// the run did not make is skipped). Written to a temporary directory beside `dir`, then renamed.
    fn keep(&self, dir: &Path) -> Result<(), BuildError> {
        let io = |what: String| move |e: std::io::Error| msg(format!("{what}: {e}"));
        let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
        let parent = parent.unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(io(format!("creating {}", parent.display())))?;
        let tmp = tempfile::Builder::new()
            .prefix(".server-logs")
            .tempdir_in(parent)
            .map_err(io(format!("a directory in {}", parent.display())))?;
        if let Ok(rd) = std::fs::read_dir(self.outputs) {
            for e in rd.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "log") {
                    copy_tree(&p, &tmp.path().join(e.file_name()))?;
                }
            }
        }
        let declared = self.services.iter().flat_map(|s| s.logs.iter());
        for path in declared.chain(self.extra) {
            let rel = path.trim_start_matches('/');
            let src = self.rootfs.join(rel);
            if src.symlink_metadata().is_ok() {
                copy_tree(&src, &tmp.path().join("image").join(rel))?;
            }
        }
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(io(format!("removing {}", dir.display())))?;
        }
        let kept = tmp.keep();
        std::fs::rename(&kept, dir).map_err(io(format!("renaming to {}", dir.display())))?;
        Ok(())
    }
}

/// Copy a regular file, or a directory with [`crate::fsutil::copy_tree`] (symlinks copied as
/// links, never followed); a symlink or special file given itself is skipped.
fn copy_tree(src: &Path, dest: &Path) -> Result<(), BuildError> {
    let md = src
        .symlink_metadata()
        .map_err(crate::fsutil::err("stat", src))?;
    if md.is_dir() {
        crate::fsutil::copy_tree(src, dest)?;
    } else if md.is_file() {
        if let Some(p) = dest.parent() {
            crate::fsutil::create_dir_all(p)?;
        }
        std::fs::copy(src, dest).map_err(crate::fsutil::err("copy to", dest))?;
    }
    Ok(())
}

/// `image.test-packages` (locked with the image, left out of it) extracted into the gate's
/// copy of the image, data only (no maintainer script runs), each recorded by the .deb's
/// digest.
fn add_test_packages(
    ctx: &ServerRun,
    rootfs: &Path,
    reporter: &dyn Reporter,
) -> Result<Vec<(String, Sha256Hex)>, BuildError> {
    let recipe = ctx.recipe;
    let (Some(spec), Some((_, lock_path))) = (&recipe.file.image, recipe.image_toolchain()) else {
        return Ok(Vec::new());
    };
    if spec.test_packages.is_empty() {
        return Ok(Vec::new());
    }
    let lock = crate::lock::debian::DebianLock::read(&lock_path)
        .map_err(|e| msg(format!("{}: {e}", lock_path.display())))?;
    let debs = lock.only(&spec.test_packages).map_err(|e| {
        msg(format!(
            "{}: image.test-packages: {e}",
            recipe.path.display()
        ))
    })?;
    let rewrite = |p: &str| crate::build::rootfs::merged_usr_rewrite(p);
    let mut recorded = Vec::new();
    for d in debs {
        let file = d.file_name();
        let path = ctx.store.get(&d.sha256, file)?;
        let entries = crate::debian::extract_data(&path, rootfs, Some(&rewrite))
            .map_err(|e| msg(format!("test package {}: {e}", d.name)))?;
        reporter.info(&format!(
            "test package {} {} added to the gate's copy of the image ({} entries; not in the image)",
            d.name,
            d.version,
            entries.len()
        ));
        recorded.push((
            format!("test package {} {} ({file})", d.name, d.version),
            d.sha256.clone(),
        ));
    }
    Ok(recorded)
}

/// The sandbox's mounts, and the suite and stand-ins recorded by digest (path, sha256).
type Mounts = (Vec<HostBind>, Vec<(String, Sha256Hex)>);

/// The sandbox's mounts (test site, suite, JUnit directory, stand-ins) and what the report
/// records of them by digest: the suite and each stand-in.
fn mounts(ctx: &ServerRun, spec: &ServerTest) -> Result<Mounts, BuildError> {
    let recipe = ctx.recipe;
    let archive = ctx.work.join("server-archive");
    crate::upstream::unpack(recipe, &spec.archive, ctx.store, &archive)
        .map_err(|e| msg(e.to_string()))?;
    let features = archive.join(&spec.features);
    if !std::fs::symlink_metadata(&features).is_ok_and(|m| m.is_dir()) {
        return Err(msg(format!(
            "{}: test.server.features: {} is not a directory of archive {:?}",
            recipe.path.display(),
            spec.features.display(),
            spec.archive
        )));
    }
    let mut inputs = vec![(
        format!("archive {}: {}", spec.archive, spec.features.display()),
        crate::build::source::tree_digest(&features)?,
    )];
    let bind = |host: &Path, dest: &str, writable: bool| HostBind {
        host: host.to_path_buf(),
        dest: dest.to_string(),
        writable,
    };
    let mut binds = vec![
        bind(ctx.site, SITE, false),
        bind(&features, FEATURES, false),
        bind(ctx.junit_dir, OUT, true),
    ];
    let extra = spec
        .python_path
        .iter()
        .map(|p| (p, PYTHON_PATH, false))
        .chain(
            spec.binds
                .iter()
                .map(|b| (&b.src, b.dest.as_str(), b.from_archive)),
        );
    for (src, dest, from_archive) in extra {
        let (host, what) = if from_archive {
            (
                archive.join(src),
                format!("archive {}: {}", spec.archive, src.display()),
            )
        } else {
            (recipe.resolve(src), format!("stand-in {}", src.display()))
        };
        if !std::fs::symlink_metadata(&host).is_ok_and(|m| m.is_dir()) {
            return Err(msg(format!(
                "{}: test.server: {} is not a directory",
                recipe.path.display(),
                host.display()
            )));
        }
        inputs.push((
            format!("{what} at {dest}"),
            crate::build::source::tree_digest(&host)?,
        ));
        binds.push(bind(&host, dest, false));
    }
    Ok((binds, inputs))
}

/// behave with the test site and the stand-ins on sys.path, JUnit into [`OUT`], only the
/// gating scenarios (exact names) unless `all`.
fn behave_argv(python: &str, spec: &ServerTest) -> Vec<String> {
    let boot = format!(
        "import sys; sys.path.append('{SITE}'); sys.path.insert(0, '{PYTHON_PATH}'); \
         sys.argv[0] = 'behave'; from behave.__main__ import main; sys.exit(main())"
    );
    let mut a: Vec<String> = [
        python,
        "-c",
        &boot,
        "--no-color",
        "--format",
        "plain",
        "--junit",
        "--junit-directory",
        OUT,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if spec.all {
        a.push(FEATURES.into());
        return a;
    }
    for g in &spec.gating {
        a.push("--name".into());
        a.push(format!("^{}$", regex_escape(&g.scenario)));
    }
    let mut files: Vec<&str> = spec.gating.iter().map(|g| g.feature.as_str()).collect();
    files.sort();
    files.dedup();
    a.extend(files.iter().map(|f| format!("{FEATURES}/{f}")));
    a
}

/// A Python regular expression matching `s` literally.
pub fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if r"\.^$*+?{}[]|()".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `&quot;` and the other XML entities behave writes in attributes.
fn xml_unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Each gating scenario's status among the cases (`<classname> :: <name>`, behave's
/// classname being `<feature file stem>.<feature name>`).
pub fn outcomes(gating: &[GatingScenario], cases: &[CaseResult]) -> Vec<GatingOutcome> {
    gating
        .iter()
        .map(|g| {
            let stem = g.feature.trim_end_matches(".feature");
            let status = cases
                .iter()
                .find(|c| {
                    let Some((class, name)) = c.name.split_once(" :: ") else {
                        return false;
                    };
                    class.starts_with(&format!("{stem}.")) && xml_unescape(name) == g.scenario
                })
                .map(|c| c.status.clone())
                .unwrap_or_else(|| "not run".into());
            GatingOutcome {
                feature: g.feature.clone(),
                scenario: g.scenario.clone(),
                status,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gating_outcomes_need_the_exact_scenario_of_that_feature() {
        let g = |f: &str, s: &str| GatingScenario {
            feature: f.into(),
            scenario: s.into(),
        };
        let c = |n: &str, st: &str| CaseResult {
            name: n.into(),
            status: st.into(),
        };
        let cases = [
            c(
                "TestExamples.Example interviews :: Test the interview &quot;Fields&quot;",
                "passed",
            ),
            c(
                "TestExamples.Example interviews :: Test the interview &quot;Money&quot;",
                "failed",
            ),
            c("Demo.Demo interview :: Test whole interview", "passed"),
        ];
        let out = outcomes(
            &[
                g("TestExamples.feature", "Test the interview \"Fields\""),
                g("TestExamples.feature", "Test the interview \"Money\""),
                g("TestExamples.feature", "Test whole interview"),
                g("TestExamples.feature", "Test the interview \"Field\""),
            ],
            &cases,
        );
        let st: Vec<&str> = out.iter().map(|o| o.status.as_str()).collect();
        assert_eq!(st, ["passed", "failed", "not run", "not run"]);
    }

    #[test]
    fn service_env_reaches_every_service_and_is_recorded() {
        let spec: ServerTest = toml::from_str(
            r#"
archive = "up"
features = "tests/features"
user = "www-data"
gating = [{ feature = "A.feature", scenario = "s" }]
service-env = { CONFIGFROM = "{debug: true}", B = "2" }
setup = [{ run = ["psql", "-f", "/x.sql"], user = "postgres" }]
"#,
        )
        .unwrap();
        #[derive(serde::Deserialize)]
        struct S {
            services: Vec<crate::services::ServiceSpec>,
        }
        let mut svcs = toml::from_str::<S>(
            r#"
[[services]]
name = "db"
command = ["db"]
ready = { tcp = 5432 }
env = { B = "1", C = "3" }
[[services]]
name = "web"
command = ["web"]
ready = { tcp = 80 }
"#,
        )
        .unwrap()
        .services;
        let inputs = server_setup(&spec, &mut svcs);
        // Over the service's own env, to every service.
        assert_eq!(
            (svcs[0].env["B"].as_str(), svcs[0].env["C"].as_str()),
            ("2", "3")
        );
        assert_eq!(svcs[1].env["CONFIGFROM"], "{debug: true}");
        assert_eq!(
            inputs,
            [
                (
                    "service-env B CONFIGFROM (every service, this run only)".to_string(),
                    Sha256Hex::of(b"B=2\nCONFIGFROM={debug: true}\n")
                ),
                (
                    "setup as postgres: psql -f /x.sql".to_string(),
                    Sha256Hex::of(b"postgres\0psql\0-f\0/x.sql")
                ),
            ]
        );
        let mut plain = spec.clone();
        plain.service_env.clear();
        plain.setup.clear();
        assert!(server_setup(&plain, &mut svcs).is_empty());
    }

    #[test]
    fn scenario_names_are_matched_literally() {
        assert_eq!(regex_escape("a (b) [c] $5.00?"), r"a \(b\) \[c\] \$5\.00\?");
        assert_eq!(
            regex_escape("Test the interview \"x\""),
            "Test the interview \"x\""
        );
    }
}
