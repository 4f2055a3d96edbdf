//! What a gate run found: behave's JUnit files read into suites and cases, the gating
//! scenarios' outcomes, and the report. Shared by the gate's places (the venv, the image,
//! the running services).

use crate::build::error::BuildError;
use crate::digest::Sha256Hex;
use crate::fsutil;
use crate::sandbox;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One feature's counts, from a JUnit `<testsuite>`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SuiteSummary {
    pub name: String,
    pub tests: u64,
    pub failures: u64,
    pub errors: u64,
    pub skipped: u64,
}

impl SuiteSummary {
    pub fn passed(&self) -> u64 {
        self.tests
            .saturating_sub(self.failures + self.errors + self.skipped)
    }
}

/// One scenario's outcome, from a JUnit `<testcase>`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CaseResult {
    /// `<feature> :: <scenario>`.
    pub name: String,
    /// passed, failed or skipped.
    pub status: String,
}

/// The `<testcase>` elements of a JUnit document with their outcome: behave's `status`
/// attribute when present, else failed when a `<failure>` or `<error>` child is present.
pub fn parse_cases(xml: &str) -> Vec<CaseResult> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find("<testcase") {
        let after = &rest[i..];
        let end = after.find('>').unwrap_or(after.len());
        let tag = &after[..end];
        let body_end = if tag.ends_with('/') {
            end
        } else {
            after.find("</testcase>").unwrap_or(after.len()).max(end)
        };
        let body = &after[end..body_end];
        let status = match attr(tag, "status") {
            Some(s) if s == "passed" || s == "failed" || s == "skipped" => s.to_string(),
            Some("untested") => "skipped".to_string(),
            _ if body.contains("<failure") || body.contains("<error") => "failed".to_string(),
            _ if body.contains("<skipped") => "skipped".to_string(),
            _ => "passed".to_string(),
        };
        let classname = attr(tag, "classname").unwrap_or("");
        let name = attr(tag, "name").unwrap_or("");
        out.push(CaseResult {
            name: format!("{classname} :: {name}"),
            status,
        });
        rest = &after[end..];
    }
    out
}

/// The gate's result in one place (venv or image).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct GateRun {
    /// "venv" or "image".
    pub place: String,
    pub suites: Vec<SuiteSummary>,
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
    /// JUnit files, relative to the release directory, with their digests.
    pub junit: Vec<(String, Sha256Hex)>,
    /// Every scenario with its outcome.
    pub cases: Vec<CaseResult>,
    /// behave's exit code.
    pub exit_code: Option<i32>,
    /// The tail of behave's output when it failed.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub log: String,
    /// With `[test.server]`: each gating scenario's outcome ("not run" when no scenario of
    /// that feature has that name). They alone decide.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub gating: Vec<GatingOutcome>,
    /// With `[test.server]`: what the suite ran with besides the release, by digest: the
    /// suite (the archive's features directory) and every stand-in mounted for the run.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub inputs: Vec<(String, Sha256Hex)>,
}

/// One gating scenario's outcome.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct GatingOutcome {
    pub feature: String,
    pub scenario: String,
    /// passed, failed, skipped or "not run".
    pub status: String,
}

impl GateRun {
    pub fn ok(&self) -> bool {
        if !self.gating.is_empty() {
            return self.gating.iter().all(|g| g.status == "passed");
        }
        self.failed == 0 && self.exit_code == Some(0) && self.passed > 0
    }
}

/// The whole gate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct GateReport {
    pub runs: Vec<GateRun>,
    /// Digest of the features directory (a sorted listing of its files' digests).
    pub features_sha256: Sha256Hex,
}

impl GateReport {
    pub fn ok(&self) -> bool {
        !self.runs.is_empty() && self.runs.iter().all(GateRun::ok)
    }

    /// What failed, per place, with the tail of behave's output (which names the scenario).
    pub fn failure_summary(&self) -> String {
        self.runs
            .iter()
            .filter(|g| !g.ok())
            .map(|g| {
                let gating: String = g
                    .gating
                    .iter()
                    .filter(|o| o.status != "passed")
                    .map(|o| {
                        format!(
                            "gating scenario {}: {} :: {}\n",
                            o.status, o.feature, o.scenario
                        )
                    })
                    .collect();
                format!(
                    "behave in {}: {} failed\n{gating}{}",
                    g.place, g.failed, g.log
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Read `attr="value"` from an XML start tag.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let end = tag[start..].find('"')? + start;
    Some(&tag[start..end])
}

/// The `<testsuite>` start tags of a JUnit XML document.
pub fn parse_junit(xml: &str) -> Vec<SuiteSummary> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find("<testsuite") {
        let after = &rest[i..];
        let end = after.find('>').unwrap_or(after.len());
        let tag = &after[..end];
        if tag.starts_with("<testsuite ") || tag.starts_with("<testsuite\n") {
            let n = |k: &str| {
                attr(tag, k)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            out.push(SuiteSummary {
                name: attr(tag, "name").unwrap_or("").to_string(),
                tests: n("tests"),
                failures: n("failures"),
                errors: n("errors"),
                skipped: n("skipped"),
            });
        }
        rest = &after[end.min(after.len())..];
        if rest.len() == after.len() {
            break;
        }
    }
    out
}

pub(super) fn summarize(
    place: &str,
    junit_dir: &Path,
    release: &Path,
    out: &sandbox::RawOutput,
) -> Result<GateRun, BuildError> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(junit_dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().map(|x| x == "xml").unwrap_or(false))
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    let mut suites = Vec::new();
    let mut junit = Vec::new();
    let mut cases = Vec::new();
    for f in &files {
        let text = fsutil::read_to_string(f)?;
        suites.extend(parse_junit(&text));
        cases.extend(parse_cases(&text));
        let rel = f.strip_prefix(release).unwrap_or(f).display().to_string();
        junit.push((rel, Sha256Hex::of(text.as_bytes())));
    }
    let failed = suites.iter().map(|s| s.failures + s.errors).sum();
    let skipped = suites.iter().map(|s| s.skipped).sum();
    let passed = suites.iter().map(SuiteSummary::passed).sum();
    let mut log = String::new();
    if out.code != Some(0) {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        log = tail.into_iter().rev().collect::<Vec<_>>().join("\n");
    }
    Ok(GateRun {
        place: place.into(),
        suites,
        passed,
        failed,
        skipped,
        junit,
        cases,
        exit_code: out.code,
        log,
        gating: Vec::new(),
        inputs: Vec::new(),
    })
}
