//! Executing a publish plan: each destination's steps in order, skipping what the journal
//! records, recording each step once it is done, then reading the destination back.

use super::journal::{Journal, Record};
use super::plan::{mirror_root, Action, DestPlan, Kind, Plan, PlanError, Step};
use super::{pypi, registry, CredentialError, Credentials};
use crate::digest::Sha256Hex;
use crate::fsutil::{self, FsError};
use crate::http::{redact, Client, HttpError};
use crate::report::Reporter;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error(transparent)]
    Pypi(#[from] pypi::PypiError),
    #[error(transparent)]
    Registry(#[from] registry::RegistryError),
    #[error("mirror {root}: {rel} exists with other bytes: sha256 expected={expected}, got={got}")]
    MirrorConflict {
        root: PathBuf,
        rel: String,
        expected: Sha256Hex,
        got: Sha256Hex,
    },
    #[error("{dest}: read-back failed: {reason}")]
    ReadBack { dest: String, reason: String },
    #[error(
        "the release did not verify: no manifest, tag, index upload or mirror file was \
         published (blobs already uploaded are named by nothing)"
    )]
    Unverified,
}

impl PublishError {
    /// A refusal (exit 1): the destination holds other bytes under our name, or does not
    /// serve back what was pushed.
    pub fn is_refusal(&self) -> bool {
        match self {
            PublishError::MirrorConflict { .. }
            | PublishError::ReadBack { .. }
            | PublishError::Unverified => true,
            PublishError::Pypi(e) => e.is_conflict(),
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The journal says it is done.
    Journaled,
    /// The destination already had it.
    Present,
    /// Done now.
    Done,
    /// A blob the registry linked from another repository it holds (a cross-repository mount).
    Mounted,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub step: String,
    pub action: &'static str,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Serialize)]
pub struct DestReport {
    pub name: String,
    pub kind: Kind,
    pub url: String,
    pub role: String,
    pub steps: Vec<StepReport>,
    pub read_back: Option<String>,
    pub error: Option<String>,
    #[serde(skip)]
    pub refusal: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct PublishReport {
    pub ok: bool,
    pub release: String,
    pub version: String,
    pub destinations: Vec<DestReport>,
}

pub struct RunOptions {
    /// Read every destination back after pushing (default on).
    pub read_back: bool,
    /// Test hook: SIGKILL this process after this many steps have been executed (their side
    /// effect done, not yet journaled). From `RELSIGN_PUBLISH_KILL_AFTER`.
    pub kill_after: Option<usize>,
}

impl RunOptions {
    pub fn from_env() -> RunOptions {
        RunOptions {
            read_back: true,
            kill_after: std::env::var("RELSIGN_PUBLISH_KILL_AFTER")
                .ok()
                .and_then(|v| v.parse().ok()),
        }
    }
}

/// The verdict of the verification of the release, which runs beside the first uploads.
/// Only a registry's blobs go up before it is known: they are content-addressed and named by
/// nothing until a manifest points at them. Every other step (manifests, tags, index
/// uploads, mirror files) waits for it, and none runs when the release did not verify.
#[derive(Default)]
pub struct Verdict {
    ok: std::sync::Mutex<Option<bool>>,
    known: std::sync::Condvar,
}

impl Verdict {
    pub fn set(&self, ok: bool) {
        *self.ok.lock().unwrap_or_else(|e| e.into_inner()) = Some(ok);
        self.known.notify_all();
    }

    /// Block until the verdict is known; true when the release verified.
    pub fn wait(&self) -> bool {
        let mut g = self.ok.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            match *g {
                Some(ok) => return ok,
                None => g = self.known.wait(g).unwrap_or_else(|e| e.into_inner()),
            }
        }
    }

    /// A guard that sets the verdict to "did not verify" when dropped before it was set (a
    /// verification that panicked must not leave the uploads waiting).
    pub fn fail_unless_set(&self) -> impl Drop + '_ {
        struct Guard<'v>(&'v Verdict);
        impl Drop for Guard<'_> {
            fn drop(&mut self) {
                let mut g = self.0.ok.lock().unwrap_or_else(|e| e.into_inner());
                if g.is_none() {
                    *g = Some(false);
                    self.0.known.notify_all();
                }
            }
        }
        Guard(self)
    }

