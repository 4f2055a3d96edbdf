//! The vulnerability gate of `relsign release` and its signed attestation.
//!
//! The release's packages (its CycloneDX SBOMs) are scanned against the recipe's locked OSV
//! databases ([`crate::vulndb`]) and judged by the recipe's policy; the report goes to
//! `DIR/scan/vulnerabilities.json`. A failing report signs nothing; a passing one is signed as
//! an in-toto vulnerability attestation (`https://in-toto.io/attestation/vulns/v0.1`) about
//! every artifact, which names the databases by digest and the report by digest.

use crate::digest::Sha256Hex;
use crate::fsutil::{self, FsError};
use crate::model::ReleaseManifest;
use crate::recipe::vulns::{Allow, VulnSpec};
use crate::scan::Judged;
use crate::vulndb::{Loaded, LockedDb, VulnDbError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

pub const VULNS_V01: &str = "https://in-toto.io/attestation/vulns/v0.1";
/// The report, relative to the release directory.
pub const REPORT_FILE: &str = "scan/vulnerabilities.json";
/// The attestation's name: `attestations/vulns.dsse.json`.
pub const STATEMENT_NAME: &str = "vulns";
/// relsign's scanner, as the predicate's `scanner.uri`.
pub const SCANNER_URI: &str = "https://relsign.dev/scanner/scan";

#[derive(Debug, thiserror::Error)]
pub enum VulnsError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    Packages(#[from] crate::packages::PackagesError),
    #[error(transparent)]
    ReleaseDir(#[from] crate::reldir::ReadError),
    #[error(transparent)]
    Recipe(#[from] Box<crate::recipe::RecipeError>),
    #[error("{}: {reason}", .file.display())]
    Format {
        file: std::path::PathBuf,
        reason: String,
    },
}

/// The policy the report was judged by (the recipe's).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Policy {
    pub fail_on: String,
    pub severity: Option<String>,
    pub max_age_days: u32,
    pub allow: Vec<Allow>,
}

/// `scan/vulnerabilities.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// `PASSED` or `FAILED`.
    pub result: String,
    pub policy: Policy,
    pub databases: Vec<LockedDb>,
    pub records: u64,
    pub packages: u64,
    pub started: String,
    pub finished: String,
    pub findings: Vec<Judged>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.result == "PASSED"
    }

    /// What to do about each failing finding: the package, the version to move to (or that
    /// none is known), and the advisory.
    pub fn remediation(&self) -> String {
        let mut lines = Vec::new();
        for j in self.findings.iter().filter(|j| j.verdict == "fail") {
            let e = &j.finding;
            let what = match &e.fixed {
                Some(v) => {
                    let of_source = if e.source_version.is_some() { "source version " } else { "" };
                    format!("move {} ({}) from {} to {of_source}{v} or later", e.package, e.ecosystem, e.installed_shown())
                }
                None => format!("{} ({}) {}: no fixed version is known: remove it or allow-list it with a reason and an expiry", e.package, e.ecosystem, e.installed_shown()),
            };
            let note = j
                .note
                .as_deref()
                .map(|n| format!("; {n}"))
                .unwrap_or_default();
            lines.push(format!("  {what} [{}{note}]", e.id));
        }
        lines.join("\n")
    }

    /// Read a report (strict JSON).
    pub fn read(path: &Path) -> Result<Report, VulnsError> {
        let bytes =
            crate::json::read_limited(path, crate::json::limit::SBOM).map_err(|e| match e {
                crate::json::ReadError::Fs(e) => VulnsError::Fs(e),
                e => VulnsError::Format {
                    file: path.to_path_buf(),
                    reason: e.to_string(),
                },
            })?;
        crate::json::from_slice(&bytes, crate::json::limit::SBOM).map_err(|e| VulnsError::Format {
            file: path.to_path_buf(),
            reason: e.to_string(),
        })
    }
}

