//! `relsign release`: build, (check reproducibility,) run the gate, write the SBOMs, run the
//! policy gates, sign (and log the signatures). Nothing is signed when a gate fails.

use super::build::check_reproducible_against;
use super::common::{load, store};
use crate::args::{passphrase, Global};
use crate::cli::ReleaseArgs;
use crate::output::{print_gate, print_json, print_logged};
use relsign::error::{Context, Error, Result};
use relsign::keys::SecretKey;
use relsign::recipe::Recipe;
use relsign::release::plan::{ReleaseOptions, ReleasePlan, Stage};
use relsign::report::Reporter;
use relsign::store::Store;
use std::path::Path;

pub fn run(a: ReleaseArgs, global: &Global, r: &dyn Reporter) -> Result<()> {
    let mut recipe = load(&a.recipe)?;
    recipe.run_all_scenarios(a.all_scenarios);
    recipe.keep_server_logs(a.server_logs.clone());
    let opts = ReleaseOptions {
        check_reproducible: a.check_reproducible,
        keys: a.keys.len(),
        keyless: a.keyless,
        log: a.log.log.clone(),
        stable_releases: a.stable_releases.clone(),
    };
    let plan = relsign::release::plan::plan(&recipe, &opts)
        .with_context(|| format!("planning the release of {}", recipe.path.display()))?;
    if a.plan {
        return print_plan(&plan, global.json);
    }
    execute(&a, &recipe, &plan, global, r)
}

