//! `relsign publish`: arguments, preflight, plan, execute, report.

use crate::print_json;
use anyhow::{bail, Context, Result};
use clap::Args;
use relsign::http::{redact, Client};
use relsign::publish::journal::Journal;
use relsign::publish::plan::{self, Destination, Gen, ReleaseDir};
use relsign::publish::run::{self, Outcome, RunOptions};
use relsign::recipe::Recipe;
use relsign::report::Reporter;
use relsign::verify::{self, VerifyOptions};
use relsign::Error;
use std::path::{Path, PathBuf};

/// Publish a signed release to the recipe's destinations (`[[publish]]`): PyPI-style indexes,
/// OCI registries, static mirrors.
///
/// The release must verify against the trust policy before anything is named: the check runs
/// beside the first uploads of a registry's blobs (content-addressed, named by nothing until a
/// manifest points at them), and no manifest, tag, index upload or mirror file is sent before
/// it passes. Each destination gets blobs first, then manifests, then signatures and
/// attestations, then tags and index pages, so a reader never sees a tag or page that points
/// at missing content. Every step is
/// recorded in a journal (RELEASE/.relsign-publish/journal.jsonl): a re-run after a failure or
/// a kill resumes, and skips what is already there. At the end every destination is read back
/// and its digests compared. Credentials come from `credentials = "env:VAR"` / `"file:PATH"` in
/// the recipe, or $RELSIGN_PUBLISH_<NAME>; they never appear in output.
///
/// Exit codes: 0 published and read back; 1 a destination holds other bytes under our name or
/// does not serve back what was pushed, or the release does not verify; 2 any other error.
///
/// Examples:
///   relsign publish target/demo/release --dry-run
///   relsign publish target/demo/release --to mirror --url mirror=/srv/mirror
///   RELSIGN_PUBLISH_PYPI=__token__:pypi-… relsign publish dist/release --to pypi
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct PublishArgs {
    /// The signed release directory.
    pub release: PathBuf,
    /// Publish to this destination only (repeatable) [default: all].
    #[arg(long = "to", value_name = "NAME")]
    pub to: Vec<String>,
    /// Print the plan (and what the journal already records); send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: also check that every destination answers and accepts the credentials.
    #[arg(long, requires = "dry_run")]
    pub ping: bool,
    /// Take the destinations from this recipe instead of the release's own copy.
    #[arg(long, value_name = "FILE")]
    pub recipe: Option<PathBuf>,
    /// Override a destination's URL (repeatable), e.g. --url hub=http://127.0.0.1:5000/x/y.
    #[arg(long = "url", value_name = "NAME=URL")]
    pub urls: Vec<String>,
    /// The trust policy the release must verify against; a mirror gets a copy of it.
    #[arg(long, value_name = "DIR", default_value = "keys")]
    pub policy: PathBuf,
    /// The journal [default: RELEASE/.relsign-publish/journal.jsonl].
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// Skip reading every destination back after the push.
    #[arg(long)]
    pub no_read_back: bool,
}