    /// Known, and the release did not verify.
    fn failed(&self) -> bool {
        *self.ok.lock().unwrap_or_else(|e| e.into_inner()) == Some(false)
    }

    fn require(&self) -> Result<(), PublishError> {
        match self.wait() {
            true => Ok(()),
            false => Err(PublishError::Unverified),
        }
    }
}

/// One destination's side effects.
trait Target {
    fn run(&mut self, step: &Step, r: &dyn Reporter) -> Result<Outcome, PublishError>;
    fn read_back(&mut self, steps: &[Step], r: &dyn Reporter) -> Result<String, PublishError>;
    /// What the destination was found to hold while the blobs went up (registries only).
    fn learn(&mut self, _known: Known) {}
}

/// Execute `plan`. Destinations are independent: a failure in one is reported and the others
/// still run; the report says which failed and what to re-run.
pub fn execute(
    plan: &Plan,
    journal: &mut Journal,
    t: &Client,
    o: &RunOptions,
    verdict: &Verdict,
    r: &dyn Reporter,
) -> PublishReport {
    let mut executed = 0usize;
    let mut reports = Vec::new();
    // Repositories already published in this run: a later destination on the same registry
    // mounts blobs from one instead of uploading them again.
    let mut published: Vec<registry::RepoRef> = Vec::new();
    for dp in &plan.destinations {
        r.step(&format!(
            "publish to {} ({}, {}): {}",
            dp.dest.name,
            dp.dest.kind,
            dp.dest.role,
            redact(&dp.dest.url)
        ));
        let mut rep = DestReport {
            name: dp.dest.name.clone(),
            kind: dp.dest.kind,
            url: redact(&dp.dest.url),
            role: dp.dest.role.clone(),
            steps: Vec::new(),
            read_back: None,
            error: None,
            refusal: false,
        };
        // A registry destination's repository, parsed once (registries.conf is read for it).
        let repo = match (dp.dest.kind == Kind::Oci)
            .then(|| registry::parse_repository(&dp.dest.url))
            .transpose()
        {
            Ok(repo) => repo,
            Err(e) => {
                let e = PublishError::from(e);
                rep.error = Some(e.to_string());
                r.warn(&format!("{}: {e}", dp.dest.name));
                reports.push(rep);
                continue;
            }
        };
        let mount_from = repo.as_ref().and_then(|me| {
            published
                .iter()
                .find(|p| {
                    p.scheme == me.scheme
                        && p.registry == me.registry
                        && p.repository != me.repository
                })
                .map(|p| p.repository.clone())
        });
        let res = run_dest(
            dp,
            repo.as_ref(),
            mount_from.as_deref(),
            journal,
            t,
            o,
            verdict,
            r,
            &mut executed,
            &mut rep,
        );
        let unverified = matches!(res, Err(PublishError::Unverified));
        match res {
            Ok(()) => published.extend(repo),
            Err(e) => {
                rep.refusal = e.is_refusal();
                rep.error = Some(e.to_string());
                r.warn(&format!("{}: {e}", dp.dest.name));
            }
        }
        reports.push(rep);
        if unverified {
            // No other destination gets anything either.
            break;
        }
    }
    PublishReport {
        ok: reports.iter().all(|d| d.error.is_none()),
        release: plan.release.clone(),
        version: plan.version.clone(),
        destinations: reports,
    }
}

