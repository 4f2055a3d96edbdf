//! Command-line definitions. Doc comments are the help text.

use crate::args::{Global, LogAppendArgs, Mirrors, PassArgs};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// relsign: reproducible release builder and signer for Python packages and Debian-based OCI
/// images.
///
/// Maintainers: `lock` pins every input by sha256, `fetch` downloads them into the
/// content-addressed store, `release` builds offline in a bubblewrap sandbox, runs the behave
/// gate, writes SBOMs and signs; `publish` pushes to indexes, registries and mirrors.
/// Implementers: `verify` checks a release, a file or an image offline against keys/.
/// Auditors: `rebuild` rebuilds from the provenance and names the first difference.
///
/// Exit codes: 0 ok; 1 a verification, integrity or staleness failure; 2 any other error.
///
/// Examples:
///   relsign lock recipes/demo.toml && relsign fetch recipes/demo.toml
///   relsign release recipes/demo.toml --out dist/demo --key release.key
///   relsign verify dist/demo --policy keys
///   relsign publish dist/demo --policy keys --dry-run
///   relsign rebuild dist/demo/attestations/provenance.dsse.json --recipe recipes/demo.toml
#[derive(Debug, Parser)]
#[command(
    name = "relsign",
    version,
    propagate_version = true,
    verbatim_doc_comment
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Keys, signing, the trust policy and verification.
    #[command(flatten)]
    Trust(crate::trust_cli::TrustCommand),
    Publish(crate::publish_cli::PublishArgs),
    Log(crate::tlog_cli::LogArgs),
    Destinations(crate::publish_cli::DestinationsArgs),
    /// Pin every input of a recipe by sha256: the Python lock (PEP 751) and the Debian lock.
    ///
    /// The Debian lock records the archive snapshot it was made from (the InRelease Date). An
    /// InRelease whose Valid-Until has passed is refused unless --allow-expired-release.
    ///
    /// Examples:
    ///   relsign lock recipes/demo.toml
    ///   relsign lock --check recipes/demo.toml        # exit 1 if the locks are stale
    ///   relsign lock --index-url https://mirror.example/simple recipes/demo.toml
    ///   relsign lock --refresh recipes/demo.toml      # move vanished .debs to the next version
    ///   relsign lock --python-only recipes/demo.toml  # re-lock the pylock only
    ///   relsign lock --record-sources recipes/demo.toml  # add source versions, offline
    ///   relsign lock --allow-expired-release \
    ///       --debian-mirror https://snapshot.example/archive/debian/20250809T000000Z recipes/demo.toml
    #[command(verbatim_doc_comment)]
    Lock(LockArgs),
    /// Download every locked file into the store, checking size and sha256.
    ///
    /// Examples:
    ///   relsign fetch recipes/demo.toml
    ///   relsign fetch recipes/demo.toml --export vendor/      # a mirror for offline machines
    ///   relsign fetch recipes/demo.toml --index-url file:///srv/vendor/simple \
    ///                                   --debian-mirror file:///srv/vendor/debian
    ///   relsign fetch my.toml --archive-mirror vendor/archives/   # [[archive]] fallback
    ///   relsign fetch recipes/demo.toml \
    ///       --debian-snapshot 'https://snapshot.example/archive/debian/{timestamp}/'
    #[command(verbatim_doc_comment)]
    Fetch(FetchArgs),
    /// Build the recipe's sdists and wheels offline, in the sandbox, into a release directory.
    ///
    /// Examples:
    ///   relsign build recipes/demo.toml --out out/demo
    #[command(verbatim_doc_comment)]
    Build(BuildArgs),
    /// Cut a release: build, (check reproducibility,) run the gate (behave), write the SBOMs,
    /// sign. The gate cannot be skipped: when a scenario fails, nothing is signed, DIR gets
    /// NOT-A-RELEASE.txt, and the command exits 1.
    ///
    /// Each --key signs the provenance (SLSA v1 in DSSE), the test result (in-toto test-result
    /// v0.1) and the SBOM attestations, with a Sigstore bundle per signature; --keyless signs
    /// the same statements with a Fulcio certificate, each logged in Rekor.
    ///
    /// Examples:
    ///   relsign release recipes/demo.toml --out dist/ --key ~/.config/relsign/release.key
    ///   relsign release recipes/demo.toml --out dist/ --keyless --token-file token.jwt \
    ///       --fulcio-url https://fulcio.example --rekor-url https://rekor.example
    ///   relsign release recipes/demo.toml --plan            # what it would do, in order
    #[command(verbatim_doc_comment)]
    Release(ReleaseArgs),
    /// Take the recipe's vulnerability databases (`[[vulnerabilities.database]]`: OSV exports,
    /// zips of OSV JSON records) from their locations, check every record, keep them in the
    /// store and pin them in the vulndb lock by sha256, size, record count and the time taken.
    /// `relsign release` scans against exactly these, offline, and refuses a database older
    /// than `vulnerabilities.max-age-days`.
    ///
    /// Examples:
    ///   relsign vulndb recipes/docassemble.toml
    ///   relsign vulndb recipes/demo.toml --from PyPI=/srv/osv/PyPI.zip
    #[command(verbatim_doc_comment)]
    Vulndb(VulndbArgs),
    /// Run the release gate: the recipe's behave suite against a built release, offline, in the
    /// sandbox (in a fresh venv and/or inside the image, per `[test] run-in`).
    ///
    /// JUnit XML goes to RELEASE/test-results/<venv|image>/ and a summary to
    /// RELEASE/test-results/summary.json. Exit 1 when a scenario fails.
    ///
    /// Examples:
    ///   relsign test recipes/demo.toml --release target/demo/release
    ///   relsign test recipes/docassemble.toml --release dist/da --all-scenarios
    ///   relsign test recipes/docassemble.toml --release dist/da --server-logs da-logs
    #[command(verbatim_doc_comment)]
    Test(TestArgs),
    /// Rebuild a release from its provenance and inputs (recipe, locks, sources) and check
    /// that every artifact's digest matches bit for bit; name the first difference otherwise.
    ///
    /// TARGET is a release directory (its inputs/ hold the recipe, locks and dir sources), a
    /// provenance file (attestations/provenance.dsse.json; outside a release directory give
    /// --recipe from a checkout), or a registry reference (docker://host/repo:tag, pulled with
    /// its referrers). The recipe's and locks' digests must be the recorded ones. Inputs come
    /// from the store (run `relsign fetch RECIPE` first on a fresh machine). Exit 0 when every
    /// digest matches, 1 when one differs.
    ///
    /// Examples:
    ///   relsign rebuild target/demo/release
    ///   relsign rebuild target/demo/release --recipe ~/src/project/recipes/demo.toml
    ///   relsign rebuild provenance.dsse.json --recipe recipes/demo.toml
    ///   relsign rebuild docker://127.0.0.1:5000/relsign/demo:0.1.0 --json
    #[command(verbatim_doc_comment)]
    Rebuild(RebuildArgs),
    /// Write CycloneDX 1.6 and SPDX 2.3 SBOMs for every artifact of a release, into
    /// RELEASE/sbom/<artifact>.cdx.json and .spdx.json (deterministic: same release, same bytes).
    ///
    /// Examples:
    ///   relsign sbom target/demo/release
    #[command(verbatim_doc_comment)]
    Sbom(SbomArgs),
    /// Explain the first difference between two build outputs: sdists and other tars (plain,
    /// gzip or zstd), wheels and zips, OCI layouts (layer by layer, then the config), JSON.
    ///
    /// Names the first differing entry and what differs: content, mode, mtime, owner, order,
    /// type, or the compressed stream. Exit 0 when identical, 1 when they differ.
    ///
    /// Examples:
    ///   relsign compare out1/relsign_demo-0.1.0.tar.gz out2/relsign_demo-0.1.0.tar.gz
    ///   relsign compare out1/image out2/image
    ///   relsign compare --diffoscope a.whl b.whl
    ///   relsign compare --all ours.whl theirs.whl
    #[command(verbatim_doc_comment)]
    Compare(CompareArgs),
    /// Scan a release's packages (its CycloneDX SBOMs) against an offline OSV database.
    ///
    /// PyPI packages by normalized name and PEP 440 order; Debian packages by source package
    /// (as Debian's advisories are keyed) and dpkg order, for the release's Debian suite.
    /// Withdrawn records are ignored. Nothing touches the network.
    ///
    /// Without --db, the recipe's own gate: the databases locked by `relsign vulndb RECIPE`
    /// (from the store, checked by sha256, refused when older than the recipe's
    /// vulnerabilities.max-age-days) judged by its [vulnerabilities] policy (fail-on,
    /// severity, allow-list with expiry), exactly as `relsign release` judges. For a release
    /// directory: its recipe copy under inputs/ and the databases its gate report
    /// (scan/vulnerabilities.json) names. No locked database: exit 2.
    ///
    /// With --db, the given databases, judged by the flags: by default every vulnerability
    /// with a fixed version fails (--fail-on fixed); --severity adds every finding at or above
    /// a level; an --allow entry lets a finding pass until its expiry date.
    ///
    /// Exit 1 when a finding fails the policy.
    ///
    /// Examples:
    ///   relsign vulndb app.toml && relsign scan app.toml    (app.toml has [vulnerabilities])
    ///   relsign scan target/app/release --json               (its gate's databases)
    ///   relsign scan target/demo/release --db osv/PyPI.zip --db osv/Debian.zip
    ///   relsign scan release/sbom/image.cdx.json --db osv/ --severity HIGH --json
    ///   relsign scan release --db osv/ --allow scan-allow.toml
    #[command(verbatim_doc_comment)]
    Scan(ScanArgs),
    /// What an upgrade from OLD to NEW changes: packages added, removed, upgraded and
    /// downgraded per ecosystem (from the CycloneDX SBOMs, versions in dpkg's and PEP 440's
    /// order) and, for two release directories with images, the files changed per layer.
    ///
    /// OLD and NEW are release directories or CycloneDX SBOM files. Exit 1 when a kind named
    /// by --fail-on changed (a stable branch that promises no new dependencies:
    /// --fail-on added).
    ///
    /// Examples:
    ///   relsign diff releases/1.10.4 releases/1.10.5
    ///   relsign diff old/sbom/image.cdx.json new/sbom/image.cdx.json --json
    ///   relsign diff releases/1.10.4 releases/1.10.5 --fail-on added,downgraded
    #[command(verbatim_doc_comment)]
    Diff(DiffArgs),
    /// Run a command inside a built image, in the sandbox (no network), without Docker.
    ///
    /// LAYOUT is an OCI image layout, or a release directory holding one under image/.
    /// The image's Env and WorkingDir apply; without a command, its Entrypoint and Cmd run.
    /// The exit code is the command's.
    ///
    /// With --services (as root): the image's services (its recipe's [[image.services]])
    /// start first, each under its own user, in one sandbox whose network is loopback only;
    /// COMMAND runs once all are ready, then they stop (SIGINT/SIGTERM, then SIGKILL). Without
    /// COMMAND they run until relsign gets SIGINT (Ctrl-C) or SIGTERM.
    ///
    /// Examples:
    ///   relsign run target/demo/release -- python3 -c 'import relsign_demo'
    ///   relsign run target/demo/release/image --tag 0.1.0 -- relsign-demo greet Ada
    ///   sudo relsign run target/server-mini --services -- psql -h 127.0.0.1 -U postgres -c 'select 1'
    #[command(verbatim_doc_comment)]
    Run(RunArgs),
    /// Internal: how `relsign run --services` starts a process inside its sandbox (joins the
    /// namespaces of host pid PID and its root, drops to UID/GID/GROUPS, then runs COMMAND).
    #[command(name = "__enter", hide = true)]
    Enter(EnterArgs),
    /// Run a command inside the recipe's toolchain rootfs, in the build sandbox (no network).
    ///
    /// Examples:
    ///   relsign exec recipes/demo.toml -- python3 -c 'import sys; print(sys.version)'
    #[command(verbatim_doc_comment)]
    Exec(ExecArgs),
}

