//! `cargo xtask bench`, publishing part: `relsign publish` of the demo release against the
//! anchor tools in the same run, to the same kind of server on loopback:
//! - the image to a fresh `docker-registry`, against `skopeo copy` of the same layout to
//!   another fresh one;
//! - the sdist and wheel to a fresh pypiserver, against `twine upload` to another.
//!
//! Each measurement is the best of five runs, each against freshly started servers (so every
//! run really uploads), relsign's and the anchor's runs taking turns (so a slow moment of the
//! machine falls on both). Ratios are relsign's time over the anchor's (≤ 1 is as fast or
//! faster).

use crate::servers::{pypiserver, registry};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn quiet(cmd: &mut Command) -> Result<()> {
    let o = cmd.output().with_context(|| format!("starting {cmd:?}"))?;
    if !o.status.success() {
        bail!(
            "{cmd:?} failed: {}\n{}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        );
    }
    Ok(())
}

/// Runs of each side, taking turns.
pub const RUNS: usize = 9;

/// What is timed, given what `setup` made.
type Run<'a, S> = Box<dyn FnMut(&S) -> Result<()> + 'a>;

/// One side of a comparison: `setup` runs before each timed run and is not timed.
struct Side<'a, S> {
    setup: Box<dyn FnMut() -> Result<S> + 'a>,
    run: Run<'a, S>,
}

impl<'a, S> Side<'a, S> {
    fn new(setup: impl FnMut() -> Result<S> + 'a, run: impl FnMut(&S) -> Result<()> + 'a) -> Self {
        Side {
            setup: Box::new(setup),
            run: Box::new(run),
        }
    }

    fn once(&mut self) -> Result<f64> {
        let s = (self.setup)()?;
        let t = Instant::now();
        (self.run)(&s)?;
        Ok(t.elapsed().as_secs_f64())
    }
}

/// The best time of each side over `runs` turns: (anchor, relsign).
fn best_of_turns<A, B>(
    runs: usize,
    mut anchor: Side<'_, A>,
    mut ours: Side<'_, B>,
) -> Result<(f64, f64)> {
    let (mut a, mut b) = (f64::MAX, f64::MAX);
    for _ in 0..runs {
        a = a.min(anchor.once()?);
        b = b.min(ours.once()?);
    }
    Ok((a, b))
}

pub fn bench_publish(
    bin: &Path,
    release: &Path,
    policy: &Path,
    venv: &Path,
    work: &Path,
) -> Result<(Vec<String>, f64, f64)> {
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(release.join("release.json"))?)?;
    let files: Vec<PathBuf> = m["artifacts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|a| a["kind"] == "sdist" || a["kind"] == "wheel")
        .map(|a| release.join(a["file"].as_str().unwrap_or_default()))
        .collect();
    let image_bytes: u64 = walk_size(&release.join("image"))?;
    let recipe = super::root().join("recipes/demo.toml");
    // Every server and journal of the run gets its own number.
    let n = std::cell::Cell::new(0usize);
    let next = || {
        n.set(n.get() + 1);
        n.get()
    };

    // ---- image: relsign publish vs skopeo copy ------------------------------------------
    let (t_skopeo, t_push) = image_push(bin, release, &recipe, policy, work, RUNS)?;

    // ---- sdist + wheel: relsign publish vs twine upload ---------------------------------
    let store = server_store(work)?;
    let (t_twine, t_upload) = best_of_turns(
        RUNS,
        Side::new(
            || pypiserver(venv, &store, next()),
            |s| {
                quiet(
                    Command::new(venv.join("bin/twine"))
                        .args(["upload", "--disable-progress-bar", "--non-interactive"])
                        .args(["--repository-url", &format!("http://127.0.0.1:{}/", s.port)])
                        .args(["-u", "bench", "-p", "bench"])
                        .args(&files),
                )
            },
        ),
        Side::new(
            || Ok((pypiserver(venv, &store, next())?, next())),
            |(s, k)| {
                let j = work.join(format!("journal-{k}.jsonl"));
                let url = format!("http://127.0.0.1:{}/", s.port);
                relsign_publish(bin, release, &recipe, policy, "pypi", &url, &j)
            },
        ),
    )?;
    let _ = std::fs::remove_dir(&store);
    let lines = vec![
        format!(
            "  image push ({:.1} MiB): skopeo copy {t_skopeo:.3} s, relsign publish {t_push:.3} s (image + {} referrers), ratio {:.2}",
            image_bytes as f64 / (1 << 20) as f64,
            "signature/attestation",
            t_push / t_skopeo
        ),
        format!(
            "  upload ({} files): twine upload {t_twine:.3} s, relsign publish {t_upload:.3} s, ratio {:.2}",
            files.len(),
            t_upload / t_twine
        ),
    ];
    Ok((lines, t_push / t_skopeo, t_upload / t_twine))
}

