//! The recipe: what to build, from which sources, with which toolchain, and where the locks are.
//!
//! Recipes are TOML files (see README "Recipe reference"). Unknown keys are errors, and every
//! error names the file, the key and the reason.

pub mod vulns;

use crate::digest::Sha256Hex;
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    #[error("{file}: {source}")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Parse { file: PathBuf, message: String },
    #[error("{file}: key `{key}`: {reason}")]
    Invalid {
        file: PathBuf,
        key: String,
        reason: String,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipeFile {
    pub release: Release,
    pub python: PythonSection,
    #[serde(default, rename = "package")]
    pub packages: Vec<PackageSpec>,
    pub toolchain: Toolchain,
    /// An OCI image to assemble from locked .debs and the built wheels.
    pub image: Option<ImageSpec>,
    /// The release gate: behave features run against the built bits.
    pub test: Option<TestSpec>,
    /// Where `relsign publish` sends the release.
    #[serde(default)]
    pub publish: Vec<PublishSpec>,
    /// Upstream archives (configs, test suites): pinned by sha256, fetched from a list of
    /// locations in order.
    #[serde(default, rename = "archive")]
    pub archives: Vec<ArchiveSpec>,
    /// The vulnerability gate: a locked OSV database and the policy `relsign release` applies
    /// before signing.
    pub vulnerabilities: Option<crate::recipe::vulns::VulnSpec>,
}

/// `[[archive]]`: a file the release needs from upstream (a `git archive` of configs or a test
/// suite), pinned by sha256 and fetched from `locations` in order: the project's git host,
/// then a fallback host, then a file mirror. The same digest from any of them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ArchiveSpec {
    /// How image files and the gate refer to it.
    pub name: String,
    /// The file name (a `.tar.gz`), used in the store's messages and in directory locations.
    pub file: String,
    pub sha256: String,
    /// Optional: the size in bytes, checked before the digest.
    pub size: Option<u64>,
    /// Where to get it, in order: URLs (`https://…`, `file://…`), or directories relative to
    /// the recipe. A location ending in `/` (or a local directory) gets `file` appended.
    #[serde(default)]
    pub locations: Vec<String>,
}

/// `[[publish]]`: one destination of `relsign publish`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PublishSpec {
    /// A short name for `--to NAME`, the journal and `--url NAME=URL`.
    pub name: String,
    /// `pypi` (a PyPI-style index, legacy upload API), `oci` (a distribution-spec registry)
    /// or `mirror` (a static directory).
    pub kind: String,
    /// pypi: the upload URL; oci: a repository (`host[:port]/path`, `http://…` for plain HTTP,
    /// `docker.io/…`); mirror: a directory (or `file://` URL).
    pub url: String,
    /// For pypi: the simple index to check before uploading (default: derived from `url`).
    pub index_url: Option<String>,
    /// `primary` (default) or `fallback`.
    #[serde(default = "default_role")]
    pub role: String,
    /// Where the credentials are: `env:VAR` or `file:PATH` (never the secret itself). The
    /// value is `user:secret`, or a bare token (PyPI `__token__`). Default:
    /// `env:RELSIGN_PUBLISH_<NAME>`, when set.
    pub credentials: Option<String>,
}

fn default_role() -> String {
    "primary".into()
}

/// `[test]`: the behave suite that gates a release.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TestSpec {
    /// The behave features directory, relative to the recipe.
    pub features: PathBuf,
    /// Where the suite runs: "venv" (a fresh venv in the sandbox, with the built wheels and
    /// their locked dependencies) and/or "image" (inside the built image).
    #[serde(default = "default_run_in")]
    pub run_in: Vec<String>,
    /// `[test.server]`: a project's own behave suite against the image's services (the place
    /// "services" of `run-in`).
    #[serde(default)]
    pub server: Option<ServerTest>,
}

/// `[test.server]`: the project's own behave suite, run inside the sandbox of
/// `relsign run --services` (the image's services up, loopback only) against the server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServerTest {
    /// The `[[archive]]` holding the suite.
    pub archive: String,
    /// The features directory inside that archive (below its top directory).
    pub features: PathBuf,
    /// A directory relative to the recipe added to the suite's `sys.path` (stand-ins for
    /// modules that download at run time, such as webdriver_manager).
    #[serde(default)]
    pub python_path: Option<PathBuf>,
    /// Directories relative to the recipe mounted read-only into the sandbox for the run
    /// only (never part of the image).
    #[serde(default)]
    pub binds: Vec<ServerBind>,
    /// The user the suite runs as (a name in the image; a browser refuses root).
    pub user: String,
    /// Extra environment of the suite.
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    /// Environment added to every service of the image and its first-start steps, for the
    /// gate's run only (never the image): a test-only server configuration. It takes
    /// precedence over the services' own `env`; the report records it by digest.
    #[serde(default)]
    pub service_env: std::collections::BTreeMap<String, String>,
    /// Commands run in the sandbox once the services are ready, before the suite, in order
    /// (`run`, `user` default root, optional `creates`): fixtures the suite expects on its
    /// server, from files mounted with `binds`. Recorded in the report.
    #[serde(default)]
    pub setup: Vec<crate::services::FirstStart>,
    /// The scenarios that gate the release: each must run and pass.
    pub gating: Vec<GatingScenario>,
    /// Run every scenario of the features, not only the gating ones (the report counts
    /// them; only the gating ones decide).
    #[serde(default)]
    pub all: bool,
    /// Files or directories of the running image kept with `relsign test --logs DIR` beside
    /// the services' output and declared logs (the application's own log, for a failing
    /// scenario).
    #[serde(default)]
    pub logs: Vec<String>,
    /// `--logs DIR`: where the services' logs are kept after the suite (not from the recipe).
    #[serde(skip)]
    pub keep_logs: Option<PathBuf>,
}

/// One scenario of `[test.server] gating`: a feature file's name and the scenario's name.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GatingScenario {
    pub feature: String,
    pub scenario: String,
}

/// One `[test.server] binds` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServerBind {
    /// A directory relative to the recipe, or with `from-archive` one of the suite's archive
    /// (below its top directory: files the suite names by a fixed path, such as an upload).
    pub src: PathBuf,
    pub dest: String,
    #[serde(default)]
    pub from_archive: bool,
}