#[derive(Debug, Args)]
pub struct LockArgs {
    /// The recipe (TOML; see README, "Recipes").
    pub recipe: PathBuf,
    /// Only check that the locks still match the recipe (offline); exit 1 when they don't.
    #[arg(long, conflicts_with = "refresh")]
    pub check: bool,
    /// Only repair the Debian locks: the locked .debs no mirror serves any more (404) move
    /// to the smallest update the suite offers now (the same package, at the lowest
    /// version not below the locked one); every other locked package stays as it is. The
    /// closure is checked again and the change printed as `- name version` /
    /// `+ name version`. The Python lock is not touched.
    #[arg(long)]
    pub refresh: bool,
    /// Re-lock only the Python side (the pylock: pins, each package's build environment);
    /// the Debian locks are left as they are.
    #[arg(long, conflicts_with_all = ["check", "refresh"])]
    pub python_only: bool,
    /// Only record, in Debian locks made before relsign did, each locked .deb's source
    /// package and source version (what Debian's advisories are keyed by), read from the
    /// .debs in the store: offline, every pin unchanged. `relsign scan` of the recipe then
    /// needs no .deb.
    #[arg(long, conflicts_with_all = ["check", "refresh", "python_only"])]
    pub record_sources: bool,
    /// Accept an InRelease whose Valid-Until has passed, to lock from an old snapshot on
    /// purpose (the recipe's toolchain.allow-expired-release = true does the same).
    #[arg(long)]
    pub allow_expired_release: bool,
    /// Write the lock even when the closure check finds unpinned dependencies.
    #[arg(long)]
    pub allow_incomplete: bool,
    #[command(flatten)]
    pub mirrors: Mirrors,
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    /// The recipe (TOML; see README, "Recipes").
    pub recipe: PathBuf,
    /// Also write a vendor directory (PEP 503 index under simple/, .debs under debian/)
    /// that serves later as a mirror.
    #[arg(long, value_name = "DIR")]
    pub export: Option<PathBuf>,
    /// A snapshot mirror as a URL pattern with {timestamp}, tried after the mirrors for
    /// .debs they no longer serve; the Debian lock's `snapshot` fills in the timestamp.
    /// Repeatable. Overrides $RELSIGN_DEBIAN_SNAPSHOT (space-separated patterns) and the
    /// recipe's toolchain.snapshot-urls.
    #[arg(long = "debian-snapshot", value_name = "URL-PATTERN")]
    pub debian_snapshots: Vec<String>,
    /// A location for the recipe's [[archive]] files, tried after the recipe's own
    /// `locations` (a URL or a directory; the file name is appended to a directory).
    /// Repeatable; $RELSIGN_ARCHIVE_MIRRORS (space-separated) comes after.
    #[arg(long = "archive-mirror", value_name = "URL-OR-DIR")]
    pub archive_mirrors: Vec<String>,
    #[command(flatten)]
    pub mirrors: Mirrors,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The recipe (TOML; see README, "Recipes").
    pub recipe: PathBuf,
    /// The release directory to write (artifacts, release.json, inputs/).
    #[arg(long, value_name = "DIR", required_unless_present = "plan")]
    pub out: Option<PathBuf>,
    /// Print the build plan and build nothing: every step with its inputs by digest (the
    /// locked .debs of the rootfs and the image, each package's source and build
    /// environment, the runtime wheels, the upstream archives, the recipe and its locks),
    /// and the plan's own digest. With --json, the plan as JSON.
    #[arg(long, conflicts_with_all = ["check_reproducible", "keep_work"])]
    pub plan: bool,
    /// Run every step, even those whose exact inputs were built before (the action cache in
    /// the store is neither read nor written).
    #[arg(long)]
    pub no_cache: bool,
    /// Keep the work directory (rootfs, raw backend outputs) for inspection.
    #[arg(long)]
    pub keep_work: bool,
    /// Build a second time with variations and compare: another build directory and
    /// working directory, TZ and locale, and inside the sandbox another uid, the clock
    /// three days ahead (libfaketime) and the source copied in reverse order. Exit 1 and
    /// name the first difference when an artifact differs.
    #[arg(long)]
    pub check_reproducible: bool,
    /// (internal) this is the varied build of --check-reproducible.
    #[arg(long, hide = true)]
    pub variation: bool,
}