#[allow(clippy::too_many_arguments)]
fn run_dest(
    dp: &DestPlan,
    repo: Option<&registry::RepoRef>,
    mount_from: Option<&str>,
    journal: &mut Journal,
    t: &Client,
    o: &RunOptions,
    verdict: &Verdict,
    r: &dyn Reporter,
    executed: &mut usize,
    rep: &mut DestReport,
) -> Result<(), PublishError> {
    let d = &dp.dest;
    let creds = Credentials::resolve(d.credentials.as_deref(), &d.name)?;
    let mut target = make_target(d, repo, creds.clone(), t);
    let total = dp.steps.len();
    // A registry's blobs, and then the signature manifests, go up concurrently (each worker
    // with its own connection and token); everything else keeps its order.
    let mut pushed: std::collections::BTreeMap<usize, Outcome> = Default::default();
    let mut known = Known::default();
    for (i, step) in dp.steps.iter().enumerate() {
        let rec = dp.record(step);
        let blob = repo.is_some() && parallel_group(step) == Some(0);
        if !blob {
            verdict.require()?;
        }
        let outcome = if let Some(out) = pushed.get(&i) {
            // Done by a worker of this run (and journaled as it finished).
            *out
        } else if journal.is_done(&rec) {
            Outcome::Journaled
        } else {
            if let (Some(g), Some(repo)) = (parallel_group(step), repo) {
                let group = Group {
                    dp,
                    from: i,
                    group: g,
                    repo,
                    creds: &creds,
                    mount_from,
                    verdict,
                    known: &known,
                };
                let (outcomes, learned) = group.push(journal, t, o, r, executed)?;
                pushed.extend(outcomes);
                if let Some(learned) = learned {
                    target.learn(learned.clone());
                    known = learned;
                }
            }
            match pushed.get(&i) {
                // Done by a worker just now, and journaled as it finished.
                Some(out) => *out,
                None => {
                    r.info(&format!("[{}/{total}] {}", i + 1, step.describe()));
                    let out = target.run(step, r)?;
                    journal_step(executed, o, journal, rec)?;
                    out
                }
            }
        };
        rep.steps.push(StepReport {
            step: step.describe(),
            action: step.kind(),
            outcome,
        });
    }
    if o.read_back {
        rep.read_back = Some(read_back(&mut *target, dp, journal, r)?);
    }
    Ok(())
}

/// The side effects of destination `d`.
fn make_target<'t>(
    d: &super::plan::Destination,
    repo: Option<&registry::RepoRef>,
    creds: Option<Credentials>,
    t: &'t Client,
) -> Box<dyn Target + 't> {
    match d.kind {
        Kind::Pypi => Box::new(PypiTarget {
            index: pypi::Index::new(&d.url, d.index_url.as_deref(), creds, t),
        }),
        Kind::Oci => Box::new(OciTarget {
            reg: registry::Registry::new(
                repo.cloned()
                    .expect("execute parses every registry destination's repository"),
                creds,
                t,
            ),
            known: Known::default(),
        }),
        Kind::Mirror => Box::new(MirrorTarget {
            root: mirror_root(&d.url),
        }),
    }
}

/// The registry steps that go up concurrently: blobs (group 0), then signature manifests
/// (group 1).
fn parallel_group(step: &Step) -> Option<u8> {
    match (&step.action, step.phase) {
        (Action::Blob { .. }, _) => Some(0),
        (Action::Manifest { .. }, super::plan::Phase::Signatures) => Some(1),
        _ => None,
    }
}

/// The steps of one parallel group from step `from` on, at a registry destination.
struct Group<'a> {
    dp: &'a DestPlan,
    from: usize,
    group: u8,
    repo: &'a registry::RepoRef,
    creds: &'a Option<Credentials>,
    mount_from: Option<&'a str>,
    verdict: &'a Verdict,
    known: &'a Known,
}

impl Group<'_> {
    /// Push the group's steps the journal does not record, with [`push_parallel`]; each is
    /// journaled as it finishes. Outcome per step index. Beside the blobs (group 0), the
    /// registry is asked what it holds of the later steps ([`Known::probe`]), returned second.
    fn push(
        &self,
        journal: &mut Journal,
        t: &Client,
        o: &RunOptions,
        r: &dyn Reporter,
        executed: &mut usize,
    ) -> Result<(std::collections::BTreeMap<usize, Outcome>, Option<Known>), PublishError> {
        let steps = &self.dp.steps;
        let todo: Vec<usize> = (self.from..steps.len())
            .filter(|&j| {
                parallel_group(&steps[j]) == Some(self.group)
                    && !journal.is_done(&self.dp.record(&steps[j]))
            })
            .collect();
        let bytes: u64 = todo
            .iter()
            .map(|&j| match &steps[j].action {
                Action::Blob { size, .. } => *size,
                _ => 0,
            })
            .sum();
        r.info(&if self.group == 0 {
            format!(
                "{} blob(s), {:.1} MiB, {WORKERS} at a time",
                todo.len(),
                bytes as f64 / (1u64 << 20) as f64
            )
        } else {
            format!("{} signature manifest(s), {WORKERS} at a time", todo.len())
        });
        let later: Vec<&Step> = steps[self.from..]
            .iter()
            .filter(|s| parallel_group(s) != Some(0) && !journal.is_done(&self.dp.record(s)))
            .collect();
        // Journaled one by one as the workers finish them.
        let mut done = |j: usize| journal_step(executed, o, journal, self.dp.record(&steps[j]));
        std::thread::scope(|sc| {
            let probe = (self.group == 0 && !later.is_empty()).then(|| {
                sc.spawn(|| {
                    let reg = registry::Registry::new(self.repo.clone(), self.creds.clone(), t);
                    Known::probe(&reg, &later)
                })
            });
            let pushed = push_parallel(
                steps,
                &todo,
                self.repo,
                self.creds,
                self.mount_from,
                self.verdict,
                self.known,
                t,
                r,
                &mut done,
            )?;
            // A probe that panicked taught nothing: every step asks for itself.
            Ok((pushed, probe.map(|h| h.join().unwrap_or_default())))
        })
    }
}