/// Where the loopback servers keep what they are sent: in memory (`/dev/shm`) when the machine
/// has it. On this VM's disk the cost of creating files varies from run to run (for both
/// clients alike) by more than the clients differ; the bench measures the clients. Each
/// server removes its own directory when stopped.
fn server_store(work: &Path) -> Result<PathBuf> {
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        shm.join(format!("relsign-bench-{}", std::process::id()))
    } else {
        work.join("servers")
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

fn walk_size(dir: &Path) -> Result<u64> {
    let mut n = 0;
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            n += walk_size(&e.path())?;
        } else {
            n += e.metadata()?.len();
        }
    }
    Ok(n)
}

/// The image of `release` pushed to a fresh loopback `docker-registry` by `skopeo copy` and by
/// `relsign publish` (to the recipe's `hub`, verified against `policy`, not read back), `runs`
/// turns each: the best times (skopeo, relsign).
pub fn image_push(
    bin: &Path,
    release: &Path,
    recipe: &Path,
    policy: &Path,
    work: &Path,
    runs: usize,
) -> Result<(f64, f64)> {
    std::fs::create_dir_all(work)?;
    let store = server_store(work)?;
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(release.join("release.json"))?)?;
    let version = m["version"].as_str().unwrap_or_default().to_string();
    let rel_s = release.to_string_lossy().into_owned();
    let n = std::cell::Cell::new(0usize);
    let next = || {
        n.set(n.get() + 1);
        n.get()
    };
    let times = best_of_turns(
        runs,
        Side::new(
            || registry(&store, next()),
            |s| {
                quiet(Command::new("skopeo").args([
                    "copy",
                    "--quiet",
                    "--dest-tls-verify=false",
                    &format!("oci:{rel_s}/image:{version}"),
                    &format!("docker://127.0.0.1:{}/bench/skopeo:{version}", s.port),
                ]))
            },
        ),
        Side::new(
            || Ok((registry(&store, next())?, next())),
            |(s, k)| {
                let j = work.join(format!("image-journal-{k}.jsonl"));
                let url = format!("http://127.0.0.1:{}/bench/relsign", s.port);
                relsign_publish(bin, release, recipe, policy, "hub", &url, &j)
            },
        ),
    )?;
    // Every server is stopped (and its directory removed) by now.
    let _ = std::fs::remove_dir(&store);
    Ok(times)
}

/// `relsign publish` of `release` (with `recipe`, verified against `policy`) to the recipe's
/// destination `to` at `url`, not read back, with the journal `journal`.
fn relsign_publish(
    bin: &Path,
    release: &Path,
    recipe: &Path,
    policy: &Path,
    to: &str,
    url: &str,
    journal: &Path,
) -> Result<()> {
    quiet(
        Command::new(bin)
            .args(["--quiet", "publish"])
            .arg(release)
            .args(["--to", to, "--policy"])
            .arg(policy)
            .arg("--recipe")
            .arg(recipe)
            .args([
                "--url",
                &format!("{to}={url}"),
                "--no-read-back",
                "--journal",
            ])
            .arg(journal)
            .env("RELSIGN_PUBLISH_PYPI", "bench:bench"),
    )
}