/// `[test]`: the places exist, and `[test.server]` names an archive of the recipe, plain
/// paths, and at least one gating scenario, once each.
fn validate_test(
    t: &TestSpec,
    image: Option<&ImageSpec>,
    archives: &std::collections::BTreeSet<String>,
) -> Result<(), (String, String)> {
    for (i, p) in t.run_in.iter().enumerate() {
        if !["venv", "image", "services"].contains(&p.as_str()) {
            return Err((
                format!("test.run-in[{i}]"),
                format!("{p:?} is not a place: venv, image or services"),
            ));
        }
    }
    let wants = t.run_in.iter().any(|p| p == "services");
    let Some(s) = &t.server else {
        if wants {
            return Err((
                "test.run-in".into(),
                "\"services\" needs a [test.server] section (the suite to run)".into(),
            ));
        }
        return Ok(());
    };
    if !wants {
        return Err((
            "test.server".into(),
            "add \"services\" to test.run-in, or remove [test.server]".into(),
        ));
    }
    if image.is_none_or(|i| i.services.is_empty()) {
        return Err((
            "test.server".into(),
            "the suite runs against the image's services: declare [[image.services]]".into(),
        ));
    }
    if !archives.contains(&s.archive) {
        return Err((
            "test.server.archive".into(),
            format!("{:?} names no [[archive]] of this recipe", s.archive),
        ));
    }
    if crate::fsutil::relative_path(&s.features.to_string_lossy()).is_none() {
        return Err((
            "test.server.features".into(),
            "a relative path inside the archive, without `..`".into(),
        ));
    }
    for (i, b) in s.binds.iter().enumerate() {
        if crate::fsutil::relative_path(&b.src.to_string_lossy()).is_none() {
            return Err((
                format!("test.server.binds[{i}].src"),
                "a relative path (to the recipe, or with from-archive to the archive), without `..`".into(),
            ));
        }
        if crate::fsutil::plain_image_path(&b.dest).is_none() || b.dest == "/" {
            return Err((
                format!("test.server.binds[{i}].dest"),
                format!("{:?} is not a plain absolute path below /", b.dest),
            ));
        }
    }
    for (i, l) in s.logs.iter().enumerate() {
        if crate::fsutil::plain_image_path(l).is_none() || l == "/" {
            return Err((
                format!("test.server.logs[{i}]"),
                format!("{l:?} is not a plain absolute path below /"),
            ));
        }
    }
    validate_server_setup(s)?;
    if s.gating.is_empty() {
        return Err((
            "test.server.gating".into(),
            "name at least one scenario that gates the release".into(),
        ));
    }
    for (i, g) in s.gating.iter().enumerate() {
        if s.gating[..i].contains(g) {
            return Err((
                format!("test.server.gating[{i}]"),
                format!("{} / {:?} is listed twice", g.feature, g.scenario),
            ));
        }
        if !g.feature.ends_with(".feature") || g.feature.contains('/') {
            return Err((
                format!("test.server.gating[{i}].feature"),
                format!(
                    "{:?} is not a feature file's name (NAME.feature)",
                    g.feature
                ),
            ));
        }
    }
    Ok(())
}

/// `[test.server]`'s test-only server configuration: `service-env` names and values, and
/// `setup` steps (as a service's first-start steps).
fn validate_server_setup(s: &ServerTest) -> Result<(), (String, String)> {
    crate::services::validate_env_names(&s.service_env)
        .map_err(|why| ("test.server.service-env".into(), why))?;
    if let Some((k, _)) = s.service_env.iter().find(|(_, v)| v.contains('\0')) {
        return Err((
            format!("test.server.service-env.{k}"),
            "a value cannot hold a NUL byte".into(),
        ));
    }
    crate::services::validate_steps(&s.setup)
        .map_err(|(k, why)| (format!("test.server.setup{k}"), why))
}

fn default_run_in() -> Vec<String> {
    vec!["venv".into()]
}

/// `[image]`: a Debian-based OCI image built without a daemon.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ImageSpec {
    /// Repository name of the image (for example `relsign-demo`); the tag is the release version.
    pub name: String,
    /// Debian suite; defaults to the toolchain's.
    pub suite: Option<String>,
    /// Debian packages of the image (resolved with their dependencies).
    pub packages: Vec<String>,
    /// Debian packages locked with the image (same lock, same resolution) but left out of it:
    /// the gate's place "services" extracts them into its copy of the image only (a browser
    /// driver the suite needs, which the shipped server does not). What they depend on stays
    /// in the image only if `packages` needs it.
    #[serde(default, rename = "test-packages")]
    pub test_packages: Vec<String>,
    /// Path of the image's Debian lock, relative to the recipe.
    pub lock: PathBuf,
    /// Where the Python venv goes inside the image.
    #[serde(default = "default_venv")]
    pub venv: String,
    /// Install the built wheels and their locked runtime dependencies into the venv.
    #[serde(default = "default_true")]
    pub wheels: bool,
    /// Compile the venv's site-packages to bytecode at build time, as pip does on install
    /// (hash-checked .pyc, by the image's own interpreter in the sandbox, one process in a
    /// fixed order; see [`crate::build::bytecode`]). Off by default: a venv its server can
    /// write to compiles on first import anyway.
    #[serde(default)]
    pub bytecode: bool,
    #[serde(default)]
    pub entrypoint: Vec<String>,
    #[serde(default)]
    pub cmd: Vec<String>,
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    /// A user to create and run as; root when absent.
    pub user: Option<ImageUser>,
    #[serde(default = "default_workdir")]
    pub workdir: String,
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// `org.opencontainers.image.source`.
    pub source_url: Option<String>,
    /// Symlinks that maintainer scripts would make with update-alternatives: link → target.
    #[serde(default)]
    pub alternatives: std::collections::BTreeMap<String, String>,
    /// Build /etc/ssl/certs/ca-certificates.crt from the ca-certificates package.
    #[serde(default)]
    pub ca_certificates: bool,
    /// Layer compression: "gzip" (default) or "zstd".
    #[serde(default = "default_compression")]
    pub compression: String,
    /// Extra files copied from the recipe's directory into the app layer.
    #[serde(default)]
    pub files: Vec<ImageFile>,
    /// Run the packages' maintainer scripts and triggers (dpkg unpacks, then configures, inside the sandbox,
    /// as root, no network, no daemon started) instead of writing their results
    /// declaratively. The image's lock then also holds Debian's essential packages, which the
    /// scripts rely on. `users`, `alternatives` and `ca-certificates` are then the scripts'
    /// work (the recipe's `user` is still created, with adduser semantics, if missing).
    #[serde(default)]
    pub scripts: bool,
    /// With `scripts`: paths (absolute, in the image) removed after the scripts ran, on top of
    /// relsign's own list of volatile files: state that must differ per installation (keys,
    /// cluster ids) and is made at first start instead.
    #[serde(default, rename = "scripts-remove")]
    pub scripts_remove: Vec<String>,
    /// With `scripts`: the maintainer's own configuration commands (a Dockerfile's `RUN sed …`,
    /// `a2enmod …`), run after dpkg in the same sandbox (no network, the clock stopped, no
    /// daemon), in order, over the Debian tree, before the normalization; each with its reason.
    #[serde(default)]
    pub commands: Vec<ImageCommand>,
    /// Directories made in the app layer (the Dockerfile's `mkdir -p` + `chown` + `chmod`).
    #[serde(default)]
    pub dirs: Vec<ImageDir>,
    /// `[[image.services]]`: what `relsign run --services` starts (recorded in the image
    /// config's label `relsign.services`; see [`crate::services`]).
    #[serde(default)]
    pub services: Vec<crate::services::ServiceSpec>,
}

