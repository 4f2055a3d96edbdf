//! The release gate: the recipe's behave suite, run offline in the sandbox against the exact
//! bits about to be signed, in a fresh venv and/or inside the built image.
//!
//! behave and its dependencies come from the lock's `test` group, installed from the store.
//! The JUnit XML goes into `DIR/test-results/<where>/`; the summary counts passed, failed and
//! skipped scenarios per feature.

use crate::build::error::BuildError;
use crate::fsutil;
use crate::intoto::{Descriptor, Statement, TestResultPredicate};
use crate::lock::python::PyLock;
use crate::model::ReleaseManifest;
use crate::python::install::Venv;
use crate::recipe::Recipe;
use crate::report::Reporter;
use crate::sandbox::{self, Bind, Step};
use crate::store::Store;

use std::path::{Path, PathBuf};

mod results;
mod server;
pub use server::ServerRun;

use results::summarize;
pub use results::{
    parse_cases, parse_junit, CaseResult, GateReport, GateRun, GatingOutcome, SuiteSummary,
};

fn report_run(place: &str, run: &GateRun, reporter: &dyn Reporter) {
    for s in &run.suites {
        reporter.info(&format!(
            "{place}: {}: {} passed, {} failed, {} skipped",
            s.name,
            s.passed(),
            s.failures + s.errors,
            s.skipped
        ));
    }
    for g in &run.gating {
        if g.status != "passed" {
            reporter.warn(&format!(
                "{place}: gating scenario {} / {:?}: {}",
                g.feature, g.scenario, g.status
            ));
        }
    }
    if !run.gating.is_empty() {
        let ok = run.gating.iter().filter(|g| g.status == "passed").count();
        reporter.info(&format!(
            "{place}: gating scenarios: {ok} passed, {} not passed, of {}",
            run.gating.len() - ok,
            run.gating.len()
        ));
    }
}

/// Install the lock's `test` group into a plain directory (added to sys.path at run time).
fn install_test_site(py_lock: &PyLock, store: &Store, site: &Path) -> Result<(), BuildError> {
    fsutil::create_dir_all(site)?;
    for p in py_lock.test() {
        let w = p.wheels.first().ok_or_else(|| {
            BuildError::Message(format!(
                "test requirement {} {} is locked without a wheel",
                p.name, p.version
            ))
        })?;
        let path = store.get(&w.sha256, &w.name)?;
        crate::python::wheel::unpack_into_site(&path, &w.name, site)?;
    }
    Ok(())
}

