//! The build benchmark: the demo built cold (`--no-cache`: every step runs) against the same
//! build again with nothing changed (every step from the action cache), as a ratio.

use anyhow::{bail, Result};
use std::path::Path;
use std::process::Command;

/// `relsign --quiet build RECIPE --out OUT [extra]`.
fn build(bin: &Path, recipe: &Path, out: &Path, extra: &[&str]) -> Result<()> {
    let o = Command::new(bin)
        .arg("--quiet")
        .arg("build")
        .arg(recipe)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()?;
    if !o.status.success() {
        bail!(
            "relsign build {} failed: {}",
            recipe.display(),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    Ok(())
}

/// Cold and no-op builds of `recipe` (its inputs already in the store), best of three each;
/// returns the lines to print and the ratio.
pub fn bench_build(bin: &Path, recipe: &Path, work: &Path) -> Result<(Vec<String>, f64)> {
    std::fs::create_dir_all(work)?;
    let cold =
        super::best_of_three(&mut || build(bin, recipe, &work.join("cold"), &["--no-cache"]))?;
    let noop = super::best_of_three(&mut || build(bin, recipe, &work.join("noop"), &[]))?;
    let ratio = noop / cold;
    Ok((
        vec![
            format!("build: the demo, best of 3; ratio = no-op / cold (goal <= 0.05)"),
            format!("  cold (--no-cache, every step runs)  : {cold:.3} s"),
            format!("  no-op (every step from the cache)   : {noop:.3} s  ratio {ratio:.3}"),
        ],
        ratio,
    ))
}
