//! `relsign rebuild`: rebuild a release from its provenance and inputs and check every digest.

use super::common::store;
use crate::args::Global;
use crate::cli::RebuildArgs;
use crate::output::{print_checks, print_json};
use relsign::error::{Error, Result};
use relsign::rebuild::RebuildReport;
use relsign::report::Reporter;
use relsign::store::Store;
use std::path::{Path, PathBuf};

pub fn run(a: RebuildArgs, global: &Global, r: &dyn Reporter) -> Result<()> {
    let json = global.json;
    let store = store(&global.store)?;
    let tmp = tempfile::tempdir()?;
    let out = a.out.unwrap_or_else(|| tmp.path().join("rebuilt"));
    r.info("rebuild compares digests with the provenance's claims; it does not check signatures (relsign verify does)");
    let report = rebuild_target(&a.release, a.recipe.as_deref(), &store, &out, r)?;
    if json {
        print_json(serde_json::json!({"reproducible": report.reproducible(), "report": report}));
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
        return Ok(());
    }
    Err(Error::verification(
        not_reproduced(&report),
        serde_json::json!({}),
    ))
}

/// Why the rebuild is refused: the inputs that differ, or the artifacts.
fn not_reproduced(report: &RebuildReport) -> String {
    let bad: Vec<&str> = report
        .artifacts
        .iter()
        .filter(|a| !a.matches)
        .map(|a| a.file.as_str())
        .collect();
    if report.artifacts.is_empty() {
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
    }
}

/// `relsign rebuild TARGET`: a release directory, a provenance file (DSSE envelope), or a
/// registry reference (`docker://…`, pulled with its referrers into a temporary release dir).
fn rebuild_target(
    target: &Path,
    recipe: Option<&Path>,
    store: &Store,
    out: &Path,
    r: &dyn Reporter,
) -> Result<RebuildReport> {
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
        (None, None) => bail!(
            "{}: a provenance outside a release directory: give --recipe (the recipe in a checkout of the source; its digest must be sha256:{})",
            target.display(),
            exp.recipe.1
        ),
    };
    Ok(rebuild_expected(&exp, &recipe_path, store, out, r)?)
}

/// Pull a release from a registry reference into `dir` (see `relsign::publish::pull`).
fn pull_reference(reference: &str, dir: &Path, r: &dyn Reporter) -> Result<PathBuf> {
    Ok(relsign::publish::pull::pull_release(reference, dir, r)?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| dir.to_path_buf()))
}
