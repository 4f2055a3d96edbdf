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
use relsign::report::Reporter;
use relsign::store::Store;
use std::path::Path;

pub fn run(a: ReleaseArgs, global: &Global, r: &dyn Reporter) -> Result<()> {
    let json = global.json;
    let out = &a.out;
    let mut recipe = load(&a.recipe)?;
    recipe.run_all_scenarios(a.all_scenarios);
    let store = store(&global.store)?;
    if recipe.file.test.is_none() {
        bail!(
            "{}: a signed release needs the [test] gate (behave features); add a [test] section",
            recipe.path.display()
        );
    }
    // Keys first: a wrong passphrase should fail before an hour of building.
    let mut secret = Vec::new();
    for k in &a.keys {
        relsign::keys::check_private_mode(k)?;
        let p = passphrase(&a.pass, k, false)?;
        secret.push(SecretKey::read(k, &p).with_context(|| format!("reading {}", k.display()))?);
    }
    let log_key = a.log.secret_key()?;
    // The policy's inputs before an hour of building: the locked vulnerability
    // databases (present, valid, not too old) and the stable branch's baseline.
    let policy = PolicyInputs::load(&recipe, &store, &a.stable_releases, r)?;
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
    if a.check_reproducible {
        if let Err(e) = check_reproducible_against(&a.recipe, out, &store, json, r) {
            relsign::release::mark_not_a_release(out, &format!("{e:#}"))?;
            return Err(e.context(format!(
                "nothing was signed and {} is not a release",
                out.display()
            )));
        }
    }
    let report = relsign::gate::run(&recipe, out, &m, &store, r)?;
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
    relsign::sbom::generate(out, &store, r)?;
    policy.run(&recipe, out, json, r)?;
    let (written, logged) = sign_and_log(out, &secret, &a.log.log, log_key.as_ref(), r)?;
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
        print_logged(&logged);
    }
    Ok(())
}

/// Sign the release with every key; with --log, log the signatures. Returns the files
/// written and what was logged.
fn sign_and_log(
    out: &Path,
    secret: &[SecretKey],
    log: &Option<std::path::PathBuf>,
    log_key: Option<&SecretKey>,
    r: &dyn Reporter,
) -> Result<(Vec<std::path::PathBuf>, Vec<relsign::releaselog::Logged>)> {
    let signed_on = relsign::time::now();
    let mut written = Vec::new();
    for sk in secret {
        let (o, statements) = relsign::release::sign_all(out, sk, signed_on, r)?;
        written.push(o.envelope.clone());
        written.extend(o.bundles.clone());
        written.extend(statements);
    }
    written.sort();
    written.dedup();
    let logged = match (log, log_key) {
        (Some(dir), Some(lk)) => {
            let signers: Vec<_> = secret.iter().map(|k| k.public().clone()).collect();
            relsign::releaselog::log_release(out, dir, lk, &signers)
                .with_context(|| format!("logging the signatures in {}", dir.display()))?
        }
        _ => vec![],
    };
    Ok((written, logged))
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
