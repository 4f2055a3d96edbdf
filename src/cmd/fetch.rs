//! `relsign fetch`: download every locked file into the store (and `--export` a vendor mirror).

use super::common::{debian_locks, load, store};
use crate::args::Global;
use crate::cli::FetchArgs;
use crate::output::print_json;
use relsign::error::Result;
use relsign::lock;
use relsign::report::Reporter;

pub fn run(a: FetchArgs, global: &Global, r: &dyn Reporter) -> Result<()> {
    let recipe = load(&a.recipe)?;
    let http = relsign::fetch::Http::new()?;
    let store = store(&global.store)?;
    let deb_locks = debian_locks(&recipe)
        .into_iter()
        .map(|(_, path)| lock::debian::DebianLock::read(&path))
        .collect::<Result<Vec<_>, _>>()?;
    // One combined set of .debs (the toolchain's and the image's), for --export.
    let mut deb = deb_locks[0].clone();
    for l in &deb_locks[1..] {
        for p in &l.packages {
            if !deb.packages.contains(p) {
                deb.packages.push(p.clone());
            }
        }
    }
    let py = lock::python::PyLock::read(&recipe.python_lock_path())?;
    r.step(&format!(
        "fetching {} .debs into {}",
        deb.packages.len(),
        store.root().display()
    ));
    let deb_mirrors = lock::debian::mirrors(&recipe.file.toolchain, &a.mirrors.debian_mirrors);
    let snapshots =
        relsign::snapshot::patterns(&a.debian_snapshots, &recipe.file.toolchain.snapshot_urls)
            .map_err(anyhow::Error::msg)?;
    // Each lock on its own: each has its own snapshot timestamp.
    for l in &deb_locks {
        let s = lock::debian::fetch(l, &deb_mirrors, &snapshots, &http, &store, r)?;
        r.info(&format!(
            "{} .debs: {} downloaded ({:.1} MB, {} from a snapshot), {} already in the store",
            s.packages,
            s.downloaded,
            s.downloaded_bytes as f64 / 1e6,
            s.from_snapshot,
            s.cached
        ));
    }
    relsign::vulndb::fetch(&recipe, &http, &store, r)?;
    r.step("fetching Python files");
    let index = relsign::lock::index::index_urls(&recipe, &a.mirrors.index_urls)?;
    lock::python::fetch(&py, &index, &http, &store, r)?;
    for p in &recipe.packages {
        match &p.source {
            relsign::recipe::Source::Sdist { file, sha256 } => {
                lock::python::fetch_file(file, sha256, &index, &http, &store, r)?;
            }
            relsign::recipe::Source::Git { url, commit, .. } => {
                relsign::git::fetch_git(&store, url, commit)?;
            }
            relsign::recipe::Source::Dir(_) => {}
        }
    }
    if !recipe.file.archives.is_empty() {
        r.step(&format!(
            "fetching {} upstream archive(s)",
            recipe.file.archives.len()
        ));
        let extra = relsign::upstream::extra_locations(&a.archive_mirrors);
        relsign::upstream::fetch(&recipe, &extra, &http, &store, r)?;
    }
    if let Some(dir) = &a.export {
        r.step(&format!("exporting a vendor mirror to {}", dir.display()));
        lock::debian::export(&deb, &store, &dir.join("debian"))?;
        lock::python::export(&py, &store, dir)?;
        relsign::upstream::export(&recipe, &store, dir)?;
    }
    if global.json {
        print_json(serde_json::json!({"ok": true, "store": store.root(), "export": a.export}));
    } else {
        outln!("all locked inputs are in {}", store.root().display());
        if let Some(dir) = a.export {
            outln!(
                "vendor mirror: --index-url file://{0}/simple --debian-mirror file://{0}/debian",
                std::fs::canonicalize(&dir).unwrap_or(dir).display()
            );
        }
    }
    Ok(())
}