/// What a registry was found to hold, asked while the blobs go up, so that the steps after
/// them (manifests, the referrers index, tags) each cost one request instead of two.
/// Only reads, and only what a step would have read itself just before writing: a manifest or
/// tag found serving our bytes is not sent again; one found absent or different is sent.
/// Anything the probe could not learn (an error, a lost probe) is asked again by its step.
/// Read-back still checks every reference afterwards.
#[derive(Default, Clone)]
struct Known {
    /// reference (`sha256:…` or a tag) -> the registry serves exactly the planned bytes.
    ours: std::collections::HashMap<String, bool>,
    /// subject -> the registry has the referrers API.
    referrers_api: std::collections::HashMap<Sha256Hex, bool>,
}

impl Known {
    /// Ask `reg` about `steps`, quietly: a failed question is left to its step.
    fn probe(reg: &registry::Registry<'_>, steps: &[&Step]) -> Known {
        let mut k = Known::default();
        let quiet = crate::report::Silent;
        for step in steps {
            let (reference, digest) = match &step.action {
                Action::Manifest { digest, .. } => (format!("sha256:{digest}"), digest),
                Action::Tag { tag, digest, .. } => (tag.clone(), digest),
                Action::ReferrersIndex { subject, .. } => {
                    if let Ok(api) = reg.referrers_api(subject, &quiet) {
                        k.referrers_api.insert(subject.clone(), api.is_some());
                    }
                    continue;
                }
                _ => continue,
            };
            // The planned bytes are the ones whose sha256 is `digest` (their step checks the
            // file against it before sending), so the served bytes are compared by digest.
            if let Ok(served) = reg.get_manifest(&reference, &quiet) {
                let ours = matches!(served, Some((_, b)) if Sha256Hex::of(&b) == *digest);
                k.ours.insert(reference, ours);
            }
        }
        k
    }
}

/// Read the destination back. When it does not serve what the journal vouched for, the
/// journal's records of it are dropped, so a re-run pushes everything again (each push first
/// checks what the destination has).
fn read_back(
    target: &mut dyn Target,
    dp: &DestPlan,
    journal: &mut Journal,
    r: &dyn Reporter,
) -> Result<String, PublishError> {
    let d = &dp.dest;
    r.info(&format!("{}: reading back", d.name));
    match target.read_back(&dp.steps, r) {
        Ok(s) => Ok(s),
        Err(e) => {
            journal.forget(&d.name)?;
            let reason = match e {
                PublishError::ReadBack { reason, .. } => reason,
                other => other.to_string(),
            };
            Err(PublishError::ReadBack {
                dest: d.name.clone(),
                reason: format!(
                    "{reason}; the journal's records for {} were dropped, so a re-run pushes what is missing",
                    d.name
                ),
            })
        }
    }
}

/// Registry steps in flight at once. Small blobs cost the registry a few round trips each
/// (HEAD, POST, PUT); this many keeps a loopback registry busy without starving the one that
/// carries a layer.
const WORKERS: usize = 6;