/// A directory of the image, with its owner (a user of the image's /etc/passwd, `user` or
/// `user:group`) and mode.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageDir {
    pub path: String,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub mode: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageUser {
    pub name: String,
    pub uid: u32,
    #[serde(default)]
    pub gid: Option<u32>,
    #[serde(default)]
    pub home: Option<String>,
}

/// One `[[image.commands]]`: an argv run as root over the configured Debian tree, and why.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageCommand {
    pub run: Vec<String>,
    pub why: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageFile {
    /// A file relative to the recipe, or, with `archive`, a file or directory inside that
    /// `[[archive]]` (below its top directory, as `git archive` writes it).
    pub src: PathBuf,
    #[serde(default)]
    pub archive: Option<String>,
    pub dest: String,
    #[serde(default)]
    pub mode: Option<String>,
    /// Owner of what is copied (a directory: everything in it), `user` or `user:group` of the
    /// image's /etc/passwd and /etc/group; default root.
    #[serde(default)]
    pub owner: Option<String>,
}

fn default_venv() -> String {
    "/opt/venv".into()
}
fn default_true() -> bool {
    true
}
fn default_workdir() -> String {
    "/".into()
}
fn default_compression() -> String {
    "gzip".into()
}

impl ImageSpec {
    /// The image's packages as a toolchain description, so the Debian lock code serves both.
    pub fn as_toolchain(&self, toolchain: &Toolchain) -> Toolchain {
        Toolchain {
            suite: self
                .suite
                .clone()
                .unwrap_or_else(|| toolchain.suite.clone()),
            architecture: toolchain.architecture.clone(),
            components: toolchain.components.clone(),
            // The lock resolves both; the build leaves `test-packages` out.
            packages: self
                .packages
                .iter()
                .chain(&self.test_packages)
                .cloned()
                .collect(),
            lock: self.lock.clone(),
            mirrors: toolchain.mirrors.clone(),
            keyring: toolchain.keyring.clone(),
            snapshot_urls: toolchain.snapshot_urls.clone(),
            allow_expired_release: toolchain.allow_expired_release,
            essential: self.scripts,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Release {
    pub name: String,
    pub version: String,
    /// The stable branch this release is on (`1.10`, or a branch name): it may not add a
    /// dependency or change a pin other than by a patch-level or Debian security update,
    /// compared with the last release of the branch.
    pub stable: Option<String>,
    /// Where the branch's earlier releases are: release directories or static mirrors
    /// (`releases/<name>/<version>/`), relative to the recipe.
    #[serde(default)]
    pub stable_releases: Vec<PathBuf>,
}

/// The Python target and the pins.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PythonSection {
    /// Target interpreter version, "3.13". Must match the toolchain's python3.
    pub version: String,
    /// Target glibc version for manylinux tags, "2.41".
    pub glibc: String,
    /// Target machine, "x86_64".
    #[serde(default = "default_machine")]
    pub machine: String,
    /// Files holding `==` pins: requirements files or pyproject.toml (project.dependencies).
    #[serde(default)]
    pub requirements: Vec<PathBuf>,
    /// Build requirements, `name==version`.
    #[serde(default)]
    pub build_requirements: Vec<String>,
    /// Test requirements for the release gate (behave and its dependencies), `name==version`.
    #[serde(default)]
    pub test_requirements: Vec<String>,
    /// Path of the PEP 751 lock, relative to the recipe.
    pub lock: PathBuf,
    /// Package indexes (PEP 503 simple API), tried in order. Optional: see README for the order
    /// in which relsign looks for an index.
    #[serde(default)]
    pub index_urls: Vec<String>,
}

fn default_machine() -> String {
    "x86_64".into()
}

/// A Python package to build, with its source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageSpec {
    pub name: String,
    /// A directory, relative to the recipe.
    pub path: Option<PathBuf>,
    /// An sdist pinned by sha256, fetched from the package index.
    pub sdist: Option<SdistSource>,
    /// A git checkout at a commit.
    pub git: Option<GitSource>,
    /// Build requirements of this package, `name==version`: they override (same name) or add
    /// to what its `pyproject.toml` declares. Needs `build-requirements-reason`.
    #[serde(default, rename = "build-requirements")]
    pub build_requirements: Vec<String>,
    /// Why the package is not built with what its project declares.
    #[serde(rename = "build-requirements-reason")]
    pub build_requirements_reason: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SdistSource {
    pub file: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitSource {
    pub url: String,
    pub commit: String,
    #[serde(default)]
    pub subdir: Option<PathBuf>,
}

/// The Debian toolchain the build rootfs is made of.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Toolchain {
    pub suite: String,
    #[serde(default = "default_arch")]
    pub architecture: String,
    #[serde(default = "default_components")]
    pub components: Vec<String>,
    pub packages: Vec<String>,
    /// Path of the Debian lock, relative to the recipe.
    pub lock: PathBuf,
    /// Debian mirrors tried in order; when empty, apt's sources are used.
    #[serde(default)]
    pub mirrors: Vec<String>,
    /// Keyring used to verify InRelease.
    #[serde(default = "default_keyring")]
    pub keyring: PathBuf,
    /// Snapshot mirrors `relsign fetch` falls back to, as URL patterns with `{timestamp}`
    /// (the lock's `snapshot`), after the mirrors. Overridden by `--debian-snapshot` and
    /// `$RELSIGN_DEBIAN_SNAPSHOT`.
    #[serde(default, rename = "snapshot-urls")]
    pub snapshot_urls: Vec<String>,
    /// Lock from an InRelease whose `Valid-Until` has passed (an old snapshot), as
    /// `relsign lock --allow-expired-release` does.
    #[serde(default, rename = "allow-expired-release")]
    pub allow_expired_release: bool,
    /// Also lock every `Essential: yes` package of the suite (with its dependencies), as a
    /// system that runs maintainer scripts needs. Set from `image.scripts`; not a recipe field
    /// of `[toolchain]`.
    #[serde(skip)]
    pub essential: bool,
}

fn default_arch() -> String {
    "amd64".into()
}
fn default_components() -> Vec<String> {
    vec!["main".into()]
}
fn default_keyring() -> PathBuf {
    PathBuf::from("/usr/share/keyrings/debian-archive-keyring.gpg")
}

/// Where one package's source comes from, validated.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Dir(PathBuf),
    Sdist {
        file: String,
        sha256: Sha256Hex,
    },
    Git {
        url: String,
        commit: String,
        subdir: Option<PathBuf>,
    },
}

#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    pub source: Source,
    /// `build-requirements`: pins overriding or adding to the pyproject's build requirements.
    pub build_requirements: Vec<String>,
    pub build_requirements_reason: Option<String>,
}

