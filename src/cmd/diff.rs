//! `relsign diff`: what an upgrade from OLD to NEW changes (`--fail-on`: exit 1 when a kind
//! changed).

use super::common::pulled_release;
use crate::cli::DiffArgs;
use crate::output::print_json;
use relsign::error::{Error, Result};
use relsign::report::Reporter;

pub fn run(a: DiffArgs, json: bool, r: &dyn Reporter) -> Result<()> {
    for k in &a.fail_on {
        if !relsign::diff::KINDS.contains(&k.as_str()) {
            bail!(
                "--fail-on: {k:?} is not one of {}",
                relsign::diff::KINDS.join(", ")
            );
        }
    }
    let (_a, old) = pulled_release(&a.old, r)?;
    let (_b, new) = pulled_release(&a.new, r)?;
    let d = relsign::diff::diff(&old, &new)?;
    let failed: Vec<String> = a
        .fail_on
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
        return Err(Error::verification(
            format!(
                "the upgrade changes what --fail-on forbids: {}",
                failed.join(", ")
            ),
            serde_json::json!({"check": "diff", "failed": failed}),
        ));
    }
    Ok(())
}