/// The destinations selected by `--to`, with `--url` overrides applied. `release_copy`: the
/// recipe is the release's own copy (RELEASE/inputs/), where a relative mirror path would
/// point inside the release directory, so one must come from `--recipe` or `--url`.
pub fn destinations(
    recipe: &Recipe,
    to: &[String],
    urls: &[String],
    release_copy: bool,
) -> Result<Vec<Destination>> {
    let specs = &recipe.file.publish;
    if specs.is_empty() {
        bail!(
            "{}: no [[publish]] destinations (see README, \"Publishing\")",
            recipe.path.display()
        );
    }
    let names = || {
        specs
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut overrides = std::collections::BTreeMap::new();
    for u in urls {
        let Some((n, url)) = u.split_once('=') else {
            bail!("--url {u:?}: expected NAME=URL");
        };
        if !specs.iter().any(|s| s.name == n) {
            bail!(
                "--url {n}=…: no destination named {n:?} (have: {})",
                names()
            );
        }
        let kind = specs
            .iter()
            .find(|s| s.name == n)
            .map(|s| s.kind.as_str())
            .unwrap_or("");
        if let Err(why) = relsign::recipe::check_destination_url(kind, url) {
            bail!("--url {n}=…: {why}");
        }
        overrides.insert(n.to_string(), url.to_string());
    }
    for n in to {
        if !specs.iter().any(|s| &s.name == n) {
            return Err(plan::PlanError::UnknownDestination(n.clone(), names()).into());
        }
    }
    if release_copy {
        for (i, sp) in specs.iter().enumerate() {
            let chosen = to.is_empty() || to.contains(&sp.name);
            let relative = !plan::mirror_root(&sp.url).is_absolute();
            if chosen && sp.kind == "mirror" && relative && !overrides.contains_key(&sp.name) {
                bail!(
                    "{}: publish[{i}].url = {:?} is relative to the recipe's directory, and this is the release's copy of the recipe: give --recipe (the recipe in your checkout) or --url {}=DIR",
                    recipe.path.display(),
                    sp.url,
                    sp.name
                );
            }
        }
    }
    // Primaries first, then fallbacks, each in recipe order.
    let mut out: Vec<Destination> = specs
        .iter()
        .filter(|s| to.is_empty() || to.contains(&s.name))
        .map(|s| Destination::from_spec(s, overrides.get(&s.name).map(String::as_str), &recipe.dir))
        .collect();
    out.sort_by_key(|d| d.role != "primary");
    Ok(out)
}

/// The release must not be marked as not a release (checked before anything is sent).
fn refuse_marked(dir: &Path) -> Result<()> {
    if relsign::reldir::is_marked(dir) {
        return Err(Error::verification(
            format!(
                "{}: {} is present: the release gate failed; nothing is published",
                dir.display(),
                relsign::reldir::NOT_A_RELEASE
            ),
            serde_json::json!({"check": "release"}),
        )
        .into());
    }
    Ok(())
}

/// The release must be a signed release that verifies against the policy.
fn verify_release(dir: &Path, policy: &Path, r: &dyn Reporter) -> Result<()> {
    r.step(&format!(
        "verifying {} against {} (nothing is named before it passes)",
        dir.display(),
        policy.display()
    ));
    let o = VerifyOptions {
        policy_dir: policy.to_path_buf(),
        expect_source: vec![],
        expect_version: None,
        allow_downgrade: true,
        state_file: None,
        strict: true,
        now: relsign::time::now(),
        log: None,
    };
    match verify::verify(dir, &o, r) {
        Ok(_) => Ok(()),
        Err(verify::VerifyError::Refused { check, reason }) => Err(Error::verification(
            format!("the release does not verify, nothing is published: check `{check}` failed: {reason}"),
            serde_json::json!({"check": check}),
        )
        .into()),
        Err(e) => Err(e.into()),
    }
}

pub fn run(a: PublishArgs, json: bool, r: &dyn Reporter) -> Result<()> {
    // The HTTP client loads the platform's trust store (every certificate, tens of
    // milliseconds), which would stand before the first upload: it is built beside the plan.
    std::thread::scope(|sc| {
        let client = sc.spawn(Client::for_publish);
        let client = move || -> Result<Client> {
            Ok(client
                .join()
                .map_err(|_| anyhow::anyhow!("building the HTTP client panicked"))??)
        };
        publish(&a, json, client, r)
    })
}

/// `publish` with its HTTP client from `client` (asked for once the plan is made).
fn publish(
    a: &PublishArgs,
    json: bool,
    client: impl FnOnce() -> Result<Client>,
    r: &dyn Reporter,
) -> Result<()> {
    let rel = ReleaseDir::open(&a.release)?;
    let recipe_path = match &a.recipe {
        Some(p) => p.clone(),
        None => a.release.join(&rel.manifest.recipe.path),
    };
    let recipe = Recipe::load(&recipe_path)
        .with_context(|| format!("reading the destinations from {}", recipe_path.display()))?;
    let dests = destinations(&recipe, &a.to, &a.urls, a.recipe.is_none())?;
    // Credentials are resolved up front: a missing one fails before anything is sent.
    for d in &dests {
        relsign::publish::Credentials::resolve(d.credentials.as_deref(), &d.name)?;
    }
    refuse_marked(&a.release)?;
    let work = a.release.join(".relsign-publish");
    let gen = Gen::new(work.join("gen"));
    let plan = plan::plan(&rel, &dests, Some(&a.policy), &gen)?;
    let journal_path = a
        .journal
        .clone()
        .unwrap_or_else(|| work.join("journal.jsonl"));
    if a.dry_run {
        verify_release(&a.release, &a.policy, r)?;
        let mut t = client()?;
        // As Client::for_ping: a destination that is down is reported in a second.
        t.attempts = t.attempts.min(2);
        return dry_run(a, &plan, &dests, &journal_path, &t, json, r);
    }
    let mut journal = Journal::open(Some(&journal_path))?;
    let t = client()?;
    let mut opts = RunOptions::from_env();
    opts.read_back = !a.no_read_back;
    // The verification runs beside the first blob uploads; every step that names or points at
    // content waits for its verdict (run::Verdict).
    let verdict = run::Verdict::default();
    let (verified, report) = std::thread::scope(|sc| {
        let v = sc.spawn(|| {
            let _guard = verdict.fail_unless_set();
            let res = verify_release(&a.release, &a.policy, r);
            verdict.set(res.is_ok());
            res
        });
        let report = run::execute(&plan, &mut journal, &t, &opts, &verdict, r);
        let verified = v
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the verification of the release panicked")));
        (verified, report)
    });
    verified?;
    if json {
        // On failure the error (with the resume command) is the JSON document main prints.
        if report.ok {
            print_json(serde_json::to_value(&report)?);
        }
    } else {
        print_report(&report);
    }
    failures(a, &report)
}

/// `--dry-run`: the plan, what the journal already records, and with `--ping` whether every
/// destination answers.
fn dry_run(
    a: &PublishArgs,
    plan: &plan::Plan,
    dests: &[Destination],
    journal_path: &Path,
    t: &Client,
    json: bool,
    r: &dyn Reporter,
) -> Result<()> {
    let journal = Journal::open(journal_path.exists().then_some(journal_path))?;
    let mut pings = Vec::new();
    if a.ping {
        for d in dests {
            let res = relsign::publish::run::ping(d, t, r);
            pings.push((d.name.clone(), res.map_err(|e| e.to_string())));
        }
    }
    if json {
        print_json(serde_json::json!({
            "ok": pings.iter().all(|(_, p)| p.is_ok()),
            "dry_run": true,
            "plan": plan,
            "ping": pings.iter().map(|(n, p)| serde_json::json!({"destination": n, "ok": p.is_ok(), "error": p.as_ref().err()})).collect::<Vec<_>>(),
        }));
    } else {
        print_plan(plan, &journal);
        for (n, p) in &pings {
            match p {
                Ok(()) => outln!("  reachable: {n}"),
                Err(e) => outln!("  UNREACHABLE: {n}: {e}"),
            }
        }
    }
    if let Some((n, Err(e))) = pings.iter().find(|(_, p)| p.is_err()) {
        bail!("destination {n} is not reachable: {e}");
    }
    Ok(())
}

/// The plan as text, with the steps the journal records as done counted.
fn print_plan(plan: &plan::Plan, journal: &Journal) {
    outln!(
        "plan: publish {} {} to {} destination(s)",
        plan.release,
        plan.version,
        plan.destinations.len()
    );
    for dp in &plan.destinations {
        let done = dp
            .steps
            .iter()
            .filter(|s| journal.is_done(&dp.record(s)))
            .count();
        outln!(
            "  {} ({}, {}) {}: {} step(s){}",
            dp.dest.name,
            dp.dest.kind,
            dp.dest.role,
            redact(&dp.dest.url),
            dp.steps.len(),
            if done > 0 {
                format!(", {done} already done (journal)")
            } else {
                String::new()
            }
        );
        for s in &dp.steps {
            outln!(
                "    {:<10} {}",
                format!("{:?}", s.phase).to_lowercase(),
                s.describe()
            );
        }
    }
}

/// One line per destination: what was done, or why it failed.
fn print_report(report: &run::PublishReport) {
    for d in &report.destinations {
        let count = |o: Outcome| d.steps.iter().filter(|s| s.outcome == o).count();
        match &d.error {
            None => outln!(
                "published to {} ({}): {} done{}, {} already there, {} resumed from the journal; {}",
                d.name,
                d.url,
                count(Outcome::Done) + count(Outcome::Mounted),
                match count(Outcome::Mounted) {
                    0 => String::new(),
                    n => format!(" ({n} blob(s) mounted from another repository)"),
                },
                count(Outcome::Present),
                count(Outcome::Journaled),
                d.read_back.as_deref().unwrap_or("not read back")
            ),
            Some(e) => outln!("FAILED   {} ({}): {e}", d.name, d.url),
        }
    }
}

/// The error for the destinations that failed, with the command that resumes them (a
/// refusal exits 1); none when every destination was published.
fn failures(a: &PublishArgs, report: &run::PublishReport) -> Result<()> {
    let failed: Vec<&run::DestReport> = report
        .destinations
        .iter()
        .filter(|d| d.error.is_some())
        .collect();
    if failed.is_empty() {
        return Ok(());
    }
    let resume = resume_command(a, failed.iter().map(|d| d.name.as_str()));
    let msg = format!(
        "{} of {} destination(s) failed: {}; fix the cause and resume with: {resume}",
        failed.len(),
        report.destinations.len(),
        failed
            .iter()
            .map(|d| format!("{}: {}", d.name, d.error.as_deref().unwrap_or("")))
            .collect::<Vec<_>>()
            .join("; ")
    );
    if failed.iter().any(|d| d.refusal) {
        return Err(Error::verification(msg, serde_json::json!({"resume": resume})).into());
    }
    bail!(msg)
}

/// List a recipe's publish destinations (with `--url` overrides applied) and, with `--ping`,
/// check that each answers and accepts its credentials.
///
/// Examples:
///   relsign destinations recipes/demo.toml
///   relsign destinations recipes/demo.toml --ping --url hub=http://127.0.0.1:5000/relsign/demo
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct DestinationsArgs {
    /// The recipe whose [[publish]] entries to list.
    pub recipe: PathBuf,
    /// Only these destinations (repeatable) [default: all].
    #[arg(long = "to", value_name = "NAME")]
    pub to: Vec<String>,
    /// Override a destination's URL (repeatable).
    #[arg(long = "url", value_name = "NAME=URL")]
    pub urls: Vec<String>,
    /// Check that every destination answers and accepts the credentials.
    #[arg(long)]
    pub ping: bool,
}

pub fn destinations_cmd(a: DestinationsArgs, json: bool, r: &dyn Reporter) -> Result<()> {
    let recipe = Recipe::load(&a.recipe)?;
    let dests = destinations(&recipe, &a.to, &a.urls, false)?;
    let t = Client::for_ping()?;
    let mut rows = Vec::new();
    let mut bad = Vec::new();
    for d in &dests {
        let ping = if a.ping {
            let res = relsign::publish::Credentials::resolve(d.credentials.as_deref(), &d.name)
                .map_err(|e| e.to_string())
                .and_then(|_| run::ping(d, &t, r).map_err(|e| e.to_string()));
            if let Err(e) = &res {
                bad.push(format!("{}: {e}", d.name));
            }
            Some(res)
        } else {
            None
        };
        rows.push((d, ping));
    }
    if json {
        print_json(serde_json::json!({
            "ok": bad.is_empty(),
            "release": recipe.file.release.name,
            "version": recipe.file.release.version,
            "destinations": rows.iter().map(|(d, p)| serde_json::json!({
                "name": d.name, "kind": d.kind, "url": redact(&d.url), "role": d.role,
                "index_url": d.index_url.as_deref().map(redact),
                "reachable": p.as_ref().map(|p| p.is_ok()),
                "error": p.as_ref().and_then(|p| p.as_ref().err()),
            })).collect::<Vec<_>>(),
        }));
    } else {
        for (d, p) in &rows {
            let status = match p {
                None => String::new(),
                Some(Ok(())) => "  reachable".into(),
                Some(Err(e)) => format!("  UNREACHABLE: {e}"),
            };
            outln!(
                "{:<12} {:<7} {:<9} {}{status}",
                d.name,
                d.kind.to_string(),
                d.role,
                redact(&d.url)
            );
        }
    }
    if !bad.is_empty() {
        bail!("unreachable destination(s): {}", bad.join("; "));
    }
    Ok(())
}

/// The command that resumes a failed publish: the same release, recipe, policy, journal and
/// URL overrides, for the destinations that failed.
fn resume_command<'a>(a: &PublishArgs, failed: impl Iterator<Item = &'a str>) -> String {
    let mut words = vec![
        "relsign".to_string(),
        "publish".into(),
        shell_word(&a.release),
    ];
    let failed: Vec<&str> = failed.collect();
    for n in &failed {
        words.extend(["--to".into(), shell_word(n)]);
    }
    if let Some(r) = &a.recipe {
        words.extend(["--recipe".into(), shell_word(r)]);
    }
    for u in &a.urls {
        if failed.iter().any(|n| u.starts_with(&format!("{n}="))) {
            words.extend(["--url".into(), shell_word(u)]);
        }
    }
    if a.policy != Path::new("keys") {
        words.extend(["--policy".into(), shell_word(&a.policy)]);
    }
    if let Some(j) = &a.journal {
        words.extend(["--journal".into(), shell_word(j)]);
    }
    if a.no_read_back {
        words.push("--no-read-back".into());
    }
    words.join(" ")
}

/// A word as a POSIX shell reads it back: bare when it is plain, else in single quotes.
fn shell_word(w: impl AsRef<std::ffi::OsStr>) -> String {
    let w = w.as_ref().to_string_lossy();
    if !w.is_empty()
        && w.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@+%".contains(&b))
    {
        w.into_owned()
    } else {
        format!("'{}'", w.replace('\'', "'\\''"))
    }
}
