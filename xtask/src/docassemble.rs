//! `cargo xtask docassemble [--all-scenarios]`: docassemble's whole release, as its maintainer
//! would cut it, from a warm store: `cargo xtask release recipes/docassemble.toml` (preflight,
//! fetch, build, second build and comparison, the server gate, SBOMs, signatures, publish,
//! verify from each destination) with test-only keys, against loopback stand-ins for the
//! destinations: two `docker-registry`s (Docker Hub and the Harbor fallback), a pypiserver (PyPI)
//! and a static mirror directory. Every stage is printed with the time since the start, and the
//! summary gives the gate's counts and the stages that took a minute or more.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

const USAGE: &str = "usage: cargo xtask docassemble [--all-scenarios]

  docassemble's release from a warm store (run `relsign fetch recipes/docassemble.toml
  --archive-mirror DIR` first on a fresh machine): build twice and compare, start the server
  image's services, run the gating behave scenarios against it, SBOMs, sign with TEST-ONLY keys
  (target/docassemble/keys), publish to loopback registries, a pypiserver and a mirror
  (target/docassemble/mirror), verify from each. Work and results in target/docassemble; the
  server's logs of the gate's run (each service's output, docassemble.log, worker.log, nginx's
  error.log) in target/docassemble/server-logs, kept out of the release.
  --all-scenarios runs docassemble's whole behave suite; the gating scenarios still decide.";

pub fn docassemble(args: &[String]) -> Result<()> {
    let mut all = false;
    for a in args {
        match a.as_str() {
            "--all-scenarios" => all = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument {other}\n\n{USAGE}"),
        }
    }
    super::mark_stage("set-up: tools, relsign (release build), keys, loopback servers");
    super::ensure_apt(super::APT_PACKAGES)?;
    let venv = super::ensure_venv()?;
    // Release profile: the image is gigabytes, hashed and copied several times.
    super::run(super::cargo().current_dir(super::root()).args([
        "build",
        "--release",
        "--bin",
        "relsign",
    ]))?;
    let bin = super::root().join("target/release/relsign");
    let work = super::root().join("target/docassemble");
    std::fs::create_dir_all(&work)?;
    let servers = work.join("servers");
    let _ = std::fs::remove_dir_all(&servers);
    std::fs::create_dir_all(&servers)?;
    // Test-only keys; the passphrase through the environment (never on a command line).
    std::env::set_var("RELSIGN_PASSPHRASE", super::demo_passphrase());
    let (keys, release_key) = super::test_keys(&bin, &work.join("keys"), "docassemble")?;
    let root_key = keys.join("docassemble-root-TEST-ONLY.key");
    super::run(std::process::Command::new(&bin).args([
        "policy".as_ref(),
        "sign".as_ref(),
        keys.as_os_str(),
        "--key".as_ref(),
        root_key.as_os_str(),
    ]))?;
    let hub = crate::servers::registry(&servers, 1)?;
    let harbor = crate::servers::registry(&servers, 2)?;
    let pypi = crate::servers::pypiserver(&venv, &servers, 3)?;
    let mirror = work.join("mirror");
    if mirror.exists() {
        std::fs::remove_dir_all(&mirror)
            .with_context(|| format!("removing {}", mirror.display()))?;
    }
    let out = work.join("release");
    eprintln!(
        "    stand-ins: hub 127.0.0.1:{}, harbor 127.0.0.1:{}, pypi 127.0.0.1:{}, mirror {}",
        hub.port,
        harbor.port,
        pypi.port,
        mirror.display()
    );
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let mut release_args: Vec<String> = vec![
        s(&super::root().join("recipes/docassemble.toml")),
        "--key".into(),
        release_key,
        "--policy".into(),
        s(&keys),
        "--out".into(),
        s(&out),
        "--url".into(),
        format!("pypi=http://127.0.0.1:{}/", pypi.port),
        "--url".into(),
        format!("hub=http://127.0.0.1:{}/jhpyle/docassemble", hub.port),
        "--url".into(),
        format!("harbor=http://127.0.0.1:{}/jhpyle/docassemble", harbor.port),
        "--url".into(),
        format!("mirror={}", s(&mirror)),
        // The server's logs of the gate's run, for a failing scenario (kept out of the release).
        "--server-logs".into(),
        s(&work.join("server-logs")),
    ];
    if all {
        release_args.push("--all-scenarios".into());
    }
    super::release::release(&release_args, &bin)?;
    print_gate(&out)?;
    Ok(())
}

/// The gate's counts from the release's test-results/summary.json: the gating scenarios that
/// passed and failed (and the whole suite's, when more ran).
fn print_gate(out: &Path) -> Result<()> {
    let path: PathBuf = out.join("test-results/summary.json");
    let v: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
    )
    .with_context(|| format!("parsing {}", path.display()))?;
    println!("  gate ({}):", path.display());
    for run in v["runs"].as_array().cloned().unwrap_or_default() {
        let place = run["place"].as_str().unwrap_or("?");
        let gating = run["gating"].as_array().cloned().unwrap_or_default();
        if gating.is_empty() {
            println!(
                "    {place}: {} passed, {} failed, {} skipped",
                run["passed"], run["failed"], run["skipped"]
            );
            continue;
        }
        let passed = gating
            .iter()
            .filter(|g| g["status"].as_str() == Some("passed"))
            .count();
        println!(
            "    {place}: {passed} gating scenarios passed, {} failed; the suite run: {} passed, {} failed, {} skipped",
            gating.len() - passed,
            run["passed"],
            run["failed"],
            run["skipped"]
        );
    }
    Ok(())
}
