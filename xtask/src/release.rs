//! `cargo xtask release RECIPE [--dry-run]`: cut a whole release safely.
//!
//! Preflight (clean git tree, version new or matching its tag, locks up to date, keys and
//! policy present, destinations reachable), then build → reproducibility check → gate → SBOM →
//! sign (one `relsign release --check-reproducible`), then publish, then verify from each
//! destination, then a summary. A failure before publish publishes nothing; after publish has
//! begun, the command that resumes it is printed.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

struct Args {
    recipe: PathBuf,
    dry_run: bool,
    keys: Vec<PathBuf>,
    policy: PathBuf,
    out: Option<PathBuf>,
    urls: Vec<String>,
    all_scenarios: bool,
    server_logs: Option<PathBuf>,
}

const USAGE: &str = "usage: cargo xtask release RECIPE [--dry-run] --key FILE [--key FILE]… [--policy DIR] [--out DIR] [--url NAME=URL]… [--all-scenarios] [--server-logs DIR]

  Preflight: clean git tree; the version is new or its tag (v<version> or <version>) is HEAD;
  `relsign lock --check`; keys and the trust policy present; every destination reachable.
  Then: build, reproducibility check, behave gate, SBOMs, sign (relsign release
  --check-reproducible), publish (relsign publish), verify from each destination, summary.
  --dry-run does everything but publish and prints the publish plan.
  --all-scenarios runs the whole server suite in the gate (its gating scenarios decide).
  --server-logs DIR keeps the services' logs of that suite in DIR (relsign release --server-logs).
  Each line of relsign's progress carries the time since the start; the summary lists the
  stages that took a minute or more.
  The key passphrase comes from $RELSIGN_PASSPHRASE (or a prompt on a terminal).

  Examples:
    cargo xtask release recipes/demo.toml --dry-run --key ~/.config/relsign/release.key
    cargo xtask release recipes/demo.toml --key ~/.config/relsign/release.key --policy keys";

fn parse(args: &[String]) -> Result<Args> {
    let mut a = Args {
        recipe: PathBuf::new(),
        dry_run: false,
        keys: Vec::new(),
        policy: PathBuf::from("keys"),
        out: None,
        urls: Vec::new(),
        all_scenarios: false,
        server_logs: None,
    };
    let mut it = args.iter();
    let mut recipe = None;
    while let Some(x) = it.next() {
        let mut val = |name: &str| -> Result<String> {
            it.next()
                .cloned()
                .with_context(|| format!("{name} needs a value\n\n{USAGE}"))
        };
        match x.as_str() {
            "--dry-run" => a.dry_run = true,
            "--key" => a.keys.push(PathBuf::from(val("--key")?)),
            "--policy" => a.policy = PathBuf::from(val("--policy")?),
            "--out" => a.out = Some(PathBuf::from(val("--out")?)),
            "--url" => a.urls.push(val("--url")?),
            "--all-scenarios" => a.all_scenarios = true,
            "--server-logs" => a.server_logs = Some(PathBuf::from(val("--server-logs")?)),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            s if s.starts_with('-') => bail!("unknown option {s}\n\n{USAGE}"),
            s => {
                if recipe.replace(PathBuf::from(s)).is_some() {
                    bail!("one recipe only\n\n{USAGE}");
                }
            }
        }
    }
    a.recipe = recipe.with_context(|| format!("missing RECIPE\n\n{USAGE}"))?;
    if a.keys.is_empty() {
        bail!("give at least one --key (a release key of the trust policy)\n\n{USAGE}");
    }
    Ok(a)
}

