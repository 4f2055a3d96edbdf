//! `relsign scan`: a release's (a recipe's, an SBOM's) packages against an offline OSV
//! database; exit 1 when a finding fails the policy.

use super::common::{load, pulled_release, store};
use crate::args::Global;
use crate::cli::ScanArgs;
use crate::output::print_json;
use relsign::error::{Error, Result};
use relsign::report::Reporter;
use std::path::Path;

pub fn run(a: ScanArgs, global: &Global, r: &dyn Reporter) -> Result<()> {
    let json = global.json;
    let (_pulled, target) = pulled_release(&a.target, r)?;
    let is_recipe = target.extension().is_some_and(|e| e == "toml");
    // A recipe: the packages its locks pin; else a release directory or an SBOM.
    let pkgs = if is_recipe {
        let (pkgs, unknown) =
            relsign::packages::from_locks(&load(&target)?, &store(&global.store)?)?;
        if unknown > 0 {
            r.warn(&format!(
                "{unknown} locked .deb(s) are not in the store: matched by their binary name (or the source name the lock records) at their binary's version, not their source's (Debian's advisories are keyed by source package and version); run `relsign fetch {}`",
                target.display()
            ));
        }
        pkgs
    } else {
        relsign::packages::read(&target)?
    };
    if a.db.is_empty() {
        return scan_with_recipe_gate(&target, is_recipe, &pkgs, &global.store, json);
    }
    let fail_on = a.fail_on.unwrap_or_else(|| "fixed".into());
    let mut records = Vec::new();
    let mut named = Vec::new();
    for d in &a.db {
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
    let allow = match &a.allow {
        Some(p) => relsign::scan::read_allow(p)?,
        None => vec![],
    };
    let today = relsign::time::format(relsign::time::now());
    let judged = relsign::scan::judge(
        relsign::scan::scan(&pkgs, &records),
        &fail_on,
        a.severity.as_deref(),
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
        return Err(Error::verification(
            format!(
                "{failing} finding(s) fail the policy (--fail-on {fail_on}{}): move each package to its FIXED IN version, or allow-list it with a reason and an expiry",
                a.severity.as_deref().map(|s| format!(", --severity {s}")).unwrap_or_default()
            ),
            serde_json::json!({"check": "scan", "failing": failing}),
        ));
    }
    Ok(())
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
            None => bail!(
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
        return Err(Error::verification(
            format!(
                "{failing} finding(s) fail the [vulnerabilities] policy of {}:\n{}",
                recipe.path.display(),
                report.remediation()
            ),
            serde_json::json!({"check": "scan", "failing": failing}),
        ));
    }
    Ok(())
}
