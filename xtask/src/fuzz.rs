//! `cargo xtask fuzz [--secs N] [TARGET…]`: build the cargo-fuzz targets under `fuzz/` and run
//! each (or the named ones) for N seconds (default 30), one after the other.
//!
//! Each target starts from its committed seeds (`fuzz/seeds/<target>/`, which also hold the
//! inputs of past findings, so they are replayed first) and its local corpus
//! (`fuzz/corpus/<target>/`, git-ignored, kept between runs). A run is limited to 2048 MB of
//! RSS and 10 s per input. The targets run inside bubblewrap: the root file system read-only,
//! a private /tmp, no network. The targets that extract archives check that nothing was
//! written outside their destination, and the read-only root turns any such write into an
//! error they report. A finding is saved under `fuzz/artifacts/<target>/` and the command
//! exits 1 naming the target and the file; replay it with
//! `fuzz/target/<triple>/release/<target> <file>`.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const USAGE: &str = "usage: cargo xtask fuzz [--secs N] [--no-build] [TARGET…]

  Builds the cargo-fuzz targets of fuzz/ (nightly; cargo-fuzz is installed if missing) and
  runs each, or the named ones, for N seconds (default 30), seeded from fuzz/seeds/<target>.
  Prints the executions per target and any finding; exits 1 on a finding, naming the target
  and the crash file under fuzz/artifacts/<target>/.

  Examples:
    cargo xtask fuzz                          # every target, 30 s each
    cargo xtask fuzz --secs 600 tar_extract   # one target for 10 minutes";

struct Args {
    secs: u64,
    build: bool,
    targets: Vec<String>,
}

fn parse(args: &[String]) -> Result<Args> {
    let mut a = Args {
        secs: 30,
        build: true,
        targets: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(x) = it.next() {
        match x.as_str() {
            "--secs" => {
                let v = it
                    .next()
                    .with_context(|| format!("--secs needs a value\n\n{USAGE}"))?;
                a.secs = v.parse().ok().filter(|&n| n > 0).with_context(|| {
                    format!("--secs {v:?}: expected a positive number of seconds")
                })?;
            }
            "--no-build" => a.build = false,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            t if t.starts_with('-') => bail!("unknown option {t}\n\n{USAGE}"),
            t => a.targets.push(t.to_string()),
        }
    }
    Ok(a)
}

/// The targets: `fuzz/fuzz_targets/<name>.rs`, sorted.
fn all_targets(fuzz: &Path) -> Result<Vec<String>> {
    let dir = fuzz.join("fuzz_targets");
    let mut v = Vec::new();
    for e in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "rs") {
            if let Some(s) = p.file_stem() {
                v.push(s.to_string_lossy().into_owned());
            }
        }
    }
    v.sort();
    Ok(v)
}

fn nightly_cargo() -> Command {
    let mut c = Command::new("cargo");
    c.arg("+nightly");
    // xtask runs under `cargo` (stable); its variables would pin the nested cargo to stable.
    for k in [
        "CARGO",
        "RUSTC",
        "RUSTDOC",
        "RUSTUP_TOOLCHAIN",
        "CARGO_TARGET_DIR",
    ] {
        c.env_remove(k);
    }
    c
}

/// Install cargo-fuzz when `cargo fuzz` is missing (and the nightly toolchain when rustup
/// lacks it).
fn ensure_cargo_fuzz() -> Result<()> {
    let nightly = nightly_cargo()
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !nightly {
        super::run(Command::new("rustup").args([
            "toolchain",
            "install",
            "nightly",
            "--profile",
            "minimal",
        ]))
        .context("installing the nightly toolchain (cargo-fuzz needs it)")?;
    }
    let have = nightly_cargo()
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        super::run(Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]))
            .context("installing cargo-fuzz")?;
    }
    Ok(())
}

fn host_triple() -> Result<String> {
    let out = Command::new("rustc")
        .args(["+nightly", "-vV"])
        .output()
        .context("rustc +nightly -vV")?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .context("rustc -vV printed no host triple")
}

/// What one run found, from libFuzzer's output.
struct Outcome {
    target: String,
    execs: Option<u64>,
    corpus: Option<u64>,
    finding: Option<String>,
    artifact: Option<PathBuf>,
}

fn stat(log: &str, key: &str) -> Option<u64> {
    log.lines()
        .rev()
        .find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
}