/// A loaded, validated recipe. Relative paths are resolved against the recipe's directory.
#[derive(Debug, Clone)]
pub struct Recipe {
    pub path: PathBuf,
    pub dir: PathBuf,
    pub bytes: Vec<u8>,
    pub file: RecipeFile,
    pub packages: Vec<Package>,
}

impl Recipe {
    /// The image's venv path (`image.venv`, default /opt/venv, also without an [image]).
    pub fn image_venv(&self) -> String {
        self.file
            .image
            .as_ref()
            .map(|i| i.venv.clone())
            .unwrap_or_else(default_venv)
    }

    /// `--logs DIR`: the server suite's services' logs are kept in `dir` after the run.
    pub fn keep_server_logs(&mut self, dir: Option<PathBuf>) {
        if let Some(server) = self.file.test.as_mut().and_then(|t| t.server.as_mut()) {
            server.keep_logs = dir;
        }
    }

    /// `--all-scenarios`: the whole server suite runs (its gating scenarios still decide).
    pub fn run_all_scenarios(&mut self, yes: bool) {
        if let Some(server) = self.file.test.as_mut().and_then(|t| t.server.as_mut()) {
            server.all |= yes;
        }
    }

    pub fn load(path: &Path) -> Result<Recipe, RecipeError> {
        let bytes = std::fs::read(path).map_err(|source| RecipeError::Read {
            file: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, bytes)
    }

    pub fn parse(path: &Path, bytes: Vec<u8>) -> Result<Recipe, RecipeError> {
        let text = String::from_utf8(bytes.clone()).map_err(|_| RecipeError::Parse {
            file: path.to_path_buf(),
            message: "not UTF-8".into(),
        })?;
        let file: RecipeFile = toml::from_str(&text).map_err(|e| RecipeError::Parse {
            file: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let dir = crate::fsutil::parent_dir(path).to_path_buf();
        let packages = validate(&file).map_err(|(key, reason)| RecipeError::Invalid {
            file: path.to_path_buf(),
            key,
            reason,
        })?;
        Ok(Recipe {
            path: path.to_path_buf(),
            dir,
            bytes,
            file,
            packages,
        })
    }

    pub fn digest(&self) -> Sha256Hex {
        Sha256Hex::of(&self.bytes)
    }

    /// Resolve a path written in the recipe (relative to its directory).
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir.join(p)
        }
    }

    pub fn python_lock_path(&self) -> PathBuf {
        self.resolve(&self.file.python.lock)
    }
    pub fn debian_lock_path(&self) -> PathBuf {
        self.resolve(&self.file.toolchain.lock)
    }
    /// The image's Debian toolchain and lock path, when the recipe has an `[image]`.
    pub fn image_toolchain(&self) -> Option<(Toolchain, PathBuf)> {
        self.file
            .image
            .as_ref()
            .map(|i| (i.as_toolchain(&self.file.toolchain), self.resolve(&i.lock)))
    }
}

/// Why a recipe is invalid: the key (`package[0].name`) and the reason.
type Invalid = (String, String);

fn invalid(key: &str, reason: String) -> Invalid {
    (key.into(), reason)
}

/// Every check of a parsed recipe, in order; the packages with their sources resolved.
fn validate(file: &RecipeFile) -> Result<Vec<Package>, Invalid> {
    validate_release(&file.release)?;
    if let Some(v) = &file.vulnerabilities {
        v.validate()?;
    }
    validate_python(&file.python)?;
    if let Some(img) = &file.image {
        validate_image_options(img, &file.toolchain)?;
    }
    if file.packages.is_empty() {
        return Err(invalid(
            "package",
            "at least one [[package]] is required".into(),
        ));
    }
    let packages = file
        .packages
        .iter()
        .enumerate()
        .map(|(i, p)| validate_package(&format!("package[{i}]"), p))
        .collect::<Result<Vec<_>, _>>()?;
    validate_publish(&file.publish)?;
    validate_toolchain(&file.toolchain, &file.python)?;
    let names = validate_archives(&file.archives)?;
    if let Some(t) = &file.test {
        validate_test(t, file.image.as_ref(), &names)?;
    }
    if let Some(img) = &file.image {
        validate_image(img, &names)?;
    }
    Ok(packages)
}

/// `[release]`: a valid name, a version without spaces, a valid stable branch.
fn validate_release(release: &Release) -> Result<(), Invalid> {
    if !valid_name(&release.name) {
        return Err(invalid(
            "release.name",
            format!(
                "{:?} is not a valid name (letters, digits, . _ -)",
                release.name
            ),
        ));
    }
    if release.version.trim().is_empty() || release.version.contains(char::is_whitespace) {
        return Err(invalid(
            "release.version",
            "must be a non-empty version without spaces".into(),
        ));
    }
    if let Some(b) = &release.stable {
        if !valid_name(b) {
            return Err(invalid(
                "release.stable",
                format!("{b:?} is not a version or branch name (letters, digits, . _ -)"),
            ));
        }
    }
    Ok(())
}

/// `[python]`: the version and glibc forms, and pinned build and test requirements.
fn validate_python(python: &PythonSection) -> Result<(), Invalid> {
    if !is_python_version(&python.version) {
        return Err(invalid(
            "python.version",
            format!("{:?} is not of the form 3.N", python.version),
        ));
    }
    if !is_dotted_pair(&python.glibc) {
        return Err(invalid(
            "python.glibc",
            format!("{:?} is not of the form 2.N", python.glibc),
        ));
    }
    for (key, reqs) in [
        ("build-requirements", &python.build_requirements),
        ("test-requirements", &python.test_requirements),
    ] {
        for (i, r) in reqs.iter().enumerate() {
            if !r.contains("==") {
                return Err(invalid(
                    &format!("python.{key}[{i}]"),
                    format!("{r:?} is not pinned with =="),
                ));
            }
        }
    }
    Ok(())
}

/// `image.scripts` needs libfaketime in the toolchain; `image.test-packages` are not also
/// shipped; `image.bytecode` needs a venv with wheels; `image.scripts-remove` plain paths.
fn validate_image_options(img: &ImageSpec, toolchain: &Toolchain) -> Result<(), Invalid> {
    if img.scripts && !toolchain.packages.iter().any(|p| p == "libfaketime") {
        return Err(invalid(
            "image.scripts",
            "the maintainer scripts run with the clock stopped at SOURCE_DATE_EPOCH, \
             with libfaketime from the toolchain: add \"libfaketime\" to \
             toolchain.packages and run `relsign lock`"
                .into(),
        ));
    }
    for (i, c) in img.commands.iter().enumerate() {
        let key = format!("image.commands[{i}]");
        if !img.scripts {
            return Err(invalid(
                &key,
                "commands run after the maintainer scripts, in their sandbox: set image.scripts = true".into(),
            ));
        }
        if c.run.first().is_none_or(|a| a.is_empty()) {
            return Err(invalid(&format!("{key}.run"), "an empty command".into()));
        }
        if c.why.trim().is_empty() {
            return Err(invalid(
                &format!("{key}.why"),
                "say why the image needs this command".into(),
            ));
        }
    }
    for (i, t) in img.test_packages.iter().enumerate() {
        if img.packages.contains(t) {
            return Err(invalid(
                &format!("image.test-packages[{i}]"),
                format!("{t:?} is also in image.packages: a test package is left out of the image"),
            ));
        }
    }
    if img.bytecode && !img.wheels {
        return Err(invalid(
            "image.bytecode",
            "compiles the venv's wheels, but image.wheels = false leaves the venv empty".into(),
        ));
    }
    for (i, r) in img.scripts_remove.iter().enumerate() {
        if crate::fsutil::plain_image_path(r).is_none() {
            return Err(invalid(
                &format!("image.scripts-remove[{i}]"),
                format!("{r:?} is not a plain absolute path in the image"),
            ));
        }
    }
    Ok(())
}

/// One `[[package]]` (`key` is `package[i]`): its name, exactly one source, and its
/// build-requirements with their reason.
fn validate_package(key: &str, p: &PackageSpec) -> Result<Package, Invalid> {
    if !valid_name(&p.name) {
        return Err(invalid(
            &format!("{key}.name"),
            format!("{:?} is not a valid package name", p.name),
        ));
    }
    let source = package_source(key, p)?;
    if let Source::Sdist { file, .. } = &source {
        if !(file.ends_with(".tar.gz") || file.ends_with(".zip")) || file.contains('/') {
            return Err(invalid(
                &format!("{key}.sdist.file"),
                format!("{file:?} is not an sdist file name"),
            ));
        }
    }
    let reason = build_requirements_reason(key, p)?;
    Ok(Package {
        name: p.name.clone(),
        source,
        build_requirements: p.build_requirements.clone(),
        build_requirements_reason: reason.map(str::to_string),
    })
}

/// A package's one source: path, sdist (with its sha256) or git (at a full commit id).
fn package_source(key: &str, p: &PackageSpec) -> Result<Source, Invalid> {
    Ok(match (&p.path, &p.sdist, &p.git) {
        (Some(d), None, None) => Source::Dir(d.clone()),
        (None, Some(s), None) => Source::Sdist {
            file: s.file.clone(),
            sha256: Sha256Hex::parse(&s.sha256)
                .map_err(|e| invalid(&format!("{key}.sdist.sha256"), e))?,
        },
        (None, None, Some(g)) => {
            if g.commit.len() < 40 || !g.commit.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid(
                    &format!("{key}.git.commit"),
                    "must be a full commit id (40 or 64 hex digits)".into(),
                ));
            }
            Source::Git {
                url: g.url.clone(),
                commit: g.commit.to_ascii_lowercase(),
                subdir: g.subdir.clone(),
            }
        }
        _ => {
            return Err(invalid(
                key,
                "give exactly one source: path, sdist or git".into(),
            ))
        }
    })
}