fn output(cmd: &mut Command) -> Result<String> {
    let o = cmd.output().with_context(|| format!("starting {cmd:?}"))?;
    if !o.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

fn step(n: usize, what: &str) {
    super::mark_stage(&format!("[{n}] {what}"));
    eprintln!("\n=== [{}] [{n}] {what}", super::clock(super::elapsed()));
}

fn git(repo_dir: &Path, args: &[&str]) -> Result<String> {
    output(Command::new("git").arg("-C").arg(repo_dir).args(args))
}

fn relsign(bin: &Path, args: &[&str]) -> Result<()> {
    super::run_timed(Command::new(bin).args(args))
}

/// What preflight learned: `relsign destinations --json` of the recipe (the release's name,
/// version and destinations) and the commit at HEAD.
struct Preflight {
    info: serde_json::Value,
    name: String,
    version: String,
    head: String,
}

pub fn release(args: &[String], bin: &Path) -> Result<()> {
    let a = parse(args)?;
    let recipe = std::fs::canonicalize(&a.recipe)
        .with_context(|| format!("recipe {}", a.recipe.display()))?;
    let recipe_s = recipe.to_string_lossy().into_owned();
    let repo_dir = recipe.parent().unwrap_or(Path::new(".")).to_path_buf();
    let url_args: Vec<String> = a
        .urls
        .iter()
        .flat_map(|u| ["--url".into(), u.clone()])
        .collect();
    let url_refs: Vec<&str> = url_args.iter().map(String::as_str).collect();

    step(1, "preflight");
    let pre = preflight(&a, bin, &recipe_s, &repo_dir, &url_refs)?;
    let (name, version) = (&pre.name, &pre.version);

    // ---- build → reproducibility → gate → SBOM → sign ------------------------------------
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| super::root().join(format!("target/release-{name}-{version}")));
    build_and_sign(&a, bin, &recipe_s, &out)?;
    let out_s = out.to_string_lossy().into_owned();
    let policy_s = a.policy.to_string_lossy().into_owned();
    relsign(
        bin,
        &["verify", &out_s, "--policy", &policy_s, "--no-state"],
    )?;

    // ---- publish -------------------------------------------------------------------------
    let mut publish = vec![
        "publish", &out_s, "--recipe", &recipe_s, "--policy", &policy_s,
    ];
    publish.extend(&url_refs);
    if a.dry_run {
        step(4, "publish plan (dry run: nothing is sent)");
        publish.push("--dry-run");
        relsign(bin, &publish)?;
        println!("\ndry run of {name} {version} passed: built, reproducible, gated, signed in {out_s}; nothing was published");
        return Ok(());
    }
    step(4, "publish");
    if let Err(e) = relsign(bin, &publish) {
        let resume = format!("{} {}", bin.display(), publish.join(" "));
        bail!("{e:#}\npublish has begun and did not finish; fix the cause, then resume with:\n  {resume}");
    }

    step(5, "verify from each destination");
    let verified = verify_destinations(&a, bin, &pre, &out, &policy_s)?;
    step(6, "summary");
    summary(&pre, &out, &verified)
}