/// Scan the release in `dir` against the loaded databases, judge by `spec` on `today`
/// (`YYYY-MM-DD`), and write the report. `started` is when the scan began (unix seconds).
pub fn run(
    dir: &Path,
    spec: &VulnSpec,
    db: &crate::vulndb::Loaded,
    today: &str,
    started: i64,
) -> Result<Report, VulnsError> {
    let pkgs = crate::packages::read(dir)?;
    let report = judge(&pkgs, spec, db, today, started);
    let mut bytes = crate::model::canonical_json(&report);
    bytes.push(b'\n');
    fsutil::write_atomic(&dir.join(REPORT_FILE), &bytes)?;
    Ok(report)
}

/// The gate's verdict on `pkgs`: scanned against the loaded databases and judged by `spec`
/// on `today` (`YYYY-MM-DD`); `started` is when the scan began (unix seconds). The release's
/// gate and `relsign scan` without `--db` both judge here.
pub fn judge(
    pkgs: &[crate::packages::Package],
    spec: &VulnSpec,
    db: &crate::vulndb::Loaded,
    today: &str,
    started: i64,
) -> Report {
    let findings = crate::scan::scan(pkgs, &db.records);
    let judged = crate::scan::judge(
        findings,
        &spec.fail_on,
        spec.severity.as_deref(),
        &spec.allow,
        today,
    );
    let failing = judged.iter().any(|j| j.verdict == "fail");
    Report {
        result: if failing { "FAILED" } else { "PASSED" }.into(),
        policy: Policy {
            fail_on: spec.fail_on.clone(),
            severity: spec.severity.clone(),
            max_age_days: spec.max_age_days,
            allow: spec.allow.clone(),
        },
        databases: db.databases.clone(),
        records: db.records.len() as u64,
        packages: pkgs.len() as u64,
        started: crate::time::format(started),
        finished: crate::time::format(crate::time::now()),
        findings: judged,
    }
}

/// A release directory's recipe copy (the file release.json names under inputs/, with the
/// digest it records), loaded as a recipe: its `[vulnerabilities]` policy and paths resolve
/// under inputs/. `None` when the release carries no release.json or no inputs/.
pub fn release_recipe(dir: &Path) -> Result<Option<crate::recipe::Recipe>, VulnsError> {
    let manifest = dir.join("release.json");
    if !manifest.is_file() || !dir.join("inputs").is_dir() {
        return Ok(None);
    }
    let m = crate::reldir::read_release(dir)?;
    crate::reldir::recipe_copy_with_digest(dir, &m.recipe.path, &m.recipe.sha256, "release.json")?;
    let path = dir.join(fsutil::relative_path(&m.recipe.path).expect("checked above"));
    Ok(Some(crate::recipe::Recipe::load(&path).map_err(Box::new)?))
}

/// The databases as in-toto ResourceDescriptors (name, digest, when taken).
pub fn database_descriptors(dbs: &[LockedDb]) -> Vec<crate::intoto::Descriptor> {
    dbs.iter()
        .map(|d| crate::intoto::Descriptor {
            annotations: Some(json!({"database": d.name, "taken": d.taken, "size": d.size,
                                     "records": d.records})),
            ..crate::intoto::Descriptor::file(&d.file, &d.sha256)
        })
        .collect()
}

