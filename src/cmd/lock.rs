//! `relsign lock`: pin every input of a recipe (`--check`: are the locks stale? `--refresh`:
//! move vanished .debs to the smallest update; `--record-sources`: add the source packages and
//! versions to older Debian locks).

use super::common::{debian_locks, load, store};
use crate::args::{Global, Mirrors};
use crate::cli::LockArgs;
use crate::output::print_json;
use relsign::error::{Error, Result};
use relsign::lock;
use relsign::recipe::Recipe;
use relsign::report::Reporter;

pub fn run(a: LockArgs, global: &Global, r: &dyn Reporter) -> Result<()> {
    let recipe = load(&a.recipe)?;
    if a.refresh {
        return refresh(&recipe, global, &a.mirrors, a.allow_expired_release, r);
    }
    if a.record_sources {
        return record_sources(&recipe, global, r);
    }
    if a.check {
        return check(&recipe, global.json);
    }
    let http = relsign::fetch::Http::new()?;
    let store = store(&global.store)?;
    let deb_mirrors = lock::debian::mirrors(&recipe.file.toolchain, &a.mirrors.debian_mirrors);
    let mut deb_counts = Vec::new();
    if !a.python_only {
        r.step("locking the Debian toolchain");
    }
    for (mut toolchain, path) in debian_locks(&recipe).into_iter().filter(|_| !a.python_only) {
        toolchain.allow_expired_release |= a.allow_expired_release;
        let deb = lock::debian::lock(&toolchain, &deb_mirrors, &http, r)?;
        deb.write(&path)?;
        deb_counts.push((path, deb.packages.len(), deb.snapshot));
    }
    r.step("locking the Python pins");
    let index = relsign::lock::index::index_urls(&recipe, &a.mirrors.index_urls)?;
    let out = lock::python::lock(&recipe, &index, &http, &store, r, a.allow_incomplete)?;
    out.lock.write(&recipe.python_lock_path())?;
    if global.json {
        print_json(serde_json::json!({
            "ok": true,
            "debian_locks": deb_counts.iter().map(|(p, n, t)| serde_json::json!({"path": p, "packages": n, "snapshot": t})).collect::<Vec<_>>(),
            "python_lock": recipe.python_lock_path(), "python_packages": out.lock.packages.len(),
            "closure": {"checked": out.closure.checked, "missing": out.closure.missing_names()},
        }));
    } else {
        for (path, n, t) in &deb_counts {
            match t {
                Some(t) => outln!("wrote {} ({n} .debs, snapshot {t})", path.display()),
                None => outln!("wrote {} ({n} .debs)", path.display()),
            }
        }
        outln!(
            "wrote {} ({} packages)",
            recipe.python_lock_path().display(),
            out.lock.packages.len()
        );
        outln!("closure check: {}", out.closure.summary());
    }
    Ok(())
}

/// `relsign lock --check`: the locks still match the recipe (offline), else exit 1.
fn check(recipe: &Recipe, json: bool) -> Result<()> {
    // A lock file that is not there is a wrong path (or a recipe never locked), not a stale
    // lock: say which key names it.
    let mut named = vec![
        ("toolchain.lock", recipe.debian_lock_path()),
        ("python.lock", recipe.python_lock_path()),
    ];
    named.extend(recipe.image_toolchain().map(|(_, p)| ("image.lock", p)));
    for (key, p) in &named {
        if !p.exists() {
            bail!(
                "{}: {key}: {} does not exist (a wrong path, or run `relsign lock {}` first)",
                recipe.path.display(),
                p.display(),
                recipe.path.display()
            );
        }
    }
    let mut reasons = Vec::new();
    for (toolchain, deb_path) in debian_locks(recipe) {
        match lock::debian::DebianLock::read(&deb_path) {
            Ok(l) => reasons.extend(
                lock::debian::check(&l, &toolchain)
                    .into_iter()
                    .map(|s| format!("{}: {s}", deb_path.display())),
            ),
            Err(e) => reasons.push(e.to_string()),
        }
    }
    let py_path = recipe.python_lock_path();
    match lock::python::PyLock::read(&py_path) {
        Ok(l) => reasons.extend(
            lock::python::check(&l, recipe)?
                .into_iter()
                .map(|s| format!("{}: {s}", py_path.display())),
        ),
        Err(e) => reasons.push(e.to_string()),
    }
    if !reasons.is_empty() {
        let msg = format!(
            "the locks no longer match {}:\n  {}",
            recipe.path.display(),
            reasons.join("\n  ")
        );
        return Err(Error::verification(
            msg,
            serde_json::json!({ "stale": reasons }),
        ));
    }
    if json {
        print_json(serde_json::json!({"ok": true, "stale": []}));
    } else {
        outln!("locks are up to date with {}", recipe.path.display());
    }
    Ok(())
}

