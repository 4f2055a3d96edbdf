//! `relsign test`: the release gate (the recipe's behave suite) against a built release.

use super::common::{load, store};
use crate::args::Global;
use crate::cli::TestArgs;
use crate::output::{print_gate, print_json};
use relsign::error::{Context, Error, Result};
use relsign::report::Reporter;

pub fn run(a: TestArgs, global: &Global, r: &dyn Reporter) -> Result<()> {
    let mut recipe = load(&a.recipe)?;
    recipe.run_all_scenarios(a.all_scenarios);
    recipe.keep_server_logs(a.server_logs.clone());
    let store = store(&global.store)?;
    let path = a.release.join("release.json");
    let manifest: relsign::model::ReleaseManifest = serde_json::from_slice(
        &std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
    )
    .with_context(|| format!("parsing {}", path.display()))?;
    let report = relsign::gate::run(&recipe, &a.release, &manifest, &store, r)?;
    if global.json {
        print_json(serde_json::to_value(&report)?);
    } else {
        print_gate(&report);
    }
    if !report.ok() {
        let msg = format!("the release gate failed:\n{}", report.failure_summary());
        return Err(Error::verification(msg, serde_json::json!({})));
    }
    Ok(())
}