/// The in-toto vulnerability statement for a passing report: every artifact a subject; the
/// predicate per the vulns v0.1 predicate (scanner, its databases, one result per finding,
/// scan times), with relsign's verdicts under `relsign`: the report by digest and the
/// databases by digest.
pub fn statement(m: &ReleaseManifest, report: &Report, report_sha256: &Sha256Hex) -> Value {
    use crate::intoto::{self as t, Descriptor};
    let subject: Vec<Descriptor> = m
        .artifacts
        .iter()
        .map(|a| Descriptor::file(&a.file, &a.sha256))
        .collect();
    let result: Vec<t::Finding> = report
        .findings
        .iter()
        .map(|j| {
            let e = &j.finding;
            let note = |k: &str, v: &str| BTreeMap::from([(k.to_string(), Value::from(v))]);
            t::Finding {
                id: Value::from(e.id.as_str()),
                severity: (e.severity.iter())
                    .map(|s| t::Severity {
                        method: "osv".into(),
                        score: s.clone(),
                    })
                    .collect(),
                annotations: [
                    note("package", &e.package),
                    note("ecosystem", &e.ecosystem),
                    note("installed", &e.installed),
                ]
                .into_iter()
                .chain(
                    e.source_version
                        .as_deref()
                        .map(|v| note("sourceVersion", v)),
                )
                .chain([
                    note("fixed", e.fixed.as_deref().unwrap_or_default()),
                    note("verdict", &j.verdict),
                    note("note", j.note.as_deref().unwrap_or_default()),
                ])
                .collect(),
            }
        })
        .collect();
    let names: Vec<&str> = report.databases.iter().map(|d| d.name.as_str()).collect();
    let versions: Vec<String> = report
        .databases
        .iter()
        .map(|d| format!("{}@sha256:{}", d.name, d.sha256))
        .collect();
    let oldest = report
        .databases
        .iter()
        .map(|d| d.taken.as_str())
        .min()
        .unwrap_or("");
    let policy = &report.policy;
    let predicate = t::VulnsPredicate {
        invocation: Some(t::Invocation {
            uri: "relsign release".into(),
            parameters: vec![
                format!("fail-on={}", policy.fail_on),
                format!("severity={}", policy.severity.clone().unwrap_or_default()),
                format!("max-age-days={}", policy.max_age_days),
            ],
        }),
        scanner: t::VulnScanner {
            uri: Some(SCANNER_URI.into()),
            version: Some(env!("CARGO_PKG_VERSION").into()),
            db: Some(t::ScannerDb {
                uri: format!("osv:{}", names.join("+")),
                version: versions.join(","),
                last_update: oldest.into(),
            }),
            result: Some(result),
        },
        metadata: Some(t::ScanMetadata {
            scan_started_on: report.started.clone(),
            scan_finished_on: report.finished.clone(),
        }),
        relsign: t::VulnsVerdict {
            result: Value::from(report.result.as_str()),
            report: Descriptor::file(REPORT_FILE, report_sha256),
            databases: database_descriptors(&report.databases),
            packages: Some(report.packages),
            records: Some(report.records),
        },
    };
    t::Statement::new(subject, VULNS_V01, predicate).to_value()
}

/// The databases for `relsign scan` without `--db`: the recipe's vulndb lock, as
/// [`crate::vulndb::load`] takes them for a release; for a release's recipe copy whose lock is not under
/// inputs/, the databases its gate report (`gate_report`, `scan/vulnerabilities.json`) names,
/// by the same checks. Neither: [`VulnDbError::NoDatabase`], naming the recipe and the fix.
pub fn load_for_scan(
    recipe: &crate::recipe::Recipe,
    gate_report: Option<&Path>,
    store: &crate::store::Store,
    now: i64,
) -> Result<Loaded, VulnDbError> {
    let none = |reason: String| VulnDbError::NoDatabase {
        recipe: recipe.path.clone(),
        reason,
    };
    let Some(spec) = recipe.file.vulnerabilities.as_ref() else {
        return Err(none(
            "no [vulnerabilities] section, so no locked vulnerability database (add one: README, \"Vulnerability gate\")".into(),
        ));
    };
    let path = crate::vulndb::lock_path(recipe, spec);
    if path.is_file() {
        return crate::vulndb::load(recipe, store, now);
    }
    if let Some(report) = gate_report.filter(|p| p.is_file()) {
        let r = Report::read(report).map_err(|e| VulnDbError::Report(Box::new(e)))?;
        return crate::vulndb::load_pinned(spec, report, "databases", r.databases, store, now);
    }
    Err(none(format!(
        "vulnerabilities.lock: {} is missing",
        path.display()
    )))
}