/// `relsign lock --refresh`: move the Debian locks' vanished .debs to the smallest update and
/// print the change as a diff.
fn refresh(
    recipe: &Recipe,
    global: &Global,
    mirrors: &Mirrors,
    allow_expired_release: bool,
    r: &dyn Reporter,
) -> Result<()> {
    let http = relsign::fetch::Http::new()?;
    let store = store(&global.store)?;
    let deb_mirrors = lock::debian::mirrors(&recipe.file.toolchain, &mirrors.debian_mirrors);
    let mut done = Vec::new();
    for (key, (mut toolchain, path)) in ["toolchain.lock", "image.lock"]
        .into_iter()
        .zip(debian_locks(recipe))
    {
        if !path.exists() {
            bail!(
                "{}: {key}: {} does not exist (run `relsign lock {}` first)",
                recipe.path.display(),
                path.display(),
                recipe.path.display()
            );
        }
        toolchain.allow_expired_release |= allow_expired_release;
        r.step(&format!(
            "checking that the mirrors still serve {}",
            path.display()
        ));
        let old = lock::debian::DebianLock::read(&path)?;
        let new = lock::debian::refresh(&path, &old, &toolchain, &deb_mirrors, &http, &store, r)?;
        if !new.moved.is_empty() {
            new.lock.write(&path)?;
        }
        done.push((path, new));
    }
    if global.json {
        print_json(serde_json::json!({
            "ok": true,
            "debian_locks": done.iter().map(|(p, n)| serde_json::json!({
                "path": p,
                "changed": !n.moved.is_empty(),
                "moved": n.moved,
                "snapshot": n.lock.snapshot,
            })).collect::<Vec<_>>(),
        }));
        return Ok(());
    }
    for (path, n) in &done {
        if n.moved.is_empty() {
            outln!(
                "{}: every locked .deb is still served; unchanged",
                path.display()
            );
            continue;
        }
        outln!("{}:", path.display());
        for m in &n.moved {
            outln!("- {} {}", m.name, m.from);
            outln!("+ {} {}", m.name, m.to);
        }
    }
    Ok(())
}

/// `relsign lock --record-sources`: the Debian locks' source packages and versions, from the
/// .debs in the store; a lock that already records them is left as it is.
fn record_sources(recipe: &Recipe, global: &Global, r: &dyn Reporter) -> Result<()> {
    let store = store(&global.store)?;
    let mut done = Vec::new();
    for (_, path) in debian_locks(recipe) {
        let old = lock::debian::DebianLock::read(&path)?;
        let changed = !(old.sources && old.source_versions);
        if changed {
            r.step(&format!(
                "reading the sources of {} .debs of {}",
                old.packages.len(),
                path.display()
            ));
            let new = lock::debian::record_sources(&old, &store)?;
            new.write(&path)?;
        }
        done.push((path, changed));
    }
    if global.json {
        print_json(serde_json::json!({
            "ok": true,
            "debian_locks": done.iter().map(|(p, c)| serde_json::json!({"path": p, "changed": c}))
                .collect::<Vec<_>>(),
        }));
        return Ok(());
    }
    for (path, changed) in &done {
        let what = if *changed {
            "source packages and versions recorded; pins unchanged"
        } else {
            "already records its sources; unchanged"
        };
        outln!("{}: {what}", path.display());
    }
    Ok(())
}
