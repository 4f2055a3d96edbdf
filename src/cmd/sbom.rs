//! `relsign sbom`: CycloneDX and SPDX SBOMs for every artifact of a release.

use super::common::store;
use crate::args::Global;
use crate::cli::SbomArgs;
use crate::output::print_json;
use relsign::error::Result;
use relsign::report::Reporter;

pub fn run(a: SbomArgs, global: &Global, r: &dyn Reporter) -> Result<()> {
    let store = store(&global.store)?;
    let files = relsign::sbom::generate(&a.release, &store, r)?;
    if global.json {
        print_json(serde_json::to_value(&files)?);
    } else {
        for f in &files {
            outln!(
                "{}: {} components\n  {}\n  {}",
                f.artifact,
                f.components,
                f.cyclonedx.display(),
                f.spdx.display()
            );
        }
    }
    Ok(())
}