/// A package's build-requirements are pinned, and come with a non-empty reason (and a reason
/// only with them): the trimmed reason.
fn build_requirements_reason<'a>(
    key: &str,
    p: &'a PackageSpec,
) -> Result<Option<&'a str>, Invalid> {
    for (j, r) in p.build_requirements.iter().enumerate() {
        crate::python::requirements::Pin::parse(r, "").map_err(|_| {
            invalid(
                &format!("{key}.build-requirements[{j}]"),
                format!("{r:?} is not a requirement pinned with =="),
            )
        })?;
    }
    let reason = p
        .build_requirements_reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    match (p.build_requirements.is_empty(), reason) {
        (false, None) => {
            return Err(invalid(
                &format!("{key}.build-requirements-reason"),
                "required with build-requirements: say why the package is not built with what its pyproject.toml declares".into(),
            ))
        }
        (true, Some(_)) => {
            return Err(invalid(
                &format!("{key}.build-requirements-reason"),
                "given without build-requirements".into(),
            ))
        }
        _ => {}
    }
    if p.build_requirements_reason.is_some() && reason.is_none() {
        return Err(invalid(
            &format!("{key}.build-requirements-reason"),
            "is empty".into(),
        ));
    }
    Ok(reason)
}

/// `[[publish]]`: unique names, known kinds and roles, URLs without credentials, and
/// credentials named by `env:VAR` or `file:PATH`.
fn validate_publish(publish: &[PublishSpec]) -> Result<(), Invalid> {
    let mut seen = std::collections::BTreeSet::new();
    for (i, d) in publish.iter().enumerate() {
        let key = format!("publish[{i}]");
        if !valid_name(&d.name) || !seen.insert(d.name.clone()) {
            return Err(invalid(
                &format!("{key}.name"),
                format!("{:?} is not a valid, unique destination name", d.name),
            ));
        }
        if !["pypi", "oci", "mirror"].contains(&d.kind.as_str()) {
            return Err(invalid(
                &format!("{key}.kind"),
                format!("{:?}: expected pypi, oci or mirror", d.kind),
            ));
        }
        if !["primary", "fallback"].contains(&d.role.as_str()) {
            return Err(invalid(
                &format!("{key}.role"),
                format!("{:?}: expected primary or fallback", d.role),
            ));
        }
        if let Err(why) = check_destination_url(&d.kind, &d.url) {
            return Err(invalid(&format!("{key}.url"), why));
        }
        validate_destination_extras(&key, d)?;
    }
    Ok(())
}

/// A destination's `index-url` (pypi only) and `credentials`.
fn validate_destination_extras(key: &str, d: &PublishSpec) -> Result<(), Invalid> {
    if let Some(u) = &d.index_url {
        if d.kind != "pypi" {
            return Err(invalid(
                &format!("{key}.index-url"),
                "only a pypi destination has an index-url".into(),
            ));
        }
        if let Err(why) = check_destination_url("pypi", u) {
            return Err(invalid(&format!("{key}.index-url"), why));
        }
    }
    if let Some(c) = &d.credentials {
        let ok = match c.split_once(':') {
            Some(("env", var)) => valid_env_name(var),
            Some(("file", path)) => !path.is_empty(),
            _ => false,
        };
        if !ok {
            return Err(invalid(
                &format!("{key}.credentials"),
                format!("{c:?}: must be `env:VAR` or `file:PATH`; secrets never go in the recipe"),
            ));
        }
    }
    Ok(())
}