/// Run the registry steps `todo` (blobs, or manifests whose blobs are all there) with a few
/// workers; outcome per step index. `done` is called on this thread as each step completes
/// (the caller journals it there, so a kill mid-group loses only the steps in flight). The
/// first error (in step order) is returned. No new step starts once the release is known not
/// to verify.
#[allow(clippy::too_many_arguments)]
fn push_parallel(
    steps: &[Step],
    todo: &[usize],
    repo: &registry::RepoRef,
    creds: &Option<Credentials>,
    mount_from: Option<&str>,
    verdict: &Verdict,
    known: &Known,
    t: &Client,
    r: &dyn Reporter,
    done: &mut dyn FnMut(usize) -> Result<(), PublishError>,
) -> Result<std::collections::BTreeMap<usize, Outcome>, PublishError> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let mut results: std::collections::BTreeMap<usize, Result<Outcome, PublishError>> =
        Default::default();
    std::thread::scope(|sc| {
        let (tx, rx) = std::sync::mpsc::channel::<(usize, Result<Outcome, PublishError>)>();
        for _ in 0..WORKERS.min(todo.len()) {
            let tx = tx.clone();
            let next = &next;
            sc.spawn(move || {
                let reg = registry::Registry::new(repo.clone(), creds.clone(), t);
                loop {
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&i) = todo.get(k) else { break };
                    let res = match verdict.failed() {
                        true => Err(PublishError::Unverified),
                        false => oci_step(&reg, &steps[i], mount_from, known, r),
                    };
                    let failed = res.is_err();
                    if tx.send((i, res)).is_err() || failed {
                        // Let the others finish their current step, take no new ones.
                        next.store(todo.len(), Ordering::SeqCst);
                        break;
                    }
                }
            });
        }
        drop(tx);
        for (i, res) in rx {
            let res = match res {
                Ok(o) => {
                    // Each step as it completes: progress on a long layer upload.
                    r.info(&format!(
                        "[{}/{}] {}{}",
                        i + 1,
                        steps.len(),
                        steps[i].describe(),
                        match o {
                            Outcome::Present => ": already there",
                            Outcome::Mounted => ": mounted",
                            _ => "",
                        }
                    ));
                    done(i).map(|()| o)
                }
                Err(e) => Err(e),
            };
            if res.is_err() {
                next.store(todo.len(), Ordering::SeqCst);
            }
            results.insert(i, res);
        }
    });
    let mut out = std::collections::BTreeMap::new();
    for (i, res) in results {
        out.insert(i, res?);
    }
    Ok(out)
}

/// A step's side effect is done: count it (the crash-test hook may kill here, before the
/// record, as a crash between the two would) and journal it.
fn journal_step(
    executed: &mut usize,
    o: &RunOptions,
    journal: &mut Journal,
    rec: Record,
) -> Result<(), PublishError> {
    *executed += 1;
    if o.kill_after == Some(*executed) {
        crate::kill_self();
    }
    journal.record(rec)?;
    Ok(())
}

// ---- PyPI-style index ------------------------------------------------------------------

struct PypiTarget<'a> {
    index: pypi::Index<'a>,
}

impl Target for PypiTarget<'_> {
    fn run(&mut self, step: &Step, r: &dyn Reporter) -> Result<Outcome, PublishError> {
        match &step.action {
            Action::Upload {
                path, sha256, file, ..
            } => {
                // PEP 740: a keyless-signed release's publish statement for this file goes
                // with it (the release directory is where the artifact's path starts).
                let release = path
                    .ancestors()
                    .nth(file.split('/').count())
                    .unwrap_or(Path::new("."));
                let attestations = crate::keyless::pep740::upload_field(release, file, sha256)
                    .map_err(|reason| pypi::PypiError::Artifact {
                        file: file.clone(),
                        reason,
                    })?;
                Ok(match self.index.upload(path, sha256, attestations, r)? {
                    pypi::UploadOutcome::AlreadyPresent => Outcome::Present,
                    _ => Outcome::Done,
                })
            }
            other => unreachable!("not planned for an index: {other:?}"),
        }
    }

    fn read_back(&mut self, steps: &[Step], r: &dyn Reporter) -> Result<String, PublishError> {
        let mut n = 0;
        for s in steps {
            if let Action::Upload {
                project,
                file,
                sha256,
                ..
            } = &s.action
            {
                self.index.read_back(project, file, sha256, r)?;
                n += 1;
            }
        }
        Ok(format!(
            "{n} file(s) downloaded from the index, digests match"
        ))
    }
}

// ---- OCI registry ----------------------------------------------------------------------

struct OciTarget<'a> {
    reg: registry::Registry<'a>,
    known: Known,
}

