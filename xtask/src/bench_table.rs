//! The benchmarks `cargo xtask bench` adds to verify and publish, and the one table (or JSON
//! object) of ratios it prints: layer compression against gzip, pigz and zstd; the image build
//! against mmdebstrap plus gzip; peak memory while building and verifying an image of about
//! 1 GiB. Every figure is measured in the run that prints it; nothing is asserted.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The figures of one run, by key, in the order they were measured.
#[derive(Default)]
pub struct Figures {
    rows: Vec<(&'static str, f64, String)>,
}

impl Figures {
    pub fn add(&mut self, key: &'static str, value: f64, what: String) {
        self.rows.push((key, value, what));
    }

    /// The table, one line per figure.
    pub fn table(&self) -> Vec<String> {
        self.rows
            .iter()
            .map(|(k, v, what)| format!("  {k:<28} {v:>9.3}  {what}"))
            .collect()
    }

    /// One JSON object, key → value.
    pub fn json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for (k, v, _) in &self.rows {
            m.insert(
                (*k).to_string(),
                serde_json::json!((v * 1000.0).round() / 1000.0),
            );
        }
        serde_json::Value::Object(m)
    }
}

/// Run `cmd`, failing with its stderr.
fn run_quiet(cmd: &mut Command) -> Result<std::process::Output> {
    let o = cmd.output().with_context(|| format!("starting {cmd:?}"))?;
    if !o.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&o.stderr));
    }
    Ok(o)
}

/// `sh -c SCRIPT` (for redirections).
fn sh(script: &str) -> Result<()> {
    run_quiet(Command::new("sh").args(["-c", script])).map(|_| ())
}