/// `--plan`: what the release would do, as text or JSON, with the plan's digest.
fn print_plan(plan: &ReleasePlan, json: bool) -> Result<()> {
    let digest = plan.digest();
    if json {
        let mut v = serde_json::to_value(plan)?;
        v["digest"] = format!("sha256:{digest}").into();
        print_json(v);
        return Ok(());
    }
    outln!(
        "release plan for {} {} (sha256:{digest})",
        plan.name,
        plan.version
    );
    outln!("build (plan sha256:{}):", plan.build_digest);
    super::build::print_build_steps(&plan.build);
    outln!("then:");
    for stage in &plan.stages {
        let line = match stage {
            Stage::CheckReproducible => {
                "check reproducible: build again with variations and compare".to_string()
            }
            Stage::Gate {
                features,
                run_in,
                server,
            } => {
                let mut l = format!(
                    "gate: behave features {} in {}",
                    features.display(),
                    run_in.join(", ")
                );
                if let Some(s) = server {
                    l.push_str(&format!(
                        "; the server suite {} of archive {} ({} gating scenario(s){})",
                        s.features.display(),
                        s.archive,
                        s.gating,
                        if s.all { ", every scenario run" } else { "" }
                    ));
                }
                l
            }
            Stage::Sboms { formats } => format!("SBOMs: {} per artifact", formats.join(" and ")),
            Stage::Vulnerabilities {
                databases,
                fail_on,
                severity,
                max_age_days,
                allowed,
            } => format!(
                "vulnerability gate: fail on {fail_on}{}, databases {} (at most {max_age_days} days old), {allowed} allowed finding(s)",
                severity.as_ref().map(|s| format!(" or severity {s}")).unwrap_or_default(),
                databases
                    .iter()
                    .map(|d| format!("{} sha256:{} (taken {})", d.name, d.sha256, d.taken))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Stage::Stable { branch, search } => format!(
                "stable branch {branch}: compared with its last release in {}",
                search
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Stage::Sign {
                keys,
                keyless,
                statements,
            } => {
                let by = match (keys, keyless) {
                    (0, false) => "the --key keys".to_string(),
                    (0, true) => "a keyless identity".to_string(),
                    (n, false) => format!("{n} key(s)"),
                    (n, true) => format!("{n} key(s) and a keyless identity"),
                };
                format!("sign with {by}: {}", statements.join(", "))
            }
            Stage::Log { dir } => format!("log the signatures in {}", dir.display()),
        };
        outln!("  {line}");
    }
    Ok(())
}

/// Run the plan: the build, then each stage in order. Nothing is signed when a gate fails.
fn execute(
    a: &ReleaseArgs,
    recipe: &Recipe,
    plan: &ReleasePlan,
    global: &Global,
    r: &dyn Reporter,
) -> Result<()> {
    let json = global.json;
    let out = a
        .out
        .as_deref()
        .expect("clap requires --out without --plan");
    let store = store(&global.store)?;
    // Keys first: a wrong passphrase should fail before an hour of building.
    let mut secret = Vec::new();
    for k in &a.keys {
        relsign::keys::check_private_mode(k)?;
        let p = passphrase(&a.pass, k, false)?;
        secret.push(SecretKey::read(k, &p).with_context(|| format!("reading {}", k.display()))?);
    }
    let log_key = a.log.secret_key()?;
    let keyless = match a.keyless {
        true => Some(crate::cmd::sign::KeylessInputs::read(&a.keyless_service)?),
        false => None,
    };
    // The policy's inputs before an hour of building: the locked vulnerability
    // databases (present, valid, not too old) and the stable branch's baseline.
    let policy = PolicyInputs::load(recipe, &store, &a.stable_releases, r)?;
    let _ = std::fs::remove_file(out.join(relsign::reldir::NOT_A_RELEASE));
    let opts = relsign::build::BuildOptions {
        out: out.to_path_buf(),
        store: store.clone(),
        keep_work: false,
        epochs: Default::default(),
        vary: None,
        cache: !a.no_cache,
    };
    let m = relsign::build::build(recipe, &opts, r)
        .with_context(|| format!("building {}", recipe.path.display()))?;
    let mut report = None;
    let mut logged = Vec::new();
    let mut written = Vec::new();
    let mut policy = Some(policy);
    for stage in &plan.stages {
        match stage {
            Stage::CheckReproducible => check_reproducible(&a.recipe, out, &store, json, r)?,
            Stage::Gate { .. } => report = Some(gate(recipe, out, &m, &store, json, r)?),
            Stage::Sboms { .. } => {
                relsign::sbom::generate(out, &store, r)?;
            }
            // Both policy gates run together, so a failure names every offending package.
            Stage::Vulnerabilities { .. } | Stage::Stable { .. } => {
                if let Some(p) = policy.take() {
                    p.run(recipe, out, json, r)?;
                }
            }
            Stage::Sign { .. } => {
                written = sign_all(out, &secret, r)?;
                if let Some(k) = &keyless {
                    written.extend(k.sign(out, r)?.bundles);
                }
            }
            Stage::Log { dir } => {
                let lk = log_key
                    .as_ref()
                    .expect("clap requires --log-key with --log");
                let signers: Vec<_> = secret.iter().map(|k| k.public().clone()).collect();
                logged = relsign::releaselog::log_release(out, dir, lk, &signers)
                    .with_context(|| format!("logging the signatures in {}", dir.display()))?;
            }
        }
    }
    if json {
        print_json(
            serde_json::json!({"ok": true, "release": m, "gate": report, "signed": written, "logged": logged, "plan": format!("sha256:{}", plan.digest())}),
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
        print_logged(&logged);
    }
    Ok(())
}

/// The reproducibility stage: a difference marks the directory and stops the release.
fn check_reproducible(
    recipe: &Path,
    out: &Path,
    store: &Store,
    json: bool,
    r: &dyn Reporter,
) -> Result<()> {
    if let Err(e) = check_reproducible_against(recipe, out, store, json, r) {
        relsign::release::mark_not_a_release(out, &format!("{e:#}"))?;
        return Err(e.context(format!(
            "nothing was signed and {} is not a release",
            out.display()
        )));
    }
    Ok(())
}

/// The behave gate: a failure marks the directory and stops the release.
fn gate(
    recipe: &Recipe,
    out: &Path,
    m: &relsign::model::ReleaseManifest,
    store: &Store,
    json: bool,
    r: &dyn Reporter,
) -> Result<relsign::gate::GateReport> {
    let report = relsign::gate::run(recipe, out, m, store, r)?;
    if !json {
        print_gate(&report);
    }
    if !report.ok() {
        let why = report.failure_summary();
        relsign::release::mark_not_a_release(out, &why)?;
        let msg = format!(
            "the release gate failed; nothing was signed and {} is not a release:\n{why}",
            out.display()
        );
        return Err(Error::verification(
            msg,
            serde_json::json!({"gate": report}),
        ));
    }
    Ok(report)
}

/// Sign the release with every key. Returns the files written.
fn sign_all(out: &Path, secret: &[SecretKey], r: &dyn Reporter) -> Result<Vec<std::path::PathBuf>> {
    let signed_on = relsign::time::now();
    let mut written = Vec::new();
    for sk in secret {
        let (o, statements) =
            relsign::release::sign_all(out, &mut relsign::attest::KeySigner(sk), signed_on, r)?;
        written.push(o.envelope.clone());
        written.extend(o.bundles.clone());
        written.extend(statements);
    }
    written.sort();
    written.dedup();
    Ok(written)
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
        r: &dyn Reporter,
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
    fn run(self, recipe: &Recipe, out: &Path, json: bool, r: &dyn Reporter) -> Result<()> {
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
        Err(Error::verification(msg, details))
    }
}