impl Target for OciTarget<'_> {
    fn run(&mut self, step: &Step, r: &dyn Reporter) -> Result<Outcome, PublishError> {
        oci_step(&self.reg, step, None, &self.known, r)
    }

    fn learn(&mut self, known: Known) {
        self.known = known;
    }

    fn read_back(&mut self, steps: &[Step], r: &dyn Reporter) -> Result<String, PublishError> {
        let fail = |reason: String| PublishError::ReadBack {
            dest: self.reg.name().to_string(),
            reason,
        };
        let (mut blobs, mut manifests) = (0, 0);
        for s in steps {
            match &s.action {
                Action::Blob { digest, .. } => {
                    self.reg.check_blob(digest, r)?;
                    blobs += 1;
                }
                Action::Manifest { digest, .. } => {
                    // get_manifest checks the bytes against the digest reference.
                    if self
                        .reg
                        .get_manifest(&format!("sha256:{digest}"), r)?
                        .is_none()
                    {
                        return Err(fail(format!("manifest sha256:{digest} is missing")));
                    }
                    manifests += 1;
                }
                Action::ReferrersIndex {
                    subject,
                    descriptors,
                } => {
                    let listed = self.reg.list_referrers(subject, r)?;
                    for d in descriptors {
                        if !listed.iter().any(|l| l.digest == d.digest) {
                            return Err(fail(format!(
                                "referrer {} of sha256:{subject} is not listed",
                                d.digest
                            )));
                        }
                    }
                }
                Action::Tag { tag, digest, .. } => {
                    let Some((_, bytes)) = self.reg.get_manifest(tag, r)? else {
                        return Err(fail(format!("tag {tag} is missing")));
                    };
                    let got = Sha256Hex::of(&bytes);
                    if got != *digest {
                        return Err(fail(format!(
                            "tag {tag}: expected=sha256:{digest}, got=sha256:{got}"
                        )));
                    }
                }
                _ => {}
            }
        }
        Ok(format!(
            "{manifests} manifest(s) and {blobs} blob(s) pulled back, digests match; tags and referrers listed"
        ))
    }
}

/// One registry step. Blobs are mounted from `mount_from` (another repository of the same
/// registry) when it is given and the registry agrees. Manifests and tags are checked first
/// (or were, by [`Known::probe`]): a registry that already serves exactly these bytes under the
/// reference is left alone.
fn oci_step(
    reg: &registry::Registry<'_>,
    step: &Step,
    mount_from: Option<&str>,
    known: &Known,
    r: &dyn Reporter,
) -> Result<Outcome, PublishError> {
    Ok(match &step.action {
        Action::Blob { digest, size, path } => {
            match reg.push_blob(digest, *size, path, mount_from, r)? {
                registry::BlobPush::Existed => Outcome::Present,
                registry::BlobPush::Mounted => Outcome::Mounted,
                registry::BlobPush::Uploaded => Outcome::Done,
            }
        }
        Action::Manifest {
            digest,
            media_type,
            path,
        } => {
            let bytes = read_checked(path, digest)?;
            let reference = format!("sha256:{digest}");
            if has_manifest(reg, &reference, &bytes, known, r)? {
                Outcome::Present
            } else {
                reg.put_manifest(&reference, media_type, &bytes, r)?;
                Outcome::Done
            }
        }
        Action::ReferrersIndex {
            subject,
            descriptors,
        } => {
            let api = match known.referrers_api.get(subject) {
                Some(&api) => api,
                None => reg.referrers_api(subject, r)?.is_some(),
            };
            if api {
                // The registry indexes manifests with a subject itself.
                Outcome::Present
            } else {
                reg.merge_fallback_index(subject, descriptors, r)?;
                Outcome::Done
            }
        }
        Action::Tag {
            tag,
            digest,
            media_type,
            path,
        } => {
            let bytes = read_checked(path, digest)?;
            if has_manifest(reg, tag, &bytes, known, r)? {
                Outcome::Present
            } else {
                reg.put_manifest(tag, media_type, &bytes, r)?;
                Outcome::Done
            }
        }
        other => unreachable!("not planned for a registry: {other:?}"),
    })
}

/// The registry already serves exactly these bytes under `reference` (as the probe found, or
/// asked now).
fn has_manifest(
    reg: &registry::Registry<'_>,
    reference: &str,
    bytes: &[u8],
    known: &Known,
    r: &dyn Reporter,
) -> Result<bool, PublishError> {
    if let Some(&ours) = known.ours.get(reference) {
        return Ok(ours);
    }
    Ok(matches!(reg.get_manifest(reference, r)?, Some((_, b)) if b == bytes))
}