/// The first layer (the Debian tree) of the image in `release`, decompressed into `tar`.
fn first_layer_tar(release: &Path, tar: &Path) -> Result<()> {
    let layout = release.join("image");
    let read = |p: PathBuf| -> Result<serde_json::Value> {
        Ok(serde_json::from_slice(
            &std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?,
        )?)
    };
    let blob = |d: &serde_json::Value| {
        let d = d.as_str().unwrap_or_default();
        layout
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    let index = read(layout.join("index.json"))?;
    let manifest = read(blob(&index["manifests"][0]["digest"]))?;
    let layer = blob(&manifest["layers"][0]["digest"]);
    sh(&format!(
        "gzip -dc '{}' > '{}'",
        layer.display(),
        tar.display()
    ))
}

/// Layer compression: relsign's parallel gzip (the `gzip` example, the writer layers go
/// through) against `gzip -6 -n`, `pigz -6` and `zstd -3 -T2` on the demo's Debian layer tar.
pub fn bench_gzip(root: &Path, release: &Path, work: &Path, f: &mut Figures) -> Result<()> {
    super::ensure_apt(&["pigz", "zstd", "gzip"])?;
    super::run(
        super::cargo()
            .current_dir(root)
            .args(["build", "--release", "--example", "gzip"]),
    )?;
    let ours = root.join("target/release/examples/gzip");
    std::fs::create_dir_all(work)?;
    let tar = work.join("layer.tar");
    first_layer_tar(release, &tar)?;
    let mib = std::fs::metadata(&tar)?.len() as f64 / (1 << 20) as f64;
    let out = |n: &str| work.join(n);
    let tools: Vec<(&str, String, PathBuf)> = vec![
        ("relsign gzip", String::new(), out("relsign.gz")),
        (
            "gzip -6 -n",
            format!(
                "gzip -6 -n -c '{}' > '{}'",
                tar.display(),
                out("gzip.gz").display()
            ),
            out("gzip.gz"),
        ),
        (
            "pigz -6",
            format!(
                "pigz -6 -n -c '{}' > '{}'",
                tar.display(),
                out("pigz.gz").display()
            ),
            out("pigz.gz"),
        ),
        (
            "zstd -3 -T2",
            format!(
                "zstd -q -f -3 -T2 '{}' -o '{}'",
                tar.display(),
                out("t.zst").display()
            ),
            out("t.zst"),
        ),
    ];
    let mut times = Vec::new();
    eprintln!("compression: the demo's Debian layer ({mib:.1} MiB tar), best of 3");
    for (name, script, file) in &tools {
        let secs = if script.is_empty() {
            super::best_of_three(&mut || {
                run_quiet(Command::new(&ours).arg(&tar).arg(file)).map(|_| ())
            })?
        } else {
            super::best_of_three(&mut || sh(script))?
        };
        let size = std::fs::metadata(file)?.len();
        eprintln!(
            "  {name:<13} {secs:.3} s  {:.0} MiB/s  {size} bytes",
            mib / secs
        );
        times.push((secs, size));
    }
    let (ours_t, ours_s) = times[0];
    let (gz_t, gz_s) = times[1];
    f.add(
        "gzip_throughput_vs_gzip6",
        gz_t / ours_t,
        format!("relsign's gzip throughput over gzip -6 -n's ({mib:.0} MiB layer; goal >= 2.5)"),
    );
    f.add(
        "gzip_size_vs_gzip6",
        ours_s as f64 / gz_s as f64,
        "relsign's gzip output size over gzip -6 -n's (goal <= 1.02)".into(),
    );
    f.add(
        "gzip_throughput_vs_pigz6",
        times[2].0 / ours_t,
        "relsign's gzip throughput over pigz -6's".into(),
    );
    f.add(
        "gzip_throughput_vs_zstd3",
        times[3].0 / ours_t,
        "relsign's gzip throughput over zstd -3 -T2's".into(),
    );
    Ok(())
}

/// The image build against `mmdebstrap --variant=extract` of the same locked .debs from a
/// local copy mirror, plus `gzip -6 -n` of its tar. relsign's side is the image step of a
/// `--no-cache` build of the demo (the time it reports for it).
pub fn bench_image(bin: &Path, recipe: &Path, work: &Path, f: &mut Figures) -> Result<()> {
    super::ensure_apt(&["mmdebstrap", "dpkg-dev"])?;
    std::fs::create_dir_all(work)?;
    let mirror = work.join("mirror");
    if !mirror.join("debian/Packages").is_file() {
        run_quiet(
            Command::new(bin)
                .args(["--quiet", "fetch"])
                .arg(recipe)
                .arg("--export")
                .arg(&mirror),
        )?;
        sh(&format!(
            "cd '{}' && dpkg-scanpackages pool > Packages 2>/dev/null",
            mirror.join("debian").display()
        ))?;
    }
    let lock_path = recipe
        .parent()
        .unwrap_or(Path::new("."))
        .join("demo.image.debian.lock.toml");
    let lock: toml::Value = toml::from_str(&std::fs::read_to_string(&lock_path)?)?;
    let names: Vec<String> = lock["package"]
        .as_array()
        .context("the image lock has no [[package]]")?
        .iter()
        .filter_map(|p| p["name"].as_str().map(String::from))
        .collect();
    let tar = work.join("rootfs.tar");
    let source = format!(
        "deb [trusted=yes] copy://{} ./",
        mirror.join("debian").display()
    );
    let include = names.join(",");
    let anchor = super::best_of_three(&mut || {
        let _ = std::fs::remove_file(&tar);
        run_quiet(
            Command::new("mmdebstrap")
                .args(["--quiet", "--variant=extract", "--mode=root"])
                .arg(format!("--include={include}"))
                .arg("trixie")
                .arg(&tar)
                .arg(&source),
        )?;
        sh(&format!(
            "gzip -6 -n -c '{}' > '{}.gz'",
            tar.display(),
            tar.display()
        ))
    })?;
    let out = work.join("release");
    let image_step = || -> Result<f64> {
        let o = run_quiet(
            Command::new(bin)
                .arg("build")
                .arg(recipe)
                .arg("--out")
                .arg(&out)
                .arg("--no-cache")
                .stdout(Stdio::null()),
        )?;
        let text = String::from_utf8_lossy(&o.stderr);
        let line = text
            .lines()
            .find(|l| l.contains(": built in "))
            .context("relsign build did not report the image step's time")?;
        let secs = line
            .rsplit("built in ")
            .next()
            .and_then(|s| s.trim_end_matches(" s").trim().parse::<f64>().ok())
            .context("reading the image step's time")?;
        Ok(secs)
    };
    image_step()?;
    let mut ours = f64::MAX;
    for _ in 0..3 {
        ours = ours.min(image_step()?);
    }
    eprintln!(
        "image: {} .debs; mmdebstrap --variant=extract + gzip -6 -n {anchor:.3} s; relsign's image step {ours:.3} s",
        names.len()
    );
    f.add(
        "image_vs_mmdebstrap_gzip",
        ours / anchor,
        format!(
            "relsign's image step over mmdebstrap extract + gzip -6 ({} .debs; goal <= 0.3)",
            names.len()
        ),
    );
    Ok(())
}

/// Peak RSS (MB) of `cmd` under GNU time.
fn peak_rss_mb(cmd: &mut Command, work: &Path) -> Result<f64> {
    let report = work.join("time.txt");
    let prog = cmd.get_program().to_owned();
    let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
    run_quiet(
        Command::new("/usr/bin/time")
            .arg("-f")
            .arg("%M")
            .arg("-o")
            .arg(&report)
            .arg(prog)
            .args(args)
            .stdout(Stdio::null()),
    )?;
    let kb: f64 = std::fs::read_to_string(&report)?
        .trim()
        .lines()
        .last()
        .unwrap_or_default()
        .parse()
        .context("reading GNU time's %M")?;
    Ok(kb / 1024.0)
}

/// Peak memory while building and verifying an image of about `mib` MiB: the demo recipe
/// (gate removed) with `big` (the bench's incompressible artifacts) copied into the image.
pub fn bench_rss(
    bin: &Path,
    root: &Path,
    big: &[PathBuf],
    key: &Path,
    policy: &str,
    work: &Path,
    f: &mut Figures,
) -> Result<()> {
    super::ensure_apt(&["time"])?;
    let r = work.join("recipe");
    std::fs::create_dir_all(r.join("big"))?;
    for name in [
        "demo.debian.lock.toml",
        "pylock.demo.toml",
        "demo.image.debian.lock.toml",
    ] {
        std::fs::copy(root.join("recipes").join(name), r.join(name))?;
    }
    let demo_link = r.join("demo");
    if !demo_link.exists() {
        std::os::unix::fs::symlink(root.join("recipes/demo"), &demo_link)?;
    }
    let mut bytes = 0;
    let mut entries = String::new();
    for p in big {
        let name = p.file_name().context("a file name")?.to_string_lossy();
        let dest = r.join("big").join(&*name);
        if !dest.exists() {
            std::fs::hard_link(p, &dest).or_else(|_| std::fs::copy(p, &dest).map(|_| ()))?;
        }
        bytes += std::fs::metadata(p)?.len();
        entries.push_str(&format!(
            "\n[[image.files]]\nsrc = \"big/{name}\"\ndest = \"/opt/big/{name}\"\n"
        ));
    }
    let text = std::fs::read_to_string(root.join("recipes/demo.toml"))?;
    let start = text.find("\n[test]").context("the demo recipe's [test]")?;
    let end = text[start + 1..]
        .find("\n[")
        .map_or(text.len(), |e| start + 1 + e);
    let text = format!("{}{}{entries}", &text[..start], &text[end..]);
    std::fs::write(r.join("demo.toml"), text)?;
    let out = work.join("release");
    let _ = std::fs::remove_dir_all(&out);
    let build_mb = peak_rss_mb(
        Command::new(bin)
            .args(["--quiet", "build"])
            .arg(r.join("demo.toml"))
            .arg("--out")
            .arg(&out)
            .arg("--no-cache"),
        work,
    )?;
    let sbom_mb = peak_rss_mb(Command::new(bin).args(["--quiet", "sbom"]).arg(&out), work)?;
    run_quiet(
        Command::new(bin)
            .args(["--quiet", "sign"])
            .arg(&out)
            .arg("--key")
            .arg(key),
    )?;
    let verify_mb = peak_rss_mb(
        Command::new(bin)
            .args(["--quiet", "verify"])
            .arg(&out)
            .args(["--policy", policy, "--no-state"]),
        work,
    )?;
    let mib = bytes as f64 / (1 << 20) as f64;
    eprintln!("memory: an image with {mib:.0} MiB of incompressible files: peak RSS build {build_mb:.0} MB, sbom {sbom_mb:.0} MB, verify {verify_mb:.0} MB");
    // The same image pushed: relsign publish against skopeo copy, two turns each.
    super::ensure_apt(&["skopeo", "docker-registry"])?;
    let (skopeo, ours) = crate::bench_publish::image_push(
        bin,
        &out,
        &r.join("demo.toml"),
        Path::new(policy),
        &work.join("push"),
        2,
    )?;
    eprintln!(
        "push: the {mib:.0} MiB image, best of 2 turns each: skopeo copy {skopeo:.3} s, relsign publish {ours:.3} s, ratio {:.2}",
        ours / skopeo
    );
    f.add(
        "push_vs_skopeo_big_image",
        ours / skopeo,
        format!("relsign publish over skopeo copy of that {mib:.0} MiB image, loopback registry (goal <= 1.1)"),
    );
    f.add(
        "peak_rss_mb_1gib_image",
        build_mb.max(sbom_mb).max(verify_mb),
        format!("MB, the largest of build ({build_mb:.0}), sbom ({sbom_mb:.0}) and verify ({verify_mb:.0}) of a {mib:.0} MiB image (goal <= 256)"),
    );
    let _ = std::fs::remove_dir_all(&out);
    Ok(())
}