/// `[toolchain]`: at least one package, http(s)/file mirrors and index URLs, and valid
/// snapshot URL patterns.
fn validate_toolchain(toolchain: &Toolchain, python: &PythonSection) -> Result<(), Invalid> {
    if toolchain.packages.is_empty() {
        return Err(invalid(
            "toolchain.packages",
            "list at least one Debian package (python3)".into(),
        ));
    }
    for (i, m) in toolchain
        .mirrors
        .iter()
        .chain(&python.index_urls)
        .enumerate()
    {
        if !(m.starts_with("http://") || m.starts_with("https://") || m.starts_with("file://")) {
            return Err(invalid(
                "toolchain.mirrors / python.index-urls",
                format!("entry {i} {m:?} is not an http(s):// or file:// URL"),
            ));
        }
    }
    for (i, p) in toolchain.snapshot_urls.iter().enumerate() {
        crate::snapshot::check_pattern(p)
            .map_err(|why| invalid(&format!("toolchain.snapshot-urls[{i}]"), why))?;
    }
    Ok(())
}

/// `[[archive]]`: unique names, .tar.gz file names, sha256s and locations without
/// credentials. The archive names.
fn validate_archives(
    archives: &[ArchiveSpec],
) -> Result<std::collections::BTreeSet<String>, Invalid> {
    let mut names = std::collections::BTreeSet::new();
    for (i, a) in archives.iter().enumerate() {
        let key = format!("archive[{i}]");
        if !valid_name(&a.name) || !names.insert(a.name.clone()) {
            return Err(invalid(
                &format!("{key}.name"),
                format!("{:?} is not a valid, unique archive name", a.name),
            ));
        }
        if a.file.is_empty() || a.file.contains('/') || !a.file.ends_with(".tar.gz") {
            return Err(invalid(
                &format!("{key}.file"),
                format!("{:?}: expected a .tar.gz file name (no /)", a.file),
            ));
        }
        Sha256Hex::parse(&a.sha256).map_err(|e| invalid(&format!("{key}.sha256"), e))?;
        for (j, l) in a.locations.iter().enumerate() {
            if let Some((scheme, rest)) = l.split_once("://") {
                if !["http", "https", "file"].contains(&scheme) {
                    return Err(invalid(
                        &format!("{key}.locations[{j}]"),
                        format!("{l:?}: expected http://, https://, file:// or a directory"),
                    ));
                }
                if rest.split('/').next().is_some_and(|h| h.contains('@')) {
                    return Err(invalid(
                        &format!("{key}.locations[{j}]"),
                        "credentials do not belong in a recipe URL".into(),
                    ));
                }
            }
        }
    }
    Ok(names)
}

/// `[image]`: its services, no relsign-written label, and files from archives of the recipe
/// at relative paths.
fn validate_image(
    img: &ImageSpec,
    archives: &std::collections::BTreeSet<String>,
) -> Result<(), Invalid> {
    crate::services::validate(&img.services).map_err(|(key, why)| (format!("image.{key}"), why))?;
    if img.labels.contains_key(crate::services::LABEL) {
        return Err(invalid(
            "image.labels",
            format!(
                "{} is written by relsign from [[image.services]]",
                crate::services::LABEL
            ),
        ));
    }
    for (i, f) in img.files.iter().enumerate() {
        if let Some(a) = &f.archive {
            if !archives.contains(a) {
                return Err(invalid(
                    &format!("image.files[{i}].archive"),
                    format!("{a:?} names no [[archive]] of this recipe"),
                ));
            }
            if crate::fsutil::relative_path(&f.src.to_string_lossy()).is_none() {
                return Err(invalid(
                    &format!("image.files[{i}].src"),
                    "inside an archive, src is a relative path without `..`".into(),
                ));
            }
        }
    }
    Ok(())
}

/// Whether `url` can be a destination of this kind: `Err` says why not. A pypi index is an
/// http(s) URL; a registry repository is `host[:port]/path`, optionally `http://` or
/// `https://`; a mirror is a local directory (a path or `file://` URL) that a static file
/// server serves. None may carry credentials (`user:secret@`).
pub fn check_destination_url(kind: &str, url: &str) -> Result<(), String> {
    if url.trim().is_empty() {
        return Err("is empty".into());
    }
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, url),
    };
    let authority = rest.split('/').next().unwrap_or("");
    if kind != "mirror" && authority.contains('@') {
        return Err(
            "must not carry credentials (user:secret@); name them with `credentials = \"env:VAR\"` or $RELSIGN_PUBLISH_<NAME>"
                .into(),
        );
    }
    match (kind, scheme) {
        ("pypi", Some("http" | "https")) => Ok(()),
        ("pypi", _) => Err(format!("{url:?}: a PyPI-style index is an http:// or https:// URL")),
        ("oci", None | Some("http" | "https")) if !authority.is_empty() && rest.contains('/') => {
            Ok(())
        }
        ("oci", _) => Err(format!(
            "{url:?}: a registry repository is host[:port]/path (http:// or https:// may prefix it)"
        )),
        ("mirror", None | Some("file")) => Ok(()),
        ("mirror", Some(s)) => Err(format!(
            "{url:?}: a mirror is a local directory (a path or file:// URL), not a {s}:// URL; serve that directory with any static file server"
        )),
        _ => Ok(()),
    }
}

fn valid_env_name(s: &str) -> bool {
    !s.is_empty()
        && !s.as_bytes()[0].is_ascii_digit()
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}
fn is_dotted_pair(s: &str) -> bool {
    let mut it = s.split('.');
    matches!((it.next(), it.next(), it.next()), (Some(a), Some(b), None)
        if !a.is_empty() && !b.is_empty() && a.bytes().all(|c| c.is_ascii_digit()) && b.bytes().all(|c| c.is_ascii_digit()))
}
fn is_python_version(s: &str) -> bool {
    is_dotted_pair(s) && s.starts_with("3.")
}

#[cfg(test)]
mod tests {
    use super::*;
    const GOOD: &str = r#"
[release]
name = "demo"
version = "0.1.0"
[python]
version = "3.13"
glibc = "2.41"
requirements = ["demo/requirements.txt"]
build-requirements = ["setuptools==83.0.0"]
lock = "pylock.demo.toml"
[[package]]
name = "demo"
path = "demo"
[toolchain]
suite = "trixie"
packages = ["python3"]
lock = "demo.debian.lock.toml"
"#;

