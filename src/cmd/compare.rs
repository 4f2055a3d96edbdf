//! `relsign compare`: the first difference between two build outputs (`--all`: every
//! differing entry of two zips). Exit 1 when they differ.

use crate::cli::CompareArgs;
use crate::output::print_json;
use relsign::error::{Context, Error, Result};
use relsign::report::Reporter;
use std::path::Path;

pub fn run(a: CompareArgs, json: bool, r: &dyn Reporter) -> Result<()> {
    let (left, right) = (&a.left, &a.right);
    if a.all {
        return all(left, right, json);
    }
    let d = relsign::compare::compare_paths(left, right)?;
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
    if a.diffoscope && d.is_some() {
        match std::process::Command::new("diffoscope").arg(left).arg(right).status() {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                r.warn("diffoscope is not installed (apt-get install diffoscope); the summary above is relsign's own")
            }
            Err(e) => return Err(e).context("running diffoscope"),
        }
    }
    match d {
        None => Ok(()),
        Some(d) => Err(Error::verification(
            format!(
                "{} and {} differ at {} ({})",
                left.display(),
                right.display(),
                d.location,
                d.what
            ),
            serde_json::json!({}),
        )),
    }
}

/// `--all`: every entry of two zips that differs, and in what, with counts.
fn all(left: &Path, right: &Path, json: bool) -> Result<()> {
    let diffs = relsign::compare::all_zip_differences(left, right)?;
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
    Err(Error::verification(
        format!(
            "{} and {} differ in {} entries",
            left.display(),
            right.display(),
            diffs.len()
        ),
        serde_json::json!({}),
    ))
}
