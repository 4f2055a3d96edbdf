//! `relsign vulndb`: take the recipe's vulnerability databases, check and pin them.

use super::common::{load, store};
use crate::args::Global;
use crate::cli::VulndbArgs;
use crate::output::print_json;
use relsign::error::Result;
use relsign::report::Reporter;

pub fn run(a: VulndbArgs, global: &Global, r: &dyn Reporter) -> Result<()> {
    let recipe = load(&a.recipe)?;
    let from = relsign::vulndb::parse_from(&a.from).map_err(anyhow::Error::msg)?;
    let store = store(&global.store)?;
    let http = relsign::fetch::Http::new()?;
    let now = relsign::time::now();
    let dbs = relsign::vulndb::record(&recipe, &from, &http, &store, now, r)?;
    if global.json {
        print_json(serde_json::json!({"ok": true, "databases": dbs}));
    } else {
        for d in &dbs {
            outln!(
                "{}: {} record(s), {} bytes, sha256:{}, taken {}",
                d.name,
                d.records,
                d.size,
                d.sha256,
                d.taken
            );
        }
    }
    Ok(())
}