/// Clean git tree; the version new or its tag at HEAD; locks up to date; keys and policy
/// present; every destination reachable.
fn preflight(
    a: &Args,
    bin: &Path,
    recipe_s: &str,
    repo_dir: &Path,
    url_refs: &[&str],
) -> Result<Preflight> {
    let dirty = git(
        repo_dir,
        &["status", "--porcelain", "--untracked-files=normal"],
    )
    .context("the recipe must be in a git checkout")?;
    if !dirty.trim().is_empty() {
        bail!(
            "preflight: the git tree at {} is not clean; commit or remove:\n{}",
            repo_dir.display(),
            dirty.trim_end()
        );
    }
    let head = git(repo_dir, &["rev-parse", "HEAD"])?.trim().to_string();
    let info: serde_json::Value = serde_json::from_str(&output(
        Command::new(bin)
            .args(["--json", "--quiet", "destinations", recipe_s])
            .args(url_refs),
    )?)?;
    let name = info["release"].as_str().unwrap_or_default().to_string();
    let version = info["version"].as_str().unwrap_or_default().to_string();
    let mut tag_state = "new (no tag)".to_string();
    for t in [format!("v{version}"), version.clone()] {
        if let Ok(c) = git(
            repo_dir,
            &["rev-list", "-n", "1", &format!("refs/tags/{t}")],
        ) {
            let c = c.trim();
            if c != head {
                bail!("preflight: version {version} is tagged {t} at {c}, but HEAD is {head}: bump the version or check out the tag");
            }
            tag_state = format!("tag {t} is HEAD");
        }
    }
    eprintln!("    git tree clean at {head}; {name} {version}: {tag_state}");
    relsign(bin, &["lock", "--check", recipe_s]).context("preflight: the locks are stale")?;
    for k in &a.keys {
        if !k.is_file() {
            bail!("preflight: release key {} is missing", k.display());
        }
    }
    if !a.policy.join("policy/1.json").is_file() {
        bail!(
            "preflight: no trust policy at {} (policy/1.json); see README, \"Trust policy\"",
            a.policy.display()
        );
    }
    let mut ping = vec!["destinations", recipe_s, "--ping"];
    ping.extend(url_refs);
    relsign(bin, &ping).context("preflight: a destination is not reachable")?;
    Ok(Preflight {
        info,
        name,
        version,
        head,
    })
}

/// Into a fresh `out`: fetch, then one `relsign release --check-reproducible` (build,
/// reproducibility check, gate, SBOMs, sign).
fn build_and_sign(a: &Args, bin: &Path, recipe_s: &str, out: &Path) -> Result<()> {
    if out.exists() {
        std::fs::remove_dir_all(out).with_context(|| format!("removing {}", out.display()))?;
    }
    let out_s = out.to_string_lossy().into_owned();
    step(2, "fetch the locked inputs");
    relsign(bin, &["fetch", recipe_s])?;
    step(3, "build, reproducibility check, gate, SBOMs, sign");
    let mut rel = vec!["release", recipe_s, "--out", &out_s, "--check-reproducible"];
    let key_strs: Vec<String> = a
        .keys
        .iter()
        .map(|k| k.to_string_lossy().into_owned())
        .collect();
    for k in &key_strs {
        rel.extend(["--key", k.as_str()]);
    }
    if a.all_scenarios {
        rel.push("--all-scenarios");
    }
    let logs_s = a
        .server_logs
        .as_ref()
        .map(|p| p.to_string_lossy().into_owned());
    if let Some(l) = &logs_s {
        rel.extend(["--server-logs", l.as_str()]);
    }
    relsign(bin, &rel).context("the release stopped before publishing; nothing was published")?;
    Ok(())
}