    #[test]
    fn the_vulnerability_section_and_stable_are_checked_by_key() {
        let v = "\n[vulnerabilities]\nlock = \"v.lock.toml\"\nmax-age-days = 7\n[[vulnerabilities.database]]\nname = \"PyPI\"\n";
        let ok = format!("{GOOD}{v}");
        let r = Recipe::parse(Path::new("r.toml"), ok.clone().into_bytes()).unwrap();
        let spec = r.file.vulnerabilities.unwrap();
        assert_eq!((spec.fail_on.as_str(), spec.max_age_days), ("fixed", 7));
        let allow = |expires: &str, reason: &str| {
            format!("[[vulnerabilities.allow]]\nid = \"X-1\"\npackage = \"click\"\nreason = \"{reason}\"\nexpires = \"{expires}\"\n")
        };
        for (text, key, why) in [
            (
                ok.replace("max-age-days = 7", "max-age-days = 7\nfail-on = \"some\""),
                "vulnerabilities.fail-on",
                "not one of fixed",
            ),
            (
                ok.replace("max-age-days = 7", "max-age-days = 7\nseverity = \"BAD\""),
                "vulnerabilities.severity",
                "not one of LOW",
            ),
            (
                ok.replace("max-age-days = 7", "max-age-days = 0"),
                "vulnerabilities.max-age-days",
                "at least 1",
            ),
            (
                format!("{ok}[[vulnerabilities.database]]\nname = \"PyPI\"\n"),
                "vulnerabilities.database[1].name",
                "unique",
            ),
            (
                format!("{ok}{}", allow("2027-13-01", "r")),
                "vulnerabilities.allow[0]",
                "not a date",
            ),
            (
                format!("{ok}{}", allow("2027-01-01", " ")),
                "vulnerabilities.allow[0]",
                "a reason is required",
            ),
            (
                format!(
                    "{ok}{}{}",
                    allow("2027-01-01", "r"),
                    allow("2027-02-01", "r")
                ),
                "vulnerabilities.allow[1]",
                "appears twice",
            ),
            (
                ok.replace(
                    "version = \"0.1.0\"",
                    "version = \"0.1.0\"\nstable = \"1 10\"",
                ),
                "release.stable",
                "not a version or branch name",
            ),
        ] {
            let e = Recipe::parse(Path::new("r.toml"), text.into_bytes())
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&format!("key `{key}`")) && e.contains(why),
                "{key}: {e}"
            );
        }
        let no_db = GOOD.to_string() + "\n[vulnerabilities]\nlock = \"v\"\nmax-age-days = 1\n";
        let e = Recipe::parse(Path::new("r.toml"), no_db.into_bytes()).unwrap_err();
        assert!(e.to_string().contains("vulnerabilities.database"), "{e}");
    }

    #[test]
    fn scripts_need_libfaketime_and_plain_removals() {
        let img = "\n[image]\nname = \"i\"\npackages = [\"python3\"]\nlock = \"i.lock.toml\"\nscripts = true\n";
        let e = Recipe::parse(Path::new("r.toml"), format!("{GOOD}{img}").into_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("image.scripts") && e.contains("libfaketime"),
            "{e}"
        );
        let with_ft = GOOD.replace(
            "packages = [\"python3\"]",
            "packages = [\"python3\", \"libfaketime\"]",
        );
        Recipe::parse(Path::new("r.toml"), format!("{with_ft}{img}").into_bytes()).unwrap();
        for bad in ["etc/x", "/", "/etc/../x", "/etc//x"] {
            let text = format!("{with_ft}{img}scripts-remove = [{bad:?}]\n");
            let e = Recipe::parse(Path::new("r.toml"), text.into_bytes())
                .unwrap_err()
                .to_string();
            assert!(e.contains("image.scripts-remove[0]"), "{bad}: {e}");
        }
        let text = format!("{with_ft}{img}bytecode = true\nwheels = false\n");
        let e = Recipe::parse(Path::new("r.toml"), text.into_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.contains("image.bytecode") && e.contains("wheels"), "{e}");
        let text = format!("{with_ft}{img}bytecode = true\n");
        assert!(Recipe::parse(Path::new("r.toml"), text.into_bytes()).is_ok());
        let cmd = |why: &str| {
            format!("[[image.commands]]\nwhy = {why:?}\nrun = [\"a2enmod\", \"rewrite\"]\n")
        };
        let ok = format!("{with_ft}{img}{}", cmd("Apache's rewrite module"));
        assert_eq!(
            Recipe::parse(Path::new("r.toml"), ok.clone().into_bytes())
                .unwrap()
                .file
                .image
                .unwrap()
                .commands[0]
                .run,
            ["a2enmod", "rewrite"]
        );
        let e = Recipe::parse(
            Path::new("r.toml"),
            format!("{with_ft}{img}{}", cmd(" ")).into_bytes(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("image.commands[0].why"), "{e}");
        let no_scripts = ok.replace("scripts = true\n", "");
        let e = Recipe::parse(Path::new("r.toml"), no_scripts.into_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("image.commands[0]") && e.contains("image.scripts"),
            "{e}"
        );
    }

    #[test]
    fn parses_good_recipe() {
        let r = Recipe::parse(Path::new("recipes/x.toml"), GOOD.as_bytes().to_vec()).unwrap();
        assert_eq!(r.packages[0].source, Source::Dir("demo".into()));
        assert_eq!(r.python_lock_path(), Path::new("recipes/pylock.demo.toml"));
    }

    #[test]
    fn image_services_are_validated_with_file_and_key() {
        let img = |services: &str| {
            format!(
                "{GOOD}[image]\nname = \"x\"\npackages = [\"python3\"]\nlock = \"x.lock.toml\"\n{services}"
            )
        };
        let ok = img("[[image.services]]\nname = \"db\"\nuser = \"postgres\"\ncommand = [\"postgres\"]\nready = { tcp = 5432 }\n");
        let r = Recipe::parse(Path::new("recipes/x.toml"), ok.clone().into_bytes()).unwrap();
        assert_eq!(r.file.image.unwrap().services[0].name, "db");
        let e = Recipe::parse(
            Path::new("recipes/x.toml"),
            ok.replace("{ tcp = 5432 }", "{ http = \"http://example.org/\" }")
                .into_bytes(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("recipes/x.toml")
                && e.contains("image.services[0].ready")
                && e.contains("loopback"),
            "{e}"
        );
        let e = Recipe::parse(
            Path::new("recipes/x.toml"),
            ok.replace(
                "[[image.services]]",
                "labels = { \"relsign.services\" = \"[]\" }\n[[image.services]]",
            )
            .into_bytes(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("image.labels"), "{e}");
    }

    #[test]
    fn server_suite_is_validated_with_file_and_key() {
        let base = format!(
            "{GOOD}[[archive]]\nname = \"up\"\nfile = \"up.tar.gz\"\nsha256 = \"{}\"\nsize = 1\n\
             [test]\nfeatures = \"f\"\nrun-in = [\"services\"]\n\
             [test.server]\narchive = \"up\"\nfeatures = \"tests/features\"\nuser = \"www-data\"\n\
             gating = [{{ feature = \"A.feature\", scenario = \"s\" }}]\n\
             [image]\nname = \"x\"\npackages = [\"python3\"]\nlock = \"x.lock.toml\"\n\
             [[image.services]]\nname = \"db\"\ncommand = [\"db\"]\nready = {{ tcp = 5432 }}\n",
            "0".repeat(64)
        );
        let parse = |t: String| Recipe::parse(Path::new("recipes/x.toml"), t.into_bytes());
        let r = parse(base.clone()).unwrap();
        assert_eq!(r.file.test.unwrap().server.unwrap().gating.len(), 1);
        let with = parse(base.replace(
            "user = \"www-data\"\n",
            "user = \"www-data\"\nservice-env = { CONFIGFROM = \"{debug: true}\" }\n\
             setup = [{ run = [\"psql\", \"-f\", \"/f/x.sql\"], user = \"postgres\" }]\n",
        ))
        .unwrap();
        let s = with.file.test.unwrap().server.unwrap();
        assert_eq!(s.service_env["CONFIGFROM"], "{debug: true}");
        assert_eq!(
            (s.setup[0].user.as_str(), s.setup[0].run.len()),
            ("postgres", 3)
        );
        let cases = [
            (
                base.replace("archive = \"up\"\nfeatures", "archive = \"down\"\nfeatures"),
                "test.server.archive",
            ),
            (
                base.replace("\"tests/features\"", "\"../x\""),
                "test.server.features",
            ),
            (
                base.replace(
                    "gating = [{ feature = \"A.feature\", scenario = \"s\" }]",
                    "gating = []",
                ),
                "test.server.gating",
            ),
            (
                base.replace(
                    "scenario = \"s\" }]",
                    "scenario = \"s\" }, { feature = \"A.feature\", scenario = \"s\" }]",
                ),
                "test.server.gating[1]",
            ),
            (
                base.replace("\"A.feature\"", "\"A\""),
                "test.server.gating[0].feature",
            ),
            (
                base.replace("run-in = [\"services\"]", "run-in = [\"venv\"]"),
                "test.server",
            ),
            (
                base.replace("run-in = [\"services\"]", "run-in = [\"vm\"]"),
                "test.run-in[0]",
            ),
            (
                base.replace(
                    "user = \"www-data\"\n",
                    "user = \"www-data\"\nbinds = [{ src = \"d\", dest = \"rel\" }]\n",
                ),
                "test.server.binds[0].dest",
            ),
            (
                base.replace(
                    "user = \"www-data\"\n",
                    "user = \"www-data\"\nlogs = [\"/var/log\", \"/var/../etc/shadow\"]\n",
                ),
                "test.server.logs[1]",
            ),
            (
                base.replace(
                    "user = \"www-data\"\n",
                    "user = \"www-data\"\nservice-env = { CONFIG = \"x\", \"BAD-NAME\" = \"y\" }\n",
                ),
                "test.server.service-env",
            ),
            (
                base.replace(
                    "user = \"www-data\"\n",
                    "user = \"www-data\"\nservice-env = { CONFIG = \"a\\u0000b\" }\n",
                ),
                "test.server.service-env.CONFIG",
            ),
            (
                base.replace(
                    "user = \"www-data\"\n",
                    "user = \"www-data\"\nsetup = [{ run = [\"psql\"], user = \"postgres\" }, { run = [] }]\n",
                ),
                "test.server.setup[1].run",
            ),
            (
                base.replace(
                    "user = \"www-data\"\n",
                    "user = \"www-data\"\nsetup = [{ run = [\"psql\"], user = \"-x\" }]\n",
                ),
                "test.server.setup[0].user",
            ),
            (
                base.replace(
                    "user = \"www-data\"\n",
                    "user = \"www-data\"\nsetup = [{ run = [\"psql\"], creates = \"tmp/x\" }]\n",
                ),
                "test.server.setup[0].creates",
            ),
        ];
        for (text, key) in cases {
            let e = parse(text).unwrap_err().to_string();
            assert!(
                e.contains("recipes/x.toml") && e.contains(key),
                "{key}: {e}"
            );
        }
    }

    #[test]
    fn unknown_key_names_file_and_key() {
        let bad = GOOD.replace("suite = \"trixie\"", "suite = \"trixie\"\nsuit = \"x\"");
        let e = Recipe::parse(Path::new("recipes/x.toml"), bad.into_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.contains("recipes/x.toml") && e.contains("suit"), "{e}");
    }

    #[test]
    fn snapshot_urls_are_checked() {
        let ok = GOOD.replace(
            "lock = \"demo.debian.lock.toml\"",
            "lock = \"demo.debian.lock.toml\"\nsnapshot-urls = [\"file:///s/{timestamp}/\"]\nallow-expired-release = true",
        );
        let r = Recipe::parse(Path::new("r.toml"), ok.clone().into_bytes()).unwrap();
        assert_eq!(
            r.file.toolchain.snapshot_urls,
            vec!["file:///s/{timestamp}/"]
        );
        assert!(r.file.toolchain.allow_expired_release);
        let bad = ok.replace("/s/{timestamp}/", "/s/");
        let e = Recipe::parse(Path::new("r.toml"), bad.into_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("toolchain.snapshot-urls[0]") && e.contains("{timestamp}"),
            "{e}"
        );
    }

    #[test]
    fn package_build_requirements_need_pins_and_a_reason() {
        let with = |extra: &str| {
            GOOD.replace("path = \"demo\"", &format!("path = \"demo\"\n{extra}"))
                .into_bytes()
        };
        let ok = with("build-requirements = [\"setuptools==82.0.1\"]\nbuild-requirements-reason = \"as upstream\"");
        let r = Recipe::parse(Path::new("r.toml"), ok).unwrap();
        assert_eq!(r.packages[0].build_requirements, ["setuptools==82.0.1"]);
        assert_eq!(
            r.packages[0].build_requirements_reason.as_deref(),
            Some("as upstream")
        );
        for (extra, key, why) in [
            (
                "build-requirements = [\"setuptools==82.0.1\"]",
                "package[0].build-requirements-reason",
                "required",
            ),
            (
                "build-requirements = [\"setuptools==82.0.1\"]\nbuild-requirements-reason = \" \"",
                "package[0].build-requirements-reason",
                "required",
            ),
            (
                "build-requirements-reason = \"x\"",
                "package[0].build-requirements-reason",
                "without build-requirements",
            ),
            (
                "build-requirements = [\"setuptools>=82\"]\nbuild-requirements-reason = \"x\"",
                "package[0].build-requirements[0]",
                "pinned",
            ),
        ] {
            let e = Recipe::parse(Path::new("r.toml"), with(extra))
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with("r.toml: ") && e.contains(key) && e.contains(why),
                "{extra}: {e}"
            );
        }
    }

    #[test]
    fn unpinned_build_requirement_is_refused() {
        let bad = GOOD.replace("setuptools==83.0.0", "setuptools>=70");
        let e = Recipe::parse(Path::new("r.toml"), bad.into_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.contains("python.build-requirements[0]"), "{e}");
    }
}