#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// The recipe (TOML; see README, "Recipes").
    pub recipe: PathBuf,
    /// The release directory to write.
    #[arg(long, value_name = "DIR", required_unless_present = "plan")]
    pub out: Option<PathBuf>,
    /// A release key (encrypted PEM, mode 0600); repeat to sign with several.
    #[arg(
        long = "key",
        value_name = "FILE",
        required_unless_present_any = ["plan", "keyless"]
    )]
    pub keys: Vec<PathBuf>,
    /// Sign keyless too (or only, without --key): a Fulcio certificate for the OIDC token's
    /// identity, every statement logged in Rekor (see `relsign sign-keyless`).
    #[arg(long)]
    pub keyless: bool,
    #[command(flatten)]
    pub keyless_service: crate::trust_cli::KeylessService,
    /// Print the release plan and do nothing: the build plan (every step with its inputs by
    /// digest) and then the stages in order (reproducibility check, gate, SBOMs, policy
    /// gates, signing, log), with the plan's digest. With --json, the plan as JSON.
    #[arg(long)]
    pub plan: bool,
    /// Run every step, even those whose exact inputs were built before (the action cache in
    /// the store is neither read nor written).
    #[arg(long)]
    pub no_cache: bool,
    #[command(flatten)]
    pub pass: PassArgs,
    /// After the build, build again with variations and compare (see `build
    /// --check-reproducible`); a difference stops the release before the gate.
    #[arg(long)]
    pub check_reproducible: bool,
    /// Run the whole of `[test.server]`'s suite, not only its gating scenarios (they still
    /// decide; the report counts the rest).
    #[arg(long)]
    pub all_scenarios: bool,
    /// After `[test.server]`'s suite, keep the services' logs in DIR (see `relsign test
    /// --server-logs`); they stay out of the release.
    #[arg(long = "server-logs", value_name = "DIR")]
    pub server_logs: Option<PathBuf>,
    #[command(flatten)]
    pub log: LogAppendArgs,
    /// Where the stable branch's earlier releases are (a release directory or a static
    /// mirror), instead of the recipe's release.stable-releases. Repeatable.
    #[arg(long = "stable-releases", value_name = "DIR")]
    pub stable_releases: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VulndbArgs {
    /// The recipe (TOML; see README, "Vulnerability gate").
    pub recipe: PathBuf,
    /// NAME=URL-OR-PATH: a location for database NAME, tried before the recipe's own.
    #[arg(long = "from", value_name = "NAME=LOCATION")]
    pub from: Vec<String>,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// The recipe (TOML; see README, "Recipes").
    pub recipe: PathBuf,
    /// The release directory written by `relsign build`.
    #[arg(long, value_name = "DIR")]
    pub release: PathBuf,
    /// Run the whole of `[test.server]`'s suite, not only its gating scenarios (they still
    /// decide; the report counts the rest).
    #[arg(long)]
    pub all_scenarios: bool,
    /// After `[test.server]`'s suite, keep the services' logs in DIR (replaced if it holds
    /// earlier ones): each service's output, the log files it declares and `[test.server]
    /// logs`, as the running image had them. They stay out of the release: they can hold
    /// what the image made at first start.
    #[arg(long = "server-logs", value_name = "DIR")]
    pub server_logs: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RebuildArgs {
    /// A release directory, a provenance file, or docker://REFERENCE.
    #[arg(value_name = "TARGET")]
    pub release: PathBuf,
    /// Rebuild from this recipe (in a checkout) instead of the release's copy; its digest
    /// and its locks' digests must match the release's.
    #[arg(long)]
    pub recipe: Option<PathBuf>,
    /// Keep the rebuilt release here instead of a temporary directory.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SbomArgs {
    /// The release directory (release.json and its artifacts).
    pub release: PathBuf,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The first file or OCI layout (shown as `release`/left).
    pub left: PathBuf,
    /// The second file or OCI layout (shown as `rebuilt`/right).
    pub right: PathBuf,
    /// Hand over to diffoscope for the full report (when it is installed).
    #[arg(long)]
    pub diffoscope: bool,
    /// For zips and wheels: list every entry that differs (matched by name) and in what,
    /// with counts, instead of the first difference only.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// A release directory (every sbom/*.cdx.json), a CycloneDX SBOM file, a recipe
    /// (`*.toml`: the runtime pins of its Python lock and its image's Debian lock, Debian
    /// packages by their own name), or a published release by `docker://host/repo:tag`
    /// (pulled first; credentials from $RELSIGN_REGISTRY_CREDENTIALS).
    pub target: PathBuf,
    /// An OSV database: a zip of OSV JSON records or a directory of them, instead of the
    /// recipe's locked ones. Repeatable.
    #[arg(long, value_name = "ZIP-OR-DIR")]
    pub db: Vec<PathBuf>,
    /// With --db: what fails: `fixed` (a vulnerability with a fix available, the
    /// default), `any`, or `none`.
    #[arg(long, value_name = "WHAT", requires = "db", value_parser = ["fixed", "any", "none"])]
    pub fail_on: Option<String>,
    /// With --db: also fail on findings at or above this severity (LOW, MODERATE, HIGH,
    /// CRITICAL).
    #[arg(long, value_name = "LEVEL", requires = "db",
          value_parser = ["LOW", "MODERATE", "MEDIUM", "HIGH", "CRITICAL"])]
    pub severity: Option<String>,
    /// With --db: an allow-list (TOML: [[allow]] id, package, reason,
    /// expires = "YYYY-MM-DD").
    #[arg(long, value_name = "FILE", requires = "db")]
    pub allow: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The release (directory, or docker://host/repo:tag) or SBOM upgraded from.
    pub old: PathBuf,
    /// The release (directory, or docker://host/repo:tag) or SBOM upgraded to.
    pub new: PathBuf,
    /// Exit 1 when any of these changed: added, removed, upgraded, downgraded, files.
    #[arg(long, value_delimiter = ',', value_name = "KINDS")]
    pub fail_on: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// An OCI image layout, or a release directory with one under image/.
    pub layout: PathBuf,
    /// The manifest's tag (org.opencontainers.image.ref.name); needed when the layout has several.
    #[arg(long)]
    pub tag: Option<String>,
    /// Start the image's services first (needs root; see README, "Services").
    #[arg(long)]
    pub services: bool,
    /// With --services: the user COMMAND runs as (a name in the image; default root).
    #[arg(long, requires = "services", value_name = "NAME")]
    pub user: Option<String>,
    /// With --services: mount a host path into the sandbox, read-only (HOST:DEST) or
    /// writable (HOST:DEST:rw); repeatable. For test inputs that are not part of the
    /// image (a test suite, its driver, a directory for its results).
    #[arg(long, requires = "services", value_name = "HOST:DEST[:rw]")]
    pub bind: Vec<relsign::services::HostBind>,
    /// With --services: the services of this recipe's [[image.services]] instead of the
    /// ones recorded in the image (to try a recipe's changed services on an image built
    /// before the change, without rebuilding it; the release is unchanged).
    #[arg(long, requires = "services", value_name = "RECIPE")]
    pub services_from: Option<PathBuf>,
    /// The command and its arguments (default: the image's Entrypoint + Cmd).
    #[arg(last = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct EnterArgs {
    #[arg(long)]
    pub pid: i32,
    #[arg(long)]
    pub uid: u32,
    #[arg(long)]
    pub gid: u32,
    #[arg(long, value_delimiter = ',')]
    pub groups: Vec<u32>,
    #[arg(long)]
    pub cwd: String,
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The recipe (TOML; see README, "Recipes").
    pub recipe: PathBuf,
    /// The command and its arguments.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}