fn read_checked(path: &Path, digest: &Sha256Hex) -> Result<Vec<u8>, PublishError> {
    let bytes = fsutil::read(path)?;
    let got = Sha256Hex::of(&bytes);
    if got != *digest {
        return Err(PlanError::Release {
            path: path.to_path_buf(),
            reason: format!("sha256 expected={digest}, got={got} (changed since planning)"),
        }
        .into());
    }
    Ok(bytes)
}

// ---- static mirror ---------------------------------------------------------------------

struct MirrorTarget {
    root: PathBuf,
}

impl MirrorTarget {
    /// Pages and the policy are replaced by newer content; a release's own files never are.
    fn replaceable(rel: &str) -> bool {
        rel.starts_with("simple/")
    }
}

impl Target for MirrorTarget {
    fn run(&mut self, step: &Step, _r: &dyn Reporter) -> Result<Outcome, PublishError> {
        let Action::Copy { rel, sha256, path } = &step.action else {
            unreachable!("not planned for a mirror: {step:?}");
        };
        let dest = self.root.join(rel);
        if dest.is_file() {
            let (got, _) = crate::digest::hash_file(&dest).map_err(fsutil::err("read", &dest))?;
            if got == *sha256 {
                return Ok(Outcome::Present);
            }
            if !Self::replaceable(rel) {
                return Err(PublishError::MirrorConflict {
                    root: self.root.clone(),
                    rel: rel.clone(),
                    expected: sha256.clone(),
                    got,
                });
            }
        }
        let bytes = read_checked(path, sha256)?;
        fsutil::write_atomic(&dest, &bytes)?;
        Ok(Outcome::Done)
    }

    fn read_back(&mut self, steps: &[Step], _r: &dyn Reporter) -> Result<String, PublishError> {
        let mut n = 0;
        for s in steps {
            if let Action::Copy { rel, sha256, .. } = &s.action {
                let p = self.root.join(rel);
                let got = crate::digest::hash_file(&p)
                    .map_err(|e| PublishError::ReadBack {
                        dest: self.root.display().to_string(),
                        reason: format!("{rel}: {e}"),
                    })?
                    .0;
                if got != *sha256 {
                    return Err(PublishError::ReadBack {
                        dest: self.root.display().to_string(),
                        reason: format!("{rel}: sha256 expected={sha256}, got={got}"),
                    });
                }
                n += 1;
            }
        }
        Ok(format!("{n} file(s) re-read, digests match"))
    }
}

/// Check that a destination answers and accepts the credentials (for `--dry-run --ping` and
/// the release preflight). A mirror must be a directory that can be created or written.
pub fn ping(
    d: &super::plan::Destination,
    t: &Client,
    r: &dyn Reporter,
) -> Result<(), PublishError> {
    let creds = Credentials::resolve(d.credentials.as_deref(), &d.name)?;
    match d.kind {
        Kind::Pypi => pypi::Index::new(&d.url, d.index_url.as_deref(), creds, t).ping(r)?,
        Kind::Oci => {
            registry::Registry::new(registry::parse_repository(&d.url)?, creds, t).ping(r)?
        }
        Kind::Mirror => {
            let root = mirror_root(&d.url);
            fsutil::create_dir_all(&root)?;
            let probe = root.join(".relsign-ping");
            fsutil::write_atomic(&probe, b"")?;
            let _ = std::fs::remove_file(&probe);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verdict_is_waited_for_and_a_lost_one_counts_as_failed() {
        // Known later, on another thread: wait blocks until then.
        let v = Verdict::default();
        std::thread::scope(|sc| {
            sc.spawn(|| {
                std::thread::sleep(std::time::Duration::from_millis(50));
                v.set(true);
            });
            assert!(v.wait());
        });
        assert!(v.require().is_ok() && !v.failed());
        // A verification that ends without a verdict (a panic) leaves "did not verify".
        let v = Verdict::default();
        let r = std::thread::scope(|sc| {
            sc.spawn(|| {
                let _guard = v.fail_unless_set();
                panic!("the verification panicked");
            })
            .join()
        });
        assert!(r.is_err());
        assert!(!v.wait() && v.failed());
        assert!(matches!(v.require(), Err(PublishError::Unverified)));
        // A verdict once set is not overwritten by the guard.
        let v = Verdict::default();
        {
            let _guard = v.fail_unless_set();
            v.set(true);
        }
        assert!(v.wait());
    }
}