/// behave's entry point, run with the test site appended to sys.path.
fn behave_argv(python: &str, out: &str) -> Vec<String> {
    let boot = "import sys; sys.path.append('/relsign/test-site'); sys.argv[0] = 'behave'; \
                from behave.__main__ import main; sys.exit(main())";
    [
        python,
        "-c",
        boot,
        "--no-color",
        "--format",
        "plain",
        "--junit",
        "--junit-directory",
        out,
        "/features",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Run the recipe's gate against the release in `release_dir` (already built).
pub fn run(
    recipe: &Recipe,
    release_dir: &Path,
    manifest: &ReleaseManifest,
    store: &Store,
    reporter: &dyn Reporter,
) -> Result<GateReport, BuildError> {
    let spec = recipe.file.test.as_ref().ok_or_else(|| {
        BuildError::Message(format!(
            "{}: no [test] section: nothing to run",
            recipe.path.display()
        ))
    })?;
    let features = recipe.resolve(&spec.features);
    if !features.is_dir() {
        return Err(BuildError::Message(format!(
            "{}: test.features: {} is not a directory",
            recipe.path.display(),
            features.display()
        )));
    }
    let features_sha256 = crate::build::source::tree_digest(&features)?;
    let py_lock = PyLock::read(&recipe.python_lock_path()).map_err(|e| BuildError::Other {
        context: "reading the Python lock".into(),
        source: Box::new(e),
    })?;
    let work = fsutil::work_dir("relsign-gate-")?;
    let site = work.path().join("test-site");
    install_test_site(&py_lock, store, &site)?;
    let features_copy = work.path().join("features");
    crate::build::source::copy_source_tree(&features, &features_copy, manifest.source_date_epoch)?;
    let gate = Gate {
        recipe,
        release_dir,
        manifest,
        store,
        py_lock: &py_lock,
        work: work.path(),
        site: &site,
        features: &features_copy,
    };
    let results = release_dir.join("test-results");
    let mut runs = Vec::new();
    for place in &spec.run_in {
        let junit_dir = results.join(place);
        if junit_dir.exists() {
            std::fs::remove_dir_all(&junit_dir).map_err(fsutil::err("remove", &junit_dir))?;
        }
        fsutil::create_dir_all(&junit_dir)?;
        let run = gate.run_place(place, &junit_dir, reporter)?;
        report_run(place, &run, reporter);
        runs.push(run);
    }
    let report = GateReport {
        runs,
        features_sha256,
    };
    let mut json = crate::model::canonical_json(&report);
    json.push(b'\n');
    fsutil::write_atomic(&results.join("summary.json"), &json)?;
    Ok(report)
}

/// What every place of one gate run shares.
struct Gate<'a> {
    recipe: &'a Recipe,
    release_dir: &'a Path,
    manifest: &'a ReleaseManifest,
    store: &'a Store,
    py_lock: &'a PyLock,
    work: &'a Path,
    /// The lock's `test` group, unpacked.
    site: &'a Path,
    /// The copy of the recipe's features directory.
    features: &'a Path,
}

/// Where behave runs for a place: the root filesystem, the Python, the environment, and a
/// mount besides the common ones (the venv).
struct Place {
    rootfs: PathBuf,
    python: String,
    env: Vec<(String, String)>,
    bind: Option<Bind>,
}

impl Gate<'_> {
    /// Run one place of `test.run-in`, its JUnit XML into `junit_dir`.
    fn run_place(
        &self,
        place: &str,
        junit_dir: &Path,
        reporter: &dyn Reporter,
    ) -> Result<GateRun, BuildError> {
        if place == "services" {
            let ctx = ServerRun {
                recipe: self.recipe,
                release_dir: self.release_dir,
                manifest: self.manifest,
                store: self.store,
                site: self.site,
                work: self.work,
                junit_dir,
            };
            return server::run(&ctx, reporter);
        }
        let mut binds = vec![
            Bind {
                host: self.site.to_path_buf(),
                dest: "/relsign/test-site".into(),
                writable: false,
            },
            Bind {
                host: self.features.to_path_buf(),
                dest: "/features".into(),
                writable: false,
            },
            Bind {
                host: junit_dir.to_path_buf(),
                dest: "/out".into(),
                writable: true,
            },
        ];
        let Place {
            rootfs,
            python,
            mut env,
            bind,
        } = match place {
            "venv" => {
                reporter.step("gate: behave in a fresh venv with the built wheels");
                self.venv_place(reporter)?
            }
            "image" => {
                reporter.step("gate: behave inside the built image");
                self.image_place()?
            }
            other => {
                return Err(BuildError::Message(format!(
                    "test.run-in: unknown place {other:?}"
                )))
            }
        };
        binds.extend(bind);
        env.push((
            "SOURCE_DATE_EPOCH".into(),
            self.manifest.source_date_epoch.to_string(),
        ));
        let step = Step {
            uid: None,
            system: false,
            name: format!("behave ({place})"),
            rootfs,
            binds,
            env,
            cwd: "/tmp".into(),
            argv: behave_argv(&python, "/out"),
        };
        let out = sandbox::run_capture(&step)?;
        summarize(place, junit_dir, self.release_dir, &out)
    }

    /// "venv": the Debian toolchain's rootfs and a fresh venv with the release's wheels
    /// (checked against the manifest) and the lock's runtime wheels.
    fn venv_place(&self, reporter: &dyn Reporter) -> Result<Place, BuildError> {
        let deb = crate::lock::debian::DebianLock::read(&self.recipe.debian_lock_path()).map_err(
            |e| BuildError::Other {
                context: "reading the Debian lock".into(),
                source: Box::new(e),
            },
        )?;
        let rootfs = self.work.join("venv-rootfs");
        crate::build::rootfs::assemble_rootfs(&deb, self.store, &rootfs, reporter).map_err(
            |e| BuildError::Other {
                context: "assembling the gate rootfs".into(),
                source: Box::new(e),
            },
        )?;
        let venv_root = self.work.join("venv-tree");
        let python = &self.recipe.file.python.version;
        let mut venv = Venv::create(&venv_root, "/opt/venv", python, python)?;
        for a in self
            .manifest
            .artifacts
            .iter()
            .filter(|a| a.kind == crate::model::ArtifactKind::Wheel)
        {
            let p = self.release_dir.join(&a.file);
            let (got, _) = crate::digest::hash_file(&p).map_err(fsutil::err("read", &p))?;
            if got != a.sha256 {
                return Err(BuildError::Message(format!(
                    "{}: expected={}, got={got}; the release directory changed since it was built",
                    p.display(),
                    a.sha256
                )));
            }
            venv.install(&p, &a.file)?;
        }
        for p in self.py_lock.runtime() {
            if let Some(w) = p.wheels.first() {
                venv.install(&self.store.get(&w.sha256, &w.name)?, &w.name)?;
            }
        }
        Ok(Place {
            rootfs,
            python: "/opt/venv/bin/python".to_string(),
            env: vec![
                (
                    "PATH".to_string(),
                    "/opt/venv/bin:/usr/bin:/bin".to_string(),
                ),
                ("VIRTUAL_ENV".into(), "/opt/venv".into()),
            ],
            bind: Some(Bind {
                host: venv_root.join("opt/venv"),
                dest: "/opt/venv".into(),
                writable: false,
            }),
        })
    }

    /// "image": the release's image unpacked, its venv's Python and its config's environment.
    fn image_place(&self) -> Result<Place, BuildError> {
        let img = self
            .manifest
            .artifacts
            .iter()
            .find(|a| a.kind == crate::model::ArtifactKind::OciImage)
            .ok_or_else(|| {
                BuildError::Message("test.run-in has \"image\" but the release has no image".into())
            })?;
        let rootfs = self.work.join("image-rootfs");
        let config =
            crate::build::image::unpack_layout(&self.release_dir.join(&img.file), None, &rootfs)?;
        let venv = self.recipe.image_venv();
        Ok(Place {
            rootfs,
            python: format!("{venv}/bin/python"),
            env: config.config.env_pairs(),
            bind: None,
        })
    }
}