/// Verify the published release from each destination; the destinations verified.
fn verify_destinations(
    a: &Args,
    bin: &Path,
    pre: &Preflight,
    out: &Path,
    policy_s: &str,
) -> Result<Vec<String>> {
    let (name, version) = (&pre.name, &pre.version);
    let tmp = tempfile_dir()?;
    let mut verified = Vec::new();
    for d in pre.info["destinations"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let dname = d["name"].as_str().unwrap_or_default();
        let url = a
            .urls
            .iter()
            .find_map(|u| u.strip_prefix(&format!("{dname}=")).map(str::to_string))
            .unwrap_or_else(|| d["url"].as_str().unwrap_or_default().to_string());
        match d["kind"].as_str() {
            Some("mirror") => {
                let root = url.strip_prefix("file://").unwrap_or(&url);
                let dir = format!("{root}/releases/{name}/{version}");
                let pol = format!("{root}/keys");
                relsign(bin, &["verify", &dir, "--policy", &pol, "--no-state"])?;
                // The trust anchor is ours: the mirror's copy of the policy must verify too.
                relsign(bin, &["verify", &dir, "--policy", policy_s, "--no-state"])?;
            }
            Some("oci") => {
                let reference = format!("docker://{url}:{version}");
                relsign(
                    bin,
                    &["verify", &reference, "--policy", policy_s, "--no-state"],
                )?;
            }
            Some("pypi") => verify_from_index(bin, out, &d, &url, &tmp.join(dname), policy_s)?,
            _ => {}
        }
        verified.push(format!("{dname} ({})", d["kind"].as_str().unwrap_or("?")));
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(verified)
}

/// What was released, from where, its artifacts' digests and the long stages.
fn summary(pre: &Preflight, out: &Path, verified: &[String]) -> Result<()> {
    let (name, version, head) = (&pre.name, &pre.version, &pre.head);
    let out_s = out.to_string_lossy().into_owned();
    println!("released {name} {version} from {head}");
    println!("  release dir: {out_s}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("release.json"))?)?;
    for art in manifest["artifacts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        println!(
            "  {}  {}",
            art["sha256"].as_str().unwrap_or_default(),
            art["file"].as_str().unwrap_or_default()
        );
    }
    println!("  published and verified from: {}", verified.join(", "));
    println!(
        "  stages of a minute or more (total {}):",
        super::clock(super::elapsed())
    );
    for line in super::stage_times(std::time::Duration::from_secs(60)) {
        println!("  {line}");
    }
    Ok(())
}

fn tempfile_dir() -> Result<PathBuf> {
    let d = std::env::temp_dir().join(format!("relsign-xtask-release-{}", std::process::id()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

/// What pip would install: download the sdist and wheel from the index with pip itself, put
/// them beside the release's signed metadata, and verify each.
fn verify_from_index(
    bin: &Path,
    release: &Path,
    d: &serde_json::Value,
    upload_url: &str,
    dir: &Path,
    policy: &str,
) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let simple = d["index_url"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| format!("{}/simple/", upload_url.trim_end_matches('/')));
    std::fs::copy(release.join("release.json"), dir.join("release.json"))?;
    for sub in ["attestations", "sbom", "test-results"] {
        let from = release.join(sub);
        if from.is_dir() {
            copy_dir(&from, &dir.join(sub))?;
        }
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(release.join("release.json"))?)?;
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    for art in manifest["artifacts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let kind = art["kind"].as_str().unwrap_or_default();
        if kind != "sdist" && kind != "wheel" {
            continue;
        }
        let file = art["file"].as_str().unwrap_or_default();
        let pkg = art["package"].as_str().unwrap_or_default();
        // Fetched as an installer would: the project page of the simple index, then the
        // file it links (Python's urllib honours the proxy variables).
        super::run(
            Command::new(&python)
                .args(["-c", FETCH_FROM_INDEX, &simple, pkg, file])
                .arg(dir),
        )?;
        let path = dir.join(file);
        if !path.is_file() {
            bail!("{simple}: pip did not download {file}");
        }
        super::run(Command::new(bin).arg("verify").arg(&path).args([
            "--policy",
            policy,
            "--no-state",
        ]))?;
    }
    Ok(())
}

/// Download FILE of PROJECT from a PEP 503 index into DIR (argv: index, project, file, dir).
const FETCH_FROM_INDEX: &str = r##"
import html.parser, os, re, sys, urllib.parse, urllib.request
index, project, name, out = sys.argv[1:5]
page = urllib.parse.urljoin(index if index.endswith("/") else index + "/", re.sub(r"[-_.]+", "-", project).lower() + "/")
class Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(); self.hrefs = []
    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.hrefs += [v for k, v in attrs if k == "href"]
p = Links(); p.feed(urllib.request.urlopen(page).read().decode())
for h in p.hrefs:
    url = urllib.parse.urljoin(page, h).split("#")[0]
    if urllib.parse.unquote(url.rsplit("/", 1)[-1]) == name:
        with open(os.path.join(out, name), "wb") as f:
            f.write(urllib.request.urlopen(url).read())
        sys.exit(0)
sys.exit(f"{page} does not list {name}")
"##;

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let t = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &t)?;
        } else {
            std::fs::copy(e.path(), &t)?;
        }
    }
    Ok(())
}
