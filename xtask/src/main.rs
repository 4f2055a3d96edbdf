//! Project tasks: `cargo xtask demo`, `cargo xtask test`.
//!
//! `test` installs what the tests need (Debian packages through apt, a Python venv with the
//! outside verifiers) and then runs the whole suite. A missing tool is installed, or the run
//! fails naming it; nothing is skipped.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Debian packages the tests and the demo need.
const APT_PACKAGES: &[&str] = &[
    "bubblewrap",
    "gpgv",
    "debian-archive-keyring",
    "git",
    "faketime",
    "skopeo",
    "umoci",
    "docker-registry",
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

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn relsign_bin() -> Result<PathBuf> {
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
    let relsign =
        |args: &[&str]| -> Result<()> { run(Command::new(&bin).args(args).current_dir(root())) };
    let recipe_s = recipe.to_string_lossy().into_owned();
    relsign(&["lock", "--check", &recipe_s])?;
    relsign(&["fetch", &recipe_s])?;
    relsign(&["build", &recipe_s, "--out", &out.to_string_lossy()])?;
    // The image runs without Docker: the demo CLI through its entry point.
    relsign(&["run", &out.to_string_lossy(), "--", "relsign-demo", "greet", "relsign"])?;
    println!();
    println!("demo release written to {}", out.display());
    println!("  release.json   names, versions and digests of the artifacts");
    println!("  *.tar.gz *.whl the sdist and the wheel, normalized");
    println!("  image/         the OCI image layout (skopeo inspect oci:{}/image:0.1.0)", out.display());
    println!("  inputs/        the recipe, the locks and the source, for rebuilding");
    Ok(())
}

fn test(extra: &[String]) -> Result<()> {
    ensure_apt(APT_PACKAGES)?;
    let venv = ensure_venv()?;
    let mut cmd = cargo();
    cmd.current_dir(root())
        .args(["test", "--workspace"])
        .args(extra);
    cmd.env("RELSIGN_TEST_VENV", &venv);
    run_counting(&mut cmd)
}

/// Run a `cargo test` command, echoing its output, and close with one line that sums up every
/// test binary's "test result" line: `N passed, N failed, N ignored`.
fn run_counting(cmd: &mut Command) -> Result<()> {
    use std::io::{BufRead, BufReader};
    eprintln!("$ {cmd:?}");
    let mut child = cmd.stdout(std::process::Stdio::piped()).spawn().with_context(|| format!("starting {cmd:?}"))?;
    let (mut passed, mut failed, mut ignored) = (0u64, 0u64, 0u64);
    let stdout = child.stdout.take().expect("piped stdout");
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        println!("{line}");
        if let Some(rest) = line.strip_prefix("test result: ") {
            let num = |word: &str| -> u64 {
                rest.split(';').find_map(|part| part.trim().strip_suffix(word).and_then(|n| n.trim().rsplit(' ').next()).and_then(|n| n.parse().ok())).unwrap_or(0)
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
        _ => {
            eprintln!("usage: cargo xtask <demo|test> [args]\n\n  demo   lock-check, fetch and build recipes/demo.toml into target/demo/release\n  test   install what the tests need (apt packages, a Python venv) and run the suite");
            std::process::exit(2);
        }
    }
}