fn run_target(bin: &Path, fuzz: &Path, target: &str, secs: u64) -> Result<Outcome> {
    let corpus = fuzz.join("corpus").join(target);
    let seeds = fuzz.join("seeds").join(target);
    let artifacts = fuzz.join("artifacts").join(target);
    for d in [&corpus, &artifacts] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let mut cmd = Command::new("bwrap");
    cmd.args([
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--tmpfs",
        "/tmp",
    ])
    .args(["--unshare-net", "--die-with-parent"]);
    for d in [&corpus, &artifacts] {
        cmd.arg("--bind").arg(d).arg(d);
    }
    // The private /tmp hides a checkout under /tmp: the fuzzer and its seeds are bound back.
    cmd.arg("--ro-bind").arg(bin).arg(bin);
    if seeds.is_dir() {
        cmd.arg("--ro-bind").arg(&seeds).arg(&seeds);
    }
    cmd.args(["--setenv", "RELSIGN_FUZZ_PRIVATE_TMP", "1", "--"])
        .arg(bin)
        .arg(&corpus);
    if seeds.is_dir() {
        cmd.arg(&seeds);
    }
    cmd.arg(format!("-max_total_time={secs}"))
        .args(["-rss_limit_mb=2048", "-timeout=10", "-print_final_stats=1"])
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let child = cmd
        .spawn()
        .with_context(|| format!("starting {} in bwrap", bin.display()))?;
    let out = child.wait_with_output()?;
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    let log_path = artifacts.join("last-run.log");
    std::fs::write(&log_path, &log).with_context(|| format!("writing {}", log_path.display()))?;
    let execs = stat(&log, "stat::number_of_executed_units:").or_else(|| {
        log.lines()
            .rev()
            .find_map(|l| l.strip_prefix("Done ")?.split(' ').next()?.parse().ok())
    });
    let corpus_n = std::fs::read_dir(&corpus).map(|d| d.count() as u64).ok();
    let artifact = log.lines().rev().find_map(|l| {
        let p = l.split("Test unit written to ").nth(1)?;
        Some(PathBuf::from(p.trim()))
    });
    let finding = if out.status.success() {
        None
    } else {
        let why = log
            .lines()
            .find(|l| {
                l.contains("ERROR: libFuzzer")
                    || l.contains("panicked at")
                    || l.contains("ERROR: AddressSanitizer")
                    || l.contains("deadly signal")
            })
            .unwrap_or("the fuzzer failed")
            .trim()
            .to_string();
        Some(format!(
            "{why} (exit {}; log {})",
            out.status,
            log_path.display()
        ))
    };
    Ok(Outcome {
        target: target.to_string(),
        execs,
        corpus: corpus_n,
        finding,
        artifact,
    })
}

pub fn fuzz(args: &[String]) -> Result<()> {
    let a = parse(args)?;
    let fuzz = super::root().join("fuzz");
    let all = all_targets(&fuzz)?;
    let targets = if a.targets.is_empty() {
        all.clone()
    } else {
        for t in &a.targets {
            if !all.contains(t) {
                bail!("no fuzz target {t:?}; the targets are: {}", all.join(" "));
            }
        }
        a.targets.clone()
    };
    super::ensure_apt(&["bubblewrap"])?;
    ensure_cargo_fuzz()?;
    if a.build {
        let mut b = nightly_cargo();
        b.current_dir(&fuzz).args(["fuzz", "build"]);
        if targets.len() == 1 {
            b.arg(&targets[0]);
        }
        super::run(&mut b).context("building the fuzz targets")?;
    }
    let bin_dir = fuzz.join("target").join(host_triple()?).join("release");
    let mut outcomes = Vec::new();
    for t in &targets {
        let bin = bin_dir.join(t);
        if !bin.is_file() {
            bail!("{} is missing (run without --no-build)", bin.display());
        }
        eprintln!("fuzz {t}: {} s", a.secs);
        let o = run_target(&bin, &fuzz, t, a.secs)?;
        let execs = o.execs.map_or("?".into(), |n| n.to_string());
        match &o.finding {
            None => println!(
                "{t}: {execs} executions, corpus {}, nothing found",
                o.corpus.map_or("?".into(), |n| n.to_string())
            ),
            Some(why) => println!(
                "{t}: FOUND after {execs} executions: {why}; crash file: {}",
                o.artifact
                    .as_ref()
                    .map_or("(none written)".into(), |p| p.display().to_string())
            ),
        }
        outcomes.push(o);
    }
    let bad: Vec<&Outcome> = outcomes.iter().filter(|o| o.finding.is_some()).collect();
    if !bad.is_empty() {
        for o in &bad {
            eprintln!(
                "finding in {}: {}",
                o.target,
                o.artifact
                    .as_ref()
                    .map_or("(no crash file)".into(), |p| p.display().to_string())
            );
        }
        bail!(
            "{} of {} fuzz targets found something: {}",
            bad.len(),
            outcomes.len(),
            bad.iter()
                .map(|o| o.target.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    println!(
        "{} fuzz targets, {} s each: nothing found",
        outcomes.len(),
        a.secs
    );
    Ok(())
}