/// The gate's report, relative to the release directory.
pub const SUMMARY_FILE: &str = "test-results/summary.json";

pub const TEST_RESULT_V01: &str = "https://in-toto.io/attestation/test-result/v0.1";

/// The in-toto test-result v0.1 statement for a gate report: the release's artifacts are the
/// subjects; the configuration names the features directory, the summary
/// (`test-results/summary.json`, whose digest the caller gives) and every JUnit file by digest.
pub fn test_result_statement(
    manifest: &ReleaseManifest,
    report: &GateReport,
    summary_sha256: &crate::digest::Sha256Hex,
) -> serde_json::Value {
    let subject: Vec<Descriptor> = manifest
        .artifacts
        .iter()
        .map(|a| Descriptor::file(&a.file, &a.sha256))
        .collect();
    let typed = |d: Descriptor, media: &str| Descriptor {
        media_type: Some(media.into()),
        ..d
    };
    let mut configuration = vec![
        Descriptor::file("features", &report.features_sha256),
        typed(
            Descriptor::file(SUMMARY_FILE, summary_sha256),
            "application/json",
        ),
    ];
    let (mut passed, mut failed, mut warned) = (Vec::new(), Vec::new(), Vec::new());
    for run in &report.runs {
        for (file, d) in &run.junit {
            configuration.push(typed(Descriptor::file(file, d), "application/xml"));
        }
        for c in &run.cases {
            let name = format!("{}: {}", run.place, c.name);
            match c.status.as_str() {
                "passed" => passed.push(name),
                "failed" => failed.push(name),
                _ => warned.push(name),
            }
        }
    }
    let result = if !report.ok() {
        "FAILED"
    } else if warned.is_empty() {
        "PASSED"
    } else {
        "WARNED"
    };
    let predicate = TestResultPredicate {
        result: result.into(),
        configuration,
        passed_tests: Some(passed),
        warned_tests: Some(warned),
        failed_tests: Some(failed),
    };
    Statement::new(subject, TEST_RESULT_V01, predicate).to_value()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn junit_suites_are_counted() {
        let xml = r#"<?xml version='1.0' encoding='UTF-8'?>
<testsuite errors="0" failures="1" hostname="h" name="cli.the relsign-demo command line" skipped="2" tests="7" time="0.1"><testcase/></testsuite>"#;
        let s = parse_junit(xml);
        assert_eq!(s.len(), 1);
        assert_eq!(
            (s[0].tests, s[0].failures, s[0].skipped, s[0].passed()),
            (7, 1, 2, 4)
        );
        assert_eq!(s[0].name, "cli.the relsign-demo command line");
    }

    #[test]
    fn junit_cases_have_a_status() {
        let xml = r#"<testsuite name="f" tests="2"><testcase classname="f.feat" name="ok one" status="passed" time="0.1"><system-out>x</system-out></testcase><testcase classname="f.feat" name="bad one" status="failed"><failure message="m"/></testcase></testsuite>"#;
        let c = parse_cases(xml);
        assert_eq!(c.len(), 2);
        assert_eq!(
            (c[0].name.as_str(), c[0].status.as_str()),
            ("f.feat :: ok one", "passed")
        );
        assert_eq!(c[1].status, "failed");
    }
}
