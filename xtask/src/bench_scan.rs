//! `cargo xtask bench` (and `cargo xtask bench scan`): `relsign scan` of the docassemble
//! recipe's locks (its Python runtime pins and its image's Debian packages) against a
//! generated OSV database of at least 20,000 records, written from the OSV schema: PyPI and
//! Debian:13 records about the locked packages (ranges with `introduced`/`fixed`, ranges with
//! `last_affected`, explicit `versions`, withdrawn records) among records about other names.
//! Times are measured, never asserted.

use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::Path;
use std::process::Command;

/// (name, version) of every `[[packages]]` (pylock) or `[[package]]` (Debian lock) entry.
fn pins(path: &Path, table: &str) -> Result<Vec<(String, String)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let t: toml::Table = text
        .parse()
        .with_context(|| format!("parsing {}", path.display()))?;
    Ok(t.get(table)
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some((
                p.get("name")?.as_str()?.to_string(),
                p.get("version")?.as_str()?.to_string(),
            ))
        })
        .collect())
}

/// One generated record: kind `i % 5` picks the shape.
fn record(i: usize, eco: &str, name: &str, version: &str) -> serde_json::Value {
    let affected = match i % 5 {
        0 => {
            serde_json::json!({"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": format!("{version}.1")}]}]})
        }
        1 => {
            serde_json::json!({"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "0.0.1"}, {"introduced": "0.1"}, {"last_affected": version}]}]})
        }
        2 => serde_json::json!({"versions": ["0.1", "0.2", version, "99.0"]}),
        3 => {
            serde_json::json!({"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "0.0.1"}]}]})
        }
        _ => {
            serde_json::json!({"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"limit": "0.0.2"}]}]})
        }
    };
    let mut a = affected;
    a["package"] = serde_json::json!({"ecosystem": eco, "name": name});
    let severity = ["LOW", "MODERATE", "HIGH", "CRITICAL"][i % 4];
    let mut r = serde_json::json!({
        "schema_version": "1.6.0",
        "id": format!("BENCH-{i:06}"),
        "modified": "2026-11-20T00:00:00Z",
        "published": "2026-11-01T00:00:00Z",
        "summary": format!("generated record {i} about {name}"),
        "details": "Generated for `cargo xtask bench`; not a real advisory.",
        "affected": [a],
        "database_specific": {"severity": severity},
    });
    if i % 97 == 0 {
        r["withdrawn"] = "2026-11-21T00:00:00Z".into();
    }
    r
}

/// Write `n` records to a zip, one JSON file per record: one in three about a locked package,
/// the rest about other names.
fn write_db(
    path: &Path,
    n: usize,
    py: &[(String, String)],
    deb: &[(String, String)],
) -> Result<()> {
    let mut z = zip::ZipWriter::new(std::fs::File::create(path)?);
    let opts = zip::write::SimpleFileOptions::default();
    for i in 0..n {
        let (eco, name, version) = match i % 6 {
            0 => (
                "PyPI",
                py[i / 6 % py.len()].0.clone(),
                py[i / 6 % py.len()].1.clone(),
            ),
            1 => (
                "Debian:13",
                deb[i / 6 % deb.len()].0.clone(),
                deb[i / 6 % deb.len()].1.clone(),
            ),
            2 | 3 => ("PyPI", format!("other-project-{i}"), "1.0".to_string()),
            _ => (
                "Debian:13",
                format!("other-source-{i}"),
                "1.0-1".to_string(),
            ),
        };
        let r = record(i, eco, &name, &version);
        z.start_file(format!("BENCH-{i:06}.json"), opts)?;
        z.write_all(&serde_json::to_vec(&r)?)?;
    }
    z.finish()?;
    Ok(())
}

/// Best of three runs after a warm-up, in seconds; the last run's stdout.
fn best_of_3(bin: &Path, args: &[&str]) -> Result<(f64, String)> {
    let mut best = f64::MAX;
    let mut out = String::new();
    for k in 0..4 {
        let t = std::time::Instant::now();
        let o = Command::new(bin).args(args).output()?;
        let dt = t.elapsed().as_secs_f64();
        if !o.status.success() {
            bail!(
                "relsign {args:?} failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        if k > 0 {
            best = best.min(dt);
        }
        out = String::from_utf8_lossy(&o.stdout).into_owned();
    }
    Ok((best, out))
}

/// The scan benchmark's lines.
pub fn bench_scan(root: &Path, bin: &Path, work: &Path) -> Result<Vec<String>> {
    std::fs::create_dir_all(work)?;
    let recipe = root.join("recipes/docassemble.toml");
    let py = pins(&root.join("recipes/pylock.docassemble.toml"), "packages")?;
    let deb = pins(
        &root.join("recipes/docassemble.image.debian.lock.toml"),
        "package",
    )?;
    let mut lines = vec![format!(
        "scan: {} (the Python lock's {} entries, runtime group scanned; its image's {} Debian packages, by the source package and version its lock records), best of 3 (warm page cache)",
        recipe.display(),
        py.len(),
        deb.len()
    )];
    for n in [20_000usize, 40_000] {
        let db = work.join(format!("osv-{n}.zip"));
        write_db(&db, n, &py, &deb)?;
        let size = std::fs::metadata(&db)?.len();
        let table = [
            "--quiet",
            "scan",
            recipe.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
            "--fail-on",
            "none",
        ];
        let mut json = table.to_vec();
        json.insert(1, "--json");
        let (t, out) = best_of_3(bin, &table)?;
        let findings = out.lines().count().saturating_sub(2);
        let (tj, _) = best_of_3(bin, &json)?;
        lines.push(format!(
            "  {n} records ({:.1} MiB zip): table {t:.3} s, --json {tj:.3} s, {findings} finding(s); {:.0}% of the 2 s goal",
            size as f64 / (1 << 20) as f64,
            100.0 * t / 2.0
        ));
    }
    Ok(lines)
}
