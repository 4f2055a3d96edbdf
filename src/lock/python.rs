//! The Python lock (PEP 751 `pylock.toml`), the closure check, and fetching/exporting the
//! locked files.
//!
//! # What the lock holds
//!
//! One `[[packages]]` entry per exact pin (runtime pins from the recipe's requirements files,
//! build pins from `python.build-requirements`), sorted by normalized name. Each entry names the
//! one file chosen for the target (the best compatible wheel by tag preference, else the sdist)
//! by file name, size and sha256.
//!
//! # Deliberate deviations from PEP 751
//!
//! * **No `url`, `path` or `index`.** PEP 751 requires `url` or `path` on every sdist and
//!   wheel. relsign leaves both out on purpose: a file is identified by its name and digest
//!   alone, so one lock serves any mirror (the public index, a company mirror, a `file://`
//!   export, an air-gapped copy) and no mirror address is committed. `relsign fetch` finds each
//!   file by name on the configured indexes and checks its digest and size. Strict PEP 751
//!   readers (for example `packaging.pylock`) reject such files with "path or url must be
//!   provided"; installing from this lock goes through `relsign fetch --export DIR` and
//!   `pip install --index-url file://DIR/simple`.
//! * **One target.** `environments` is a single marker for the recipe's target (CPython X.Y,
//!   Linux, machine); the glibc version, which markers cannot express, is in `[tool.relsign]`.
//!
//! # Dependency groups
//!
//! Build requirements and runtime pins may differ (even in version), so membership is encoded
//! with PEP 751 markers over `dependency_groups`: `dependency-groups = ["build", "runtime"]`,
//! `default-groups = ["runtime"]`, and every package has a marker `'runtime' in
//! dependency_groups`, `'build' in dependency_groups`, or both joined by `or`. An installer that
//! installs the defaults installs exactly the runtime pins. A package without a marker belongs to
//! both groups.
//!
//! `[tool.relsign]` records the target, the pins and a digest over them (`inputs-sha256`), so
//! `relsign lock --check` can tell offline when the lock is stale.

use crate::digest::Sha256Hex;
use crate::fetch::Http;
use crate::fsutil;
use crate::lock::index;
use crate::python::markers::{Env, Marker};
use crate::python::metadata::{self, Metadata};
use crate::python::requirements::{self, normalize_name, Pin, Requirement};
use crate::python::simple::{self, FileLink};
use crate::python::tags::{parse_sdist_name, Target, WheelName};
use crate::python::version::{SpecifierSet, Version};
use crate::recipe::Recipe;
use crate::report::Reporter;
use crate::store::Store;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

pub const LOCK_VERSION: &str = "1.0";
pub const CREATED_BY: &str = "relsign";
pub const RUNTIME: &str = "runtime";
pub const BUILD: &str = "build";
/// Packages the release gate (behave) needs on top of the runtime ones.
pub const TEST: &str = "test";
/// Every group, in a fixed order.
pub const GROUPS: [&str; 3] = [BUILD, RUNTIME, TEST];

pub use super::python_error::PyLockError;

/// A locked file: name, size and digest (no URL: see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedFile {
    pub name: String,
    pub size: Option<u64>,
    pub sha256: Sha256Hex,
}

impl LockedFile {
    pub fn is_wheel(&self) -> bool {
        self.name.ends_with(".whl")
    }
}

/// One `[[packages]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedPackage {
    /// Normalized name.
    pub name: String,
    pub version: String,
    /// The PEP 751 marker, as written.
    pub marker: Option<String>,
    pub requires_python: Option<String>,
    pub wheels: Vec<LockedFile>,
    pub sdist: Option<LockedFile>,
    /// The groups the package belongs to (derived from the marker).
    pub groups: BTreeSet<String>,
}

impl LockedPackage {
    /// The files of the entry: wheels, then the sdist.
    pub fn files(&self) -> impl Iterator<Item = &LockedFile> {
        self.wheels.iter().chain(self.sdist.as_ref())
    }
    /// Locked as an sdist only: the build step must build it.
    pub fn sdist_only(&self) -> bool {
        self.wheels.is_empty() && self.sdist.is_some()
    }
}

/// `[tool.relsign]`: the inputs the lock was made from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RelsignTool {
    pub inputs_sha256: Option<Sha256Hex>,
    pub python: String,
    pub glibc: String,
    pub machine: String,
    pub runtime_pins: Vec<String>,
    pub build_pins: Vec<String>,
    pub test_pins: Vec<String>,
    /// Closure problems accepted with `--allow-incomplete`.
    pub incomplete: Vec<String>,
    /// Each package's build environment (`[[tool.relsign.builds]]`).
    pub builds: Vec<super::builds::BuildRecord>,
}

/// A PEP 751 lock as relsign writes and reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PyLock {
    pub lock_version: String,
    pub environments: Vec<String>,
    pub requires_python: Option<String>,
    pub dependency_groups: Vec<String>,
    pub default_groups: Vec<String>,
    pub created_by: String,
    pub packages: Vec<LockedPackage>,
    pub relsign: Option<RelsignTool>,
}

// ---------------------------------------------------------------- the target and the inputs

/// The target and the pins of a recipe, as the lock sees them.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub target: Target,
    pub env: Env,
    pub python: String,
    pub glibc: String,
    pub machine: String,
    pub runtime: Vec<Pin>,
    pub build: Vec<Pin>,
    pub test: Vec<Pin>,
    /// Each package's build environment (group `build-<package>`); set by `with_builds`.
    pub builds: Vec<super::builds::PackageBuild>,
}

impl Inputs {
    pub fn from_recipe(recipe: &Recipe) -> Result<Inputs, PyLockError> {
        let py = &recipe.file.python;
        let target = Target::parse(&py.version, &py.glibc, &py.machine).ok_or_else(|| {
            PyLockError::Recipe {
                file: recipe.path.clone(),
                key: "python".into(),
                reason: format!(
                    "cannot read the target from version={:?} glibc={:?}",
                    py.version, py.glibc
                ),
            }
        })?;
        let env = Env::cpython_linux(&py.version, 0, &py.machine);
        let mut runtime = Vec::new();
        for f in &py.requirements {
            runtime.extend(requirements::read_pins(&recipe.resolve(f))?);
        }
        let runtime = requirements::select(runtime, &env)?;
        let mut build = Vec::new();
        for (i, r) in py.build_requirements.iter().enumerate() {
            build.push(Pin::parse(
                r,
                &format!("{}: python.build-requirements[{i}]", recipe.path.display()),
            )?);
        }
        let build = requirements::select(build, &env)?;
        let mut test = Vec::new();
        for (i, r) in py.test_requirements.iter().enumerate() {
            test.push(Pin::parse(
                r,
                &format!("{}: python.test-requirements[{i}]", recipe.path.display()),
            )?);
        }
        let test = requirements::select(test, &env)?;
        Ok(Inputs {
            target,
            env,
            python: py.version.clone(),
            glibc: py.glibc.clone(),
            machine: py.machine.clone(),
            runtime,
            build,
            test,
            builds: Vec::new(),
        })
    }

    /// The inputs with each package's build environment.
    pub fn with_builds(mut self, builds: Vec<super::builds::PackageBuild>) -> Inputs {
        self.builds = builds;
        self
    }

    /// The `environments` marker for the target.
    pub fn environment_marker(&self) -> String {
        format!(
            "python_version == '{}' and sys_platform == 'linux' and platform_machine == '{}' and implementation_name == 'cpython'",
            self.python, self.machine
        )
    }

    pub fn runtime_specs(&self) -> Vec<String> {
        self.runtime.iter().map(Pin::spec).collect()
    }
    pub fn build_specs(&self) -> Vec<String> {
        self.build.iter().map(Pin::spec).collect()
    }
    pub fn test_specs(&self) -> Vec<String> {
        self.test.iter().map(Pin::spec).collect()
    }

    /// sha256 over the target and the sorted pins.
    pub fn digest(&self) -> Sha256Hex {
        let mut s = format!(
            "relsign pylock inputs v1\npython={}\nglibc={}\nmachine={}\n",
            self.python, self.glibc, self.machine
        );
        for p in self.runtime_specs() {
            s.push_str(&format!("runtime {p}\n"));
        }
        for p in self.build_specs() {
            s.push_str(&format!("build {p}\n"));
        }
        // Test pins only when there are some, so older locks stay valid.
        for p in self.test_specs() {
            s.push_str(&format!("test {p}\n"));
        }
        // Per-package build environments only when there are some, likewise.
        for b in &self.builds {
            let r = &b.record;
            s.push_str(&format!("{} backend {}\n", r.group, r.backend));
            for p in &r.requirements {
                s.push_str(&format!("{} {p}\n", r.group));
            }
        }
        Sha256Hex::of(s.as_bytes())
    }
}

fn group_marker(groups: &BTreeSet<String>) -> Option<String> {
    if groups.is_empty() {
        return None;
    }
    Some(
        groups
            .iter()
            .map(|g| format!("'{g}' in dependency_groups"))
            .collect::<Vec<_>>()
            .join(" or "),
    )
}

// ------------------------------------------------------------------------ writer and reader

fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn toml_array(v: &[String]) -> String {
    if v.is_empty() {
        return "[]".into();
    }
    let one_line = format!(
        "[{}]",
        v.iter().map(|s| toml_str(s)).collect::<Vec<_>>().join(", ")
    );
    if one_line.len() <= 100 {
        return one_line;
    }
    let mut s = String::from("[\n");
    for x in v {
        s.push_str(&format!("    {},\n", toml_str(x)));
    }
    s.push(']');
    s
}

fn write_file(out: &mut String, f: &LockedFile, path_prefix: Option<&str>) {
    out.push_str(&format!("name = {}\n", toml_str(&f.name)));
    if let Some(prefix) = path_prefix {
        out.push_str(&format!(
            "path = {}\n",
            toml_str(&format!("{prefix}{}", f.name))
        ));
    }
    if let Some(n) = f.size {
        out.push_str(&format!("size = {n}\n"));
    }
    out.push_str(&format!(
        "hashes = {{ sha256 = {} }}\n",
        toml_str(f.sha256.as_str())
    ));
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawLock {
    lock_version: String,
    #[serde(default)]
    environments: Vec<String>,
    requires_python: Option<String>,
    #[serde(default)]
    dependency_groups: Vec<String>,
    #[serde(default)]
    default_groups: Vec<String>,
    created_by: String,
    #[serde(default)]
    packages: Vec<RawPackage>,
    #[serde(default)]
    tool: BTreeMap<String, toml::Value>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawPackage {
    name: String,
    version: Option<String>,
    marker: Option<String>,
    requires_python: Option<String>,
    #[serde(default)]
    wheels: Vec<RawFile>,
    sdist: Option<RawFile>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawFile {
    name: Option<String>,
    size: Option<u64>,
    url: Option<String>,
    path: Option<String>,
    #[serde(default)]
    hashes: BTreeMap<String, String>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct RawTool {
    inputs_sha256: Option<String>,
    #[serde(default)]
    python: String,
    #[serde(default)]
    glibc: String,
    #[serde(default)]
    machine: String,
    #[serde(default)]
    runtime_pins: Vec<String>,
    #[serde(default)]
    build_pins: Vec<String>,
    #[serde(default)]
    test_pins: Vec<String>,
    #[serde(default)]
    incomplete: Vec<String>,
    #[serde(default)]
    builds: Vec<RawBuild>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawBuild {
    package: String,
    group: String,
    source: String,
    backend: String,
    declared: Vec<String>,
    requirements: Vec<String>,
    reason: Option<String>,
}

/// A file name that is safe to use as a path component.
fn plain_file_name(n: &str) -> bool {
    !n.is_empty() && !n.starts_with('.') && !n.contains(['/', '\\', '\0'])
}

impl PyLock {
    pub fn read(path: &Path) -> Result<PyLock, PyLockError> {
        let text = fsutil::read_to_string(path)?;
        Self::parse(&text, path)
    }

    /// Parse and validate a lock. Unknown keys are ignored (PEP 751 allows other tools' data).
    pub fn parse(text: &str, path: &Path) -> Result<PyLock, PyLockError> {
        let raw: RawLock = toml::from_str(text).map_err(|e| PyLockError::Parse {
            file: path.into(),
            reason: e.to_string().trim_end().to_string(),
        })?;
        let major = raw.lock_version.split('.').next().unwrap_or("");
        if major != "1" {
            return Err(invalid(
                path,
                "lock-version".into(),
                format!(
                    "version {:?} is not supported (expected 1.x)",
                    raw.lock_version
                ),
            ));
        }
        let all_groups = nameable_groups(&raw.dependency_groups, path)?;
        let mut packages = Vec::new();
        for (i, p) in raw.packages.into_iter().enumerate() {
            packages.push(locked_package(
                p,
                &format!("packages[{i}]"),
                &all_groups,
                path,
            )?);
        }
        let relsign = match raw.tool.get("relsign") {
            None => None,
            Some(v) => Some(relsign_tool(v, &all_groups, path)?),
        };
        Ok(PyLock {
            lock_version: raw.lock_version,
            environments: raw.environments,
            requires_python: raw.requires_python,
            dependency_groups: raw.dependency_groups,
            default_groups: raw.default_groups,
            created_by: raw.created_by,
            packages,
            relsign,
        })
    }

    /// The TOML text (deterministic: same lock, same bytes).
    pub fn to_toml(&self) -> String {
        self.render(None)
    }

    /// The lock as a vendor directory's `pylock.toml`: every file also gets
    /// `path = "<prefix><file name>"`, relative to that directory, which makes it a complete
    /// PEP 751 lock for offline installs from the directory.
    pub fn to_toml_vendored(&self, prefix: &str) -> String {
        self.render(Some(prefix))
    }

    fn render(&self, path_prefix: Option<&str>) -> String {
        let mut s = String::from("# Generated by `relsign lock`. Do not edit: change the pins and run `relsign lock` again.\n");
        if path_prefix.is_none() {
            s.push_str("# Files are named by name, size and sha256 only (no download location), so any mirror can serve them.\n");
        }
        s.push_str(&format!(
            "lock-version = {}\n",
            toml_str(&self.lock_version)
        ));
        s.push_str(&format!(
            "environments = {}\n",
            toml_array(&self.environments)
        ));
        if let Some(rp) = &self.requires_python {
            s.push_str(&format!("requires-python = {}\n", toml_str(rp)));
        }
        s.push_str(&format!(
            "dependency-groups = {}\n",
            toml_array(&self.dependency_groups)
        ));
        s.push_str(&format!(
            "default-groups = {}\n",
            toml_array(&self.default_groups)
        ));
        s.push_str(&format!("created-by = {}\n", toml_str(&self.created_by)));
        for p in &self.packages {
            s.push_str("\n[[packages]]\n");
            s.push_str(&format!("name = {}\n", toml_str(&p.name)));
            s.push_str(&format!("version = {}\n", toml_str(&p.version)));
            if let Some(m) = &p.marker {
                s.push_str(&format!("marker = {}\n", toml_str(m)));
            }
            if let Some(rp) = &p.requires_python {
                s.push_str(&format!("requires-python = {}\n", toml_str(rp)));
            }
            if let Some(sd) = &p.sdist {
                s.push_str("\n[packages.sdist]\n");
                write_file(&mut s, sd, path_prefix);
            }
            for w in &p.wheels {
                s.push_str("\n[[packages.wheels]]\n");
                write_file(&mut s, w, path_prefix);
            }
        }
        if let Some(t) = &self.relsign {
            s.push_str("\n[tool.relsign]\n");
            if let Some(d) = &t.inputs_sha256 {
                s.push_str(&format!("inputs-sha256 = {}\n", toml_str(d.as_str())));
            }
            s.push_str(&format!("python = {}\n", toml_str(&t.python)));
            s.push_str(&format!("glibc = {}\n", toml_str(&t.glibc)));
            s.push_str(&format!("machine = {}\n", toml_str(&t.machine)));
            s.push_str(&format!("runtime-pins = {}\n", toml_array(&t.runtime_pins)));
            s.push_str(&format!("build-pins = {}\n", toml_array(&t.build_pins)));
            if !t.test_pins.is_empty() {
                s.push_str(&format!("test-pins = {}\n", toml_array(&t.test_pins)));
            }
            s.push_str(&format!("incomplete = {}\n", toml_array(&t.incomplete)));
            for b in &t.builds {
                s.push_str("\n[[tool.relsign.builds]]\n");
                s.push_str(&format!("package = {}\n", toml_str(&b.package)));
                s.push_str(&format!("group = {}\n", toml_str(&b.group)));
                s.push_str(&format!("source = {}\n", toml_str(&b.source)));
                s.push_str(&format!("backend = {}\n", toml_str(&b.backend)));
                s.push_str(&format!("declared = {}\n", toml_array(&b.declared)));
                s.push_str(&format!("requirements = {}\n", toml_array(&b.requirements)));
                if let Some(r) = &b.reason {
                    s.push_str(&format!("reason = {}\n", toml_str(r)));
                }
            }
        }
        s
    }

    /// Write atomically.
    pub fn write(&self, path: &Path) -> Result<(), PyLockError> {
        Ok(fsutil::write_atomic(path, self.to_toml().as_bytes())?)
    }

    /// Packages installed at run time.
    pub fn runtime(&self) -> impl Iterator<Item = &LockedPackage> {
        self.packages.iter().filter(|p| p.groups.contains(RUNTIME))
    }
    /// Packages the build needs (PEP 517 backends and their dependencies).
    pub fn build(&self) -> impl Iterator<Item = &LockedPackage> {
        self.packages.iter().filter(|p| p.groups.contains(BUILD))
    }
    /// Packages the release gate needs (behave and its dependencies).
    pub fn test(&self) -> impl Iterator<Item = &LockedPackage> {
        self.packages.iter().filter(|p| p.groups.contains(TEST))
    }
    /// (file name, digest) of every file of the build group.
    pub fn build_files(&self) -> impl Iterator<Item = (&str, &Sha256Hex)> {
        self.build()
            .flat_map(|p| p.files())
            .map(|f| (f.name.as_str(), &f.sha256))
    }
    /// Packages of one dependency group (for example a package's `build-<package>`).
    pub fn group<'a>(&'a self, group: &'a str) -> impl Iterator<Item = &'a LockedPackage> {
        self.packages
            .iter()
            .filter(move |p| p.groups.contains(group))
    }
    /// The recorded build environment of a recipe package.
    pub fn build_record(&self, package: &str) -> Option<&super::builds::BuildRecord> {
        self.relsign
            .as_ref()
            .and_then(|t| t.builds.iter().find(|b| b.package == package))
    }
    /// Every locked file with its package.
    pub fn files(&self) -> impl Iterator<Item = (&LockedPackage, &LockedFile)> {
        self.packages
            .iter()
            .flat_map(|p| p.files().map(move |f| (p, f)))
    }
}

fn invalid(path: &Path, key: String, reason: String) -> PyLockError {
    PyLockError::Invalid {
        file: path.into(),
        key,
        reason,
    }
}

/// The groups a marker can name: the fixed ones and those the lock declares (each package's
/// build group), which must be normalized names.
fn nameable_groups(declared: &[String], path: &Path) -> Result<BTreeSet<String>, PyLockError> {
    let mut all_groups: BTreeSet<String> = GROUPS.iter().map(|g| g.to_string()).collect();
    for g in declared {
        if g.is_empty() || g.len() > 200 || normalize_name(g) != *g {
            return Err(invalid(
                path,
                "dependency-groups".into(),
                format!("{g:?} is not a normalized group name"),
            ));
        }
        all_groups.insert(g.clone());
    }
    if all_groups.len() > 4096 {
        return Err(invalid(
            path,
            "dependency-groups".into(),
            format!("{} groups, more than 4096", all_groups.len()),
        ));
    }
    Ok(all_groups)
}

/// One `[[packages]]` entry, checked (`key` is `packages[i]`).
fn locked_package(
    p: RawPackage,
    key: &str,
    all_groups: &BTreeSet<String>,
    path: &Path,
) -> Result<LockedPackage, PyLockError> {
    if normalize_name(&p.name) != p.name {
        return Err(invalid(
            path,
            format!("{key}.name"),
            format!("{:?} is not a normalized name", p.name),
        ));
    }
    let version = p.version.ok_or_else(|| {
        invalid(
            path,
            format!("{key}.version"),
            "missing (relsign locks exact versions)".into(),
        )
    })?;
    let groups = match &p.marker {
        None => [BUILD, RUNTIME].iter().map(|s| s.to_string()).collect(),
        Some(m) => {
            marker_groups(m, all_groups).map_err(|e| invalid(path, format!("{key}.marker"), e))?
        }
    };
    let mut wheels = Vec::new();
    for (j, w) in p.wheels.into_iter().enumerate() {
        let lf = locked_file(w, &format!("{key}.wheels[{j}]"), path)?;
        if !lf.is_wheel() {
            return Err(invalid(
                path,
                format!("{key}.wheels[{j}].name"),
                format!("{:?} is not a wheel", lf.name),
            ));
        }
        wheels.push(lf);
    }
    let sdist = match p.sdist {
        Some(s) => Some(locked_file(s, &format!("{key}.sdist"), path)?),
        None => None,
    };
    if wheels.is_empty() && sdist.is_none() {
        return Err(invalid(path, key.into(), "no wheels and no sdist".into()));
    }
    Ok(LockedPackage {
        name: p.name,
        version,
        marker: p.marker,
        requires_python: p.requires_python,
        wheels,
        sdist,
        groups,
    })
}

/// The groups a package's marker puts it in. A marker over other variables too (a lock from
/// another tool) is taken to apply to both fixed groups (and the test group).
fn marker_groups(m: &str, all_groups: &BTreeSet<String>) -> Result<BTreeSet<String>, String> {
    let marker = Marker::parse(m).map_err(|e| e.to_string())?;
    let only_groups = marker.mentions_only_groups();
    let mut g = BTreeSet::new();
    for group in all_groups {
        if !only_groups {
            // Not read for build groups: those are relsign's own markers.
            if GROUPS.contains(&group.as_str()) {
                g.insert(group.clone());
            }
            continue;
        }
        let mut env = Env::cpython_linux("", 0, "");
        env.dependency_groups.insert(group.clone());
        if marker.evaluate(&env) {
            g.insert(group.clone());
        }
    }
    Ok(g)
}

/// One file of a package (`fkey` is `packages[i].wheels[j]` or `packages[i].sdist`): its name
/// (else the last component of its url or path) must be a plain file name, and it needs a
/// sha256.
fn locked_file(f: RawFile, fkey: &str, path: &Path) -> Result<LockedFile, PyLockError> {
    let name = f
        .name
        .or_else(|| {
            f.url
                .as_deref()
                .or(f.path.as_deref())
                .and_then(|u| u.rsplit('/').next())
                .map(str::to_string)
        })
        .ok_or_else(|| invalid(path, format!("{fkey}.name"), "missing".into()))?;
    if !plain_file_name(&name) {
        return Err(invalid(
            path,
            format!("{fkey}.name"),
            format!("{name:?} is not a plain file name"),
        ));
    }
    let h = f
        .hashes
        .get("sha256")
        .ok_or_else(|| invalid(path, format!("{fkey}.hashes"), "no sha256 hash".into()))?;
    let sha256 =
        Sha256Hex::parse(h).map_err(|e| invalid(path, format!("{fkey}.hashes.sha256"), e))?;
    Ok(LockedFile {
        name,
        size: f.size,
        sha256,
    })
}

/// `[tool.relsign]`: the inputs digest, the target, the pins and the build records (one per
/// package, each naming its own declared group).
fn relsign_tool(
    v: &toml::Value,
    all_groups: &BTreeSet<String>,
    path: &Path,
) -> Result<RelsignTool, PyLockError> {
    let t: RawTool = v.clone().try_into().map_err(|e: toml::de::Error| {
        invalid(
            path,
            "tool.relsign".into(),
            e.to_string().trim_end().to_string(),
        )
    })?;
    let inputs_sha256 = match t.inputs_sha256 {
        Some(s) => Some(
            Sha256Hex::parse(&s)
                .map_err(|e| invalid(path, "tool.relsign.inputs-sha256".into(), e))?,
        ),
        None => None,
    };
    let mut builds: Vec<super::builds::BuildRecord> = Vec::new();
    for (i, b) in t.builds.into_iter().enumerate() {
        let key = format!("tool.relsign.builds[{i}]");
        if builds.iter().any(|x| x.package == b.package) {
            return Err(invalid(
                path,
                format!("{key}.package"),
                format!("{:?} appears twice", b.package),
            ));
        }
        if b.group != super::builds::group_name(&b.package) || !all_groups.contains(&b.group) {
            return Err(invalid(
                path,
                format!("{key}.group"),
                format!(
                    "{:?}: expected {:?}, one of dependency-groups",
                    b.group,
                    super::builds::group_name(&b.package)
                ),
            ));
        }
        builds.push(super::builds::BuildRecord {
            package: b.package,
            group: b.group,
            source: b.source,
            backend: b.backend,
            declared: b.declared,
            requirements: b.requirements,
            reason: b.reason,
        });
    }
    Ok(RelsignTool {
        inputs_sha256,
        python: t.python,
        glibc: t.glibc,
        machine: t.machine,
        runtime_pins: t.runtime_pins,
        build_pins: t.build_pins,
        test_pins: t.test_pins,
        incomplete: t.incomplete,
        builds,
    })
}

// ------------------------------------------------------------------------------- locking

/// PEP 751 file names: `pylock.toml` or `pylock.<name>.toml` (name without dots).
pub fn is_pylock_file_name(path: &Path) -> bool {
    let Some(n) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    n == "pylock.toml"
        || n.strip_prefix("pylock.")
            .and_then(|r| r.strip_suffix(".toml"))
            .is_some_and(|mid| {
                !mid.is_empty() && !mid.contains('.') && mid.bytes().all(|b| b.is_ascii_graphic())
            })
}

/// The result of the closure check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClosureReport {
    /// Packages whose metadata was checked.
    pub checked: usize,
    /// (required by, requirement) with no pin of that name in the same group.
    pub missing: Vec<(String, String)>,
    /// Requirements whose pin does not satisfy the specifier.
    pub unsatisfied: Vec<Unsatisfied>,
    /// Packages whose dependencies could not be read (sdists with dynamic metadata).
    pub unchecked: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Unsatisfied {
    pub required_by: String,
    pub requirement: String,
    /// What the lock has instead.
    pub locked: String,
}

impl ClosureReport {
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty() && self.unsatisfied.is_empty()
    }
    /// Normalized names of the missing requirements, sorted, once each.
    pub fn missing_names(&self) -> Vec<String> {
        let set: BTreeSet<String> = self
            .missing
            .iter()
            .map(|(_, r)| {
                Requirement::parse(r)
                    .map(|r| r.normalized_name())
                    .unwrap_or_else(|_| r.clone())
            })
            .collect();
        set.into_iter().collect()
    }
    /// One line per problem.
    pub fn problems(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .missing
            .iter()
            .map(|(by, r)| format!("missing: {by} requires {r}"))
            .collect();
        v.extend(self.unsatisfied.iter().map(|u| {
            format!(
                "unsatisfied: {} requires {}, locked {}",
                u.required_by, u.requirement, u.locked
            )
        }));
        v
    }
    pub fn summary(&self) -> String {
        let mut s = format!("{} packages checked", self.checked);
        if self.is_complete() {
            s.push_str(", complete");
        } else {
            s.push_str(&format!(
                ", {} missing ({}), {} unsatisfied",
                self.missing.len(),
                self.missing_names().join(", "),
                self.unsatisfied.len()
            ));
        }
        if !self.unchecked.is_empty() {
            s.push_str(&format!(
                ", not checked (dynamic sdist metadata): {}",
                self.unchecked.join(", ")
            ));
        }
        s
    }
}

/// What `lock` produced.
#[derive(Debug, Clone)]
pub struct LockOutcome {
    pub lock: PyLock,
    pub closure: ClosureReport,
    /// Packages locked as an sdist because no wheel fits the target (the build must build them).
    pub sdist_only: Vec<String>,
}

/// One pinned (name, version) and the groups that pin it.
struct Unit {
    pin: Pin,
    groups: BTreeSet<String>,
    /// Extras requested by the pins, per group.
    extras: BTreeMap<String, BTreeSet<String>>,
    file: Option<LockedFile>,
    metadata: Option<Metadata>,
    requires_python: Option<String>,
}

fn units(inputs: &Inputs) -> Vec<Unit> {
    let mut units: Vec<Unit> = Vec::new();
    let fixed = [
        (RUNTIME, &inputs.runtime),
        (BUILD, &inputs.build),
        (TEST, &inputs.test),
    ];
    let per_package = inputs
        .builds
        .iter()
        .map(|b| (b.record.group.as_str(), &b.pins));
    for (group, pins) in fixed.into_iter().chain(per_package) {
        for p in pins.iter() {
            let existing = units.iter_mut().find(|u| {
                u.pin.name == p.name
                    && (u.pin.version == p.version || u.pin.matches_version(&p.version))
            });
            match existing {
                Some(u) => {
                    u.groups.insert(group.into());
                    u.extras
                        .entry(group.into())
                        .or_default()
                        .extend(p.extras.iter().cloned());
                }
                None => units.push(Unit {
                    pin: p.clone(),
                    groups: [group.to_string()].into(),
                    extras: [(group.to_string(), p.extras.clone())].into(),
                    file: None,
                    metadata: None,
                    requires_python: None,
                }),
            }
        }
    }
    units.sort_by(|a, b| {
        a.pin
            .name
            .cmp(&b.pin.name)
            .then_with(|| a.pin.version.cmp(&b.pin.version))
    });
    units
}

/// The links of a project from every index, in index order, first occurrence of a file name
/// kept. Indexes that do not have the project are skipped; other failures are warned about.
fn project_links(
    http: &Http,
    index_urls: &[String],
    project: &str,
    reporter: &dyn Reporter,
) -> Result<Vec<FileLink>, PyLockError> {
    let mut out: Vec<FileLink> = Vec::new();
    let mut answered = false;
    let mut errors = Vec::new();
    for idx in index_urls {
        match index::project_files(http, idx, project) {
            Ok(Some((_, links))) => {
                answered = true;
                for l in links {
                    if !out.iter().any(|o| o.filename == l.filename) {
                        out.push(l);
                    }
                }
            }
            Ok(None) => answered = true,
            Err(e) => {
                reporter.warn(&format!("{project}: {e}"));
                errors.push(e);
            }
        }
    }
    if !answered {
        if let Some(e) = errors.into_iter().next() {
            return Err(e.into());
        }
    }
    if out.is_empty() {
        return Err(PyLockError::NotOnIndex {
            project: project.into(),
            indexes: index_urls.iter().map(|u| crate::fetch::redact(u)).collect(),
        });
    }
    Ok(out)
}

/// Choose the file to lock for a pin: the best wheel for the target, else the sdist.
fn choose<'a>(
    pin: &Pin,
    links: &'a [FileLink],
    inputs: &Inputs,
    reporter: &dyn Reporter,
) -> Result<&'a FileLink, PyLockError> {
    let full = Version::parse(&inputs.env.python_full_version).expect("valid target version");
    let ranker = inputs.target.ranker();
    let mut for_version = 0;
    let mut excluded_python = 0;
    let mut other_platform = 0;
    let mut wheels: Vec<(bool, usize, std::cmp::Reverse<u64>, &FileLink)> = Vec::new();
    let mut sdists: Vec<(bool, bool, &FileLink)> = Vec::new();
    for l in links {
        let (name, version, wheel) = if let Ok(w) = WheelName::parse(&l.filename) {
            (w.normalized_name(), w.version.clone(), Some(w))
        } else if let Some((n, v)) = parse_sdist_name(&l.filename) {
            (normalize_name(&n), v, None)
        } else {
            continue;
        };
        if name != pin.name || !pin.matches_version(&version) {
            continue;
        }
        for_version += 1;
        if let Some(rp) = &l.requires_python {
            if let Ok(spec) = SpecifierSet::parse(rp) {
                if !spec.contains(&full) {
                    excluded_python += 1;
                    continue;
                }
            }
        }
        let yanked = l.yanked.is_some();
        match wheel {
            Some(w) => match ranker.rank(&w) {
                Some(r) => wheels.push((
                    yanked,
                    r,
                    std::cmp::Reverse(w.build.as_ref().map(|b| b.0).unwrap_or(0)),
                    l,
                )),
                None => other_platform += 1,
            },
            None => sdists.push((yanked, !l.filename.ends_with(".tar.gz"), l)),
        }
    }
    wheels.sort_by(|a, b| {
        (a.0, a.1, a.2)
            .cmp(&(b.0, b.1, b.2))
            .then_with(|| a.3.filename.cmp(&b.3.filename))
    });
    sdists.sort_by(|a, b| {
        (a.0, a.1)
            .cmp(&(b.0, b.1))
            .then_with(|| a.2.filename.cmp(&b.2.filename))
    });
    let chosen = wheels
        .first()
        .map(|w| (w.0, w.3))
        .or_else(|| sdists.first().map(|s| (s.0, s.2)));
    match chosen {
        Some((yanked, l)) => {
            if yanked {
                // PEP 592: a yanked file may be used when it is the only match for an exact pin.
                reporter.warn(&format!(
                    "{} is yanked ({}); locked anyway because {} pins it exactly",
                    l.filename,
                    l.yanked.as_deref().filter(|r| !r.is_empty()).unwrap_or("no reason given"),
                    pin.origin
                ));
            }
            Ok(l)
        }
        None => Err(PyLockError::NoFile {
            project: pin.name.clone(),
            version: pin.version.clone(),
            origin: pin.origin.clone(),
            target: format!("cp{}{} manylinux glibc {} {}", inputs.target.python.0, inputs.target.python.1, inputs.glibc, inputs.machine),
            reason: format!(
                "{for_version} files for this version, {excluded_python} excluded by data-requires-python, {other_platform} wheels for other platforms/interpreters"
            ),
        }),
    }
}

/// Download a chosen link into the store; returns the locked file.
fn download(
    http: &Http,
    store: &Store,
    link: &FileLink,
    reporter: &dyn Reporter,
) -> Result<LockedFile, PyLockError> {
    let sha = match &link.sha256 {
        Some(d) => {
            http.fetch_to_store(
                store,
                &link.filename,
                std::slice::from_ref(&link.url),
                d,
                None,
                reporter,
            )?;
            d.clone()
        }
        None => {
            reporter.warn(&format!(
                "{}: the index gave no #sha256; trusting the downloaded bytes' digest",
                crate::fetch::redact(&link.url)
            ));
            let mut r = http.open(&link.url)?;
            store.insert(&link.filename, None, None, &mut r)?.0
        }
    };
    let p = store.get(&sha, &link.filename)?;
    let size = std::fs::metadata(&p)
        .map_err(fsutil::err("stat", &p))?
        .len();
    Ok(LockedFile {
        name: link.filename.clone(),
        size: Some(size),
        sha256: sha,
    })
}

/// Lock the recipe's pins for its target: choose, download (populating the store), check the
/// closure. The caller writes `outcome.lock`.
pub fn lock(
    recipe: &Recipe,
    index_urls: &[String],
    http: &Http,
    store: &Store,
    reporter: &dyn Reporter,
    allow_incomplete: bool,
) -> Result<LockOutcome, PyLockError> {
    let inputs = Inputs::from_recipe(recipe)?;
    fetch_package_sources(recipe, index_urls, http, store, reporter)?;
    // Each package's build system, read from its source.
    let builds = super::builds::resolve_all(recipe, store, &inputs.build, &inputs.env)?;
    for b in &builds {
        reporter.info(&format!(
            "{}: {} with {}",
            b.record.package,
            b.record.backend,
            b.record.requirements.join(", ")
        ));
    }
    let inputs = inputs.with_builds(builds);
    let lock_path = recipe.python_lock_path();
    if !is_pylock_file_name(&lock_path) {
        reporter.warn(&format!(
            "{}: PEP 751 names lock files `pylock.toml` or `pylock.<name>.toml`; other tools may not recognize this one",
            lock_path.display()
        ));
    }
    let mut units = units(&inputs);
    let sdist_only = choose_files(&mut units, &inputs, index_urls, http, store, reporter)?;
    close_build_groups(&mut units, &inputs);
    let closure = closure_check(&units, &inputs);
    if !closure.is_complete() {
        if allow_incomplete {
            for p in closure.problems() {
                reporter.warn(&p);
            }
        } else {
            return Err(PyLockError::Incomplete {
                problems: closure.problems(),
            });
        }
    }
    let lock = assemble(units, &inputs, &closure);
    Ok(LockOutcome {
        lock,
        closure,
        sdist_only,
    })
}

/// Fetch each recipe package's source into the store (its build system is read from it).
fn fetch_package_sources(
    recipe: &Recipe,
    index_urls: &[String],
    http: &Http,
    store: &Store,
    reporter: &dyn Reporter,
) -> Result<(), PyLockError> {
    for p in &recipe.packages {
        match &p.source {
            crate::recipe::Source::Sdist { file, sha256 } => {
                fetch_file(file, sha256, index_urls, http, store, reporter)?
            }
            crate::recipe::Source::Git { url, commit, .. } => {
                crate::git::fetch_git(store, url, commit).map_err(|e| PyLockError::Recipe {
                    file: recipe.path.clone(),
                    key: format!("package {}", p.name),
                    reason: e.to_string(),
                })?
            }
            crate::recipe::Source::Dir(_) => {}
        }
    }
    Ok(())
}

/// For each unit: read its project's page (once per project), choose its file, download it
/// and check its metadata names the pin. Returns the `name==version` of units locked as an
/// sdist.
fn choose_files(
    units: &mut [Unit],
    inputs: &Inputs,
    index_urls: &[String],
    http: &Http,
    store: &Store,
    reporter: &dyn Reporter,
) -> Result<Vec<String>, PyLockError> {
    let mut pages: BTreeMap<String, Vec<FileLink>> = BTreeMap::new();
    let mut sdist_only = Vec::new();
    for u in units.iter_mut() {
        if !pages.contains_key(&u.pin.name) {
            let links = project_links(http, index_urls, &u.pin.name, reporter)?;
            pages.insert(u.pin.name.clone(), links);
        }
        let link = choose(&u.pin, &pages[&u.pin.name], inputs, reporter)?;
        reporter.info(&format!(
            "{}=={}: {}",
            u.pin.name, u.pin.version, link.filename
        ));
        let file = download(http, store, link, reporter)?;
        let path = store.get(&file.sha256, &file.name)?;
        let md = if file.is_wheel() {
            metadata::read_wheel(&path, &file.name)?
        } else {
            sdist_only.push(format!("{}=={}", u.pin.name, u.pin.version));
            metadata::read_sdist(&path, &file.name)?
        };
        if normalize_name(&md.name) != u.pin.name || !u.pin.matches_version(&md.version) {
            return Err(PyLockError::MetadataMismatch {
                file: file.name.clone(),
                expected: format!("{}=={}", u.pin.name, u.pin.version),
                got: format!("{}=={}", md.name, md.version),
            });
        }
        u.requires_python = link
            .requires_python
            .clone()
            .or_else(|| md.requires_python.clone());
        u.metadata = Some(md);
        u.file = Some(file);
    }
    Ok(sdist_only)
}

/// The lock of the chosen units (each with its file), its `[tool.relsign]` included.
fn assemble(units: Vec<Unit>, inputs: &Inputs, closure: &ClosureReport) -> PyLock {
    let packages = units
        .into_iter()
        .map(|u| {
            let file = u.file.expect("every unit has a file");
            let (wheels, sdist) = if file.is_wheel() {
                (vec![file], None)
            } else {
                (vec![], Some(file))
            };
            LockedPackage {
                name: u.pin.name.clone(),
                version: u.pin.version.clone(),
                marker: group_marker(&u.groups),
                requires_python: u.requires_python,
                wheels,
                sdist,
                groups: u.groups,
            }
        })
        .collect();
    let mut groups: BTreeSet<String> = [BUILD.to_string(), RUNTIME.to_string()].into();
    if !inputs.test.is_empty() {
        groups.insert(TEST.into());
    }
    groups.extend(inputs.builds.iter().map(|b| b.record.group.clone()));
    PyLock {
        lock_version: LOCK_VERSION.into(),
        environments: vec![inputs.environment_marker()],
        requires_python: Some(format!("=={}.*", inputs.python)),
        dependency_groups: groups.into_iter().collect(),
        default_groups: vec![RUNTIME.into()],
        created_by: CREATED_BY.into(),
        packages,
        relsign: Some(RelsignTool {
            inputs_sha256: Some(inputs.digest()),
            python: inputs.python.clone(),
            glibc: inputs.glibc.clone(),
            machine: inputs.machine.clone(),
            runtime_pins: inputs.runtime_specs(),
            build_pins: inputs.build_specs(),
            test_pins: inputs.test_specs(),
            incomplete: closure.problems(),
            builds: inputs.builds.iter().map(|b| b.record.clone()).collect(),
        }),
    }
}

/// The groups of the units, fixed ones first.
fn all_groups(units: &[Unit]) -> Vec<String> {
    let mut v: Vec<String> = [RUNTIME, BUILD, TEST]
        .iter()
        .map(|g| g.to_string())
        .collect();
    let more: BTreeSet<&String> = units
        .iter()
        .flat_map(|u| &u.groups)
        .filter(|g| !v.contains(g))
        .collect();
    v.extend(more.into_iter().cloned());
    v
}

/// Close each package's build group over its members' `Requires-Dist` with the recipe's
/// shared build pins (`python.build-requirements`): setuptools-scm brings packaging. What the
/// shared pins do not provide is left for the closure check to report.
fn close_build_groups(units: &mut [Unit], inputs: &Inputs) {
    for b in &inputs.builds {
        let group = b.record.group.as_str();
        loop {
            let mut add = Vec::new();
            for u in units.iter().filter(|u| u.groups.contains(group)) {
                let Some(md) = &u.metadata else { continue };
                let extras = u.extras.get(group).cloned().unwrap_or_default();
                let env = inputs.env.with_extras(extras.iter());
                for rd in &md.requires_dist {
                    let Ok(req) = Requirement::parse(rd) else {
                        continue;
                    };
                    if !req.applies(&env) {
                        continue;
                    }
                    let name = req.normalized_name();
                    if units
                        .iter()
                        .any(|m| m.pin.name == name && m.groups.contains(group))
                    {
                        continue;
                    }
                    if let Some(j) = units.iter().position(|m| {
                        m.pin.name == name
                            && m.groups.contains(BUILD)
                            && m.pin
                                .parsed_version()
                                .is_some_and(|v| req.specifier.contains(&v))
                    }) {
                        add.push((j, req.extras.clone()));
                    }
                }
            }
            if add.is_empty() {
                break;
            }
            for (j, extras) in add {
                units[j].groups.insert(group.to_string());
                units[j]
                    .extras
                    .entry(group.to_string())
                    .or_default()
                    .extend(extras);
            }
        }
    }
}

/// Check, per group, that every `Requires-Dist` that applies to the target (with the extras
/// the pins and the requiring packages ask for) is pinned with a version that satisfies it.
fn closure_check(units: &[Unit], inputs: &Inputs) -> ClosureReport {
    let mut report = ClosureReport::default();
    let full = Version::parse(&inputs.env.python_full_version).expect("valid target version");
    let mut missing = BTreeSet::new();
    let mut unsatisfied = BTreeSet::new();
    let mut unchecked = BTreeSet::new();
    let mut checked = BTreeSet::new();
    for group in &all_groups(units) {
        let group = group.as_str();
        let members: Vec<usize> = (0..units.len())
            .filter(|&i| units[i].groups.contains(group))
            .collect();
        let by_name: BTreeMap<&str, usize> = members
            .iter()
            .map(|&i| (units[i].pin.name.as_str(), i))
            .collect();
        let mut extras: BTreeMap<usize, BTreeSet<String>> = members
            .iter()
            .map(|&i| (i, units[i].extras.get(group).cloned().unwrap_or_default()))
            .collect();
        // Extras requested by one package enable more requirements of another: iterate to a
        // fixed point, then record the problems of the last pass.
        loop {
            let mut grew = false;
            let mut pass_missing = BTreeSet::new();
            let mut pass_unsat = BTreeSet::new();
            for &i in &members {
                let u = &units[i];
                let Some(md) = &u.metadata else { continue };
                let by = if GROUPS.contains(&group) {
                    format!("{} {}", u.pin.name, u.pin.version)
                } else {
                    format!("{} {} (in {group})", u.pin.name, u.pin.version)
                };
                if !u.file.as_ref().is_some_and(|f| f.is_wheel()) && !md.requires_dist_is_static() {
                    unchecked.insert(by.clone());
                    continue;
                }
                checked.insert(i);
                if let Some(rp) = &md.requires_python {
                    if let Ok(spec) = SpecifierSet::parse(rp) {
                        if !spec.contains(&full) {
                            pass_unsat.insert(Unsatisfied {
                                required_by: by.clone(),
                                requirement: format!("Requires-Python {rp}"),
                                locked: format!("target python {full}"),
                            });
                        }
                    }
                }
                let env = inputs.env.with_extras(extras[&i].iter());
                for rd in &md.requires_dist {
                    let req = match Requirement::parse(rd) {
                        Ok(r) => r,
                        Err(e) => {
                            pass_unsat.insert(Unsatisfied {
                                required_by: by.clone(),
                                requirement: rd.clone(),
                                locked: format!("unreadable requirement: {e}"),
                            });
                            continue;
                        }
                    };
                    if !req.applies(&env) {
                        continue;
                    }
                    let name = req.normalized_name();
                    let Some(&j) = by_name.get(name.as_str()) else {
                        pass_missing.insert((by.clone(), rd.clone()));
                        continue;
                    };
                    let t = &units[j];
                    let ok = if req.url.is_some() {
                        false
                    } else {
                        match t.pin.parsed_version() {
                            Some(v) => req.specifier.contains(&v),
                            None => req.specifier.is_empty(),
                        }
                    };
                    if !ok {
                        pass_unsat.insert(Unsatisfied {
                            required_by: by.clone(),
                            requirement: rd.clone(),
                            locked: format!("{}=={} ({})", t.pin.name, t.pin.version, t.pin.origin),
                        });
                    }
                    let e = extras.get_mut(&j).expect("member");
                    for x in &req.extras {
                        grew |= e.insert(x.clone());
                    }
                }
            }
            if !grew {
                missing.extend(pass_missing);
                unsatisfied.extend(pass_unsat);
                break;
            }
        }
    }
    report.checked = checked.len();
    report.missing = missing.into_iter().collect();
    report.unsatisfied = unsatisfied.into_iter().collect();
    report.unchecked = unchecked.into_iter().collect();
    report
}

// ------------------------------------------------------------------------------ check

/// Offline: the reasons the lock no longer matches the recipe (empty when it is up to date).
pub fn check(lock: &PyLock, recipe: &Recipe) -> Result<Vec<String>, PyLockError> {
    let inputs = Inputs::from_recipe(recipe)?;
    let mut reasons = Vec::new();
    let Some(t) = &lock.relsign else {
        reasons.push(
            "no [tool.relsign] table: the lock was not made by relsign; run `relsign lock`".into(),
        );
        return Ok(reasons);
    };
    for (what, locked, want) in [
        ("python", &t.python, &inputs.python),
        ("glibc", &t.glibc, &inputs.glibc),
        ("machine", &t.machine, &inputs.machine),
    ] {
        if locked != want {
            reasons.push(format!(
                "target {what} changed: expected={want}, got={locked} (in the lock)"
            ));
        }
    }
    for (group, locked, want) in [
        (RUNTIME, &t.runtime_pins, inputs.runtime_specs()),
        (BUILD, &t.build_pins, inputs.build_specs()),
        (TEST, &t.test_pins, inputs.test_specs()),
    ] {
        let locked: BTreeSet<&String> = locked.iter().collect();
        let want_set: BTreeSet<&String> = want.iter().collect();
        for p in want_set.difference(&locked) {
            reasons.push(format!("{group} pin {p} is not in the lock"));
        }
        for p in locked.difference(&want_set) {
            reasons.push(format!(
                "{group} pin {p} is in the lock but no longer pinned"
            ));
        }
    }
    // Each package's build environment: the declaration (re-read from a directory source) and
    // the recipe's pins against the record.
    let builds = super::builds::resolve_recorded(
        recipe,
        &t.builds,
        &inputs.build,
        &inputs.env,
        &mut reasons,
    )?;
    let inputs = inputs.with_builds(builds);
    // Entries are compared with the pins only when the pin lists agree (else that is the news).
    let pins_agree = reasons.is_empty();
    let digest = inputs.digest();
    if pins_agree && t.inputs_sha256.as_ref() != Some(&digest) {
        reasons.push(format!(
            "inputs digest differs: expected={digest}, got={}",
            t.inputs_sha256
                .as_ref()
                .map(|d| d.to_string())
                .unwrap_or_else(|| "none".into())
        ));
    }
    if !pins_agree {
        return Ok(reasons);
    }
    for (group, pins, pkgs) in [
        (RUNTIME, &inputs.runtime, lock.runtime().collect::<Vec<_>>()),
        (BUILD, &inputs.build, lock.build().collect::<Vec<_>>()),
        (TEST, &inputs.test, lock.test().collect::<Vec<_>>()),
    ] {
        for p in pins {
            if !pkgs.iter().any(|k| {
                k.name == p.name && (k.version == p.version || p.matches_version(&k.version))
            }) {
                reasons.push(format!(
                    "{group} package {}=={} has no [[packages]] entry",
                    p.name, p.version
                ));
            }
        }
        for k in &pkgs {
            if !pins.iter().any(|p| {
                k.name == p.name && (k.version == p.version || p.matches_version(&k.version))
            }) {
                reasons.push(format!(
                    "{group} package {} {} is in the lock but not pinned",
                    k.name, k.version
                ));
            }
        }
    }
    // A package's build group: its pins, and otherwise only shared build pins (its closure).
    let same = |k: &LockedPackage, p: &Pin| {
        k.name == p.name && (k.version == p.version || p.matches_version(&k.version))
    };
    for b in &inputs.builds {
        let group = b.record.group.as_str();
        let pkgs: Vec<&LockedPackage> = lock.group(group).collect();
        for p in &b.pins {
            if !pkgs.iter().any(|k| same(k, p)) {
                reasons.push(format!(
                    "{group} package {}=={} has no [[packages]] entry",
                    p.name, p.version
                ));
            }
        }
        for k in &pkgs {
            if !b.pins.iter().chain(&inputs.build).any(|p| same(k, p)) {
                reasons.push(format!(
                    "{group} package {} {} is in the lock but not pinned",
                    k.name, k.version
                ));
            }
        }
    }
    Ok(reasons)
}

// ------------------------------------------------------------------------------ fetch

/// What `fetch` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchReport {
    /// Files already in the store (verified).
    pub present: usize,
    /// Files downloaded.
    pub fetched: usize,
}

fn project_of(file: &str) -> Option<String> {
    if let Ok(w) = WheelName::parse(file) {
        return Some(w.normalized_name());
    }
    parse_sdist_name(file).map(|(n, _)| normalize_name(&n))
}

/// Fetch one file by name and digest: find it on the indexes (in order) and download it
/// through `Http::fetch_to_store`, which checks digest and size and stores nothing on mismatch.
/// The means of fetching: indexes, client, store, and the project pages seen so far.
struct Fetcher<'a> {
    index_urls: &'a [String],
    http: &'a Http,
    store: &'a Store,
    reporter: &'a dyn Reporter,
    pages: BTreeMap<String, Vec<FileLink>>,
}

fn fetch_one(
    cx: &mut Fetcher<'_>,
    name: &str,
    sha256: &Sha256Hex,
    size: Option<u64>,
) -> Result<bool, PyLockError> {
    let Fetcher {
        index_urls,
        http,
        store,
        reporter,
        pages,
    } = cx;
    let (index_urls, http, store, reporter) = (*index_urls, *http, *store, *reporter);
    if store.has_verified(sha256)? {
        return Ok(false);
    }
    let project = project_of(name).ok_or_else(|| PyLockError::FileNotFound {
        file: name.into(),
        sha256: sha256.clone(),
        indexes: vec!["(not a wheel or sdist file name)".into()],
    })?;
    if !pages.contains_key(&project) {
        // Every index's page is kept, so each one that offers the file is a mirror.
        let mut all = Vec::new();
        for idx in index_urls {
            match index::project_files(http, idx, &project) {
                Ok(Some((_, links))) => all.extend(links),
                Ok(None) => {}
                Err(e) => reporter.warn(&format!("{project}: {e}")),
            }
        }
        pages.insert(project.clone(), all);
    }
    let mut urls = Vec::new();
    for l in pages[&project].iter().filter(|l| l.filename == name) {
        if let Some(d) = &l.sha256 {
            if d != sha256 {
                reporter.warn(&format!("{}: the index says sha256:{d}, the lock says sha256:{sha256}; skipping this URL", crate::fetch::redact(&l.url)));
                continue;
            }
        }
        urls.push(l.url.clone());
    }
    if urls.is_empty() {
        return Err(PyLockError::FileNotFound {
            file: name.into(),
            sha256: sha256.clone(),
            indexes: index_urls.iter().map(|u| crate::fetch::redact(u)).collect(),
        });
    }
    http.fetch_to_store(store, name, &urls, sha256, size, reporter)?;
    Ok(true)
}

/// Make sure every locked file is in the store. All failures are reported together.
pub fn fetch(
    lock: &PyLock,
    index_urls: &[String],
    http: &Http,
    store: &Store,
    reporter: &dyn Reporter,
) -> Result<FetchReport, PyLockError> {
    let mut report = FetchReport::default();
    let mut cx = Fetcher {
        index_urls,
        http,
        store,
        reporter,
        pages: BTreeMap::new(),
    };
    let mut failures = Vec::new();
    let mut integrity = false;
    let mut seen = BTreeSet::new();
    for (_, f) in lock.files() {
        if !seen.insert(f.sha256.clone()) {
            continue;
        }
        match fetch_one(&mut cx, &f.name, &f.sha256, f.size) {
            Ok(true) => report.fetched += 1,
            Ok(false) => report.present += 1,
            Err(e) => {
                integrity |= e.is_integrity();
                failures.push(e.to_string());
            }
        }
    }
    if !failures.is_empty() {
        return Err(PyLockError::FetchFailed {
            failures,
            integrity,
        });
    }
    Ok(report)
}

/// Fetch a single file named by the recipe (for example a package's sdist source).
pub fn fetch_file(
    file: &str,
    sha256: &Sha256Hex,
    index_urls: &[String],
    http: &Http,
    store: &Store,
    reporter: &dyn Reporter,
) -> Result<(), PyLockError> {
    let mut cx = Fetcher {
        index_urls,
        http,
        store,
        reporter,
        pages: BTreeMap::new(),
    };
    fetch_one(&mut cx, file, sha256, None).map(|_| ())
}

// ------------------------------------------------------------------------------ export

/// What `export` wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportReport {
    pub files: usize,
    pub projects: usize,
}

/// Write a PEP 503 static index of the locked files: `dir/files/<file>`,
/// `dir/simple/<project>/index.html` (hrefs `../../files/<file>#sha256=<hex>`) and
/// `dir/simple/index.html`. `file://dir/simple` then works as an index for `relsign fetch`
/// and for `pip install --index-url`.
pub fn export(lock: &PyLock, store: &Store, dir: &Path) -> Result<ExportReport, PyLockError> {
    let files_dir = dir.join("files");
    fsutil::create_dir_all(&files_dir)?;
    let mut projects: BTreeMap<String, BTreeMap<String, Sha256Hex>> = BTreeMap::new();
    for (p, f) in lock.files() {
        projects
            .entry(p.name.clone())
            .or_default()
            .insert(f.name.clone(), f.sha256.clone());
    }
    let mut count = 0;
    for files in projects.values() {
        for (name, sha) in files {
            let src = store.get(sha, name)?;
            let dest = files_dir.join(name);
            let up_to_date = dest.is_file()
                && crate::digest::hash_file(&dest)
                    .map(|(d, _)| &d == sha)
                    .unwrap_or(false);
            if !up_to_date {
                let mut input = std::fs::File::open(&src).map_err(fsutil::err("open", &src))?;
                fsutil::write_atomic_with(&dest, |w| std::io::copy(&mut input, w).map(|_| ()))?;
            }
            count += 1;
        }
    }
    let simple = dir.join("simple");
    for (project, files) in &projects {
        let links: Vec<(String, String)> = files
            .iter()
            .map(|(n, d)| {
                (
                    n.clone(),
                    format!("../../files/{}#sha256={d}", simple::percent_encode(n)),
                )
            })
            .collect();
        let page = simple::render_project_page(project, &links);
        fsutil::write_atomic(&simple.join(project).join("index.html"), page.as_bytes())?;
    }
    let names: Vec<String> = projects.keys().cloned().collect();
    fsutil::write_atomic(
        &simple.join("index.html"),
        simple::render_root_page(&names).as_bytes(),
    )?;
    // A PEP 751 lock for the vendored files, with paths relative to the directory.
    fsutil::write_atomic(
        &dir.join("pylock.toml"),
        lock.to_toml_vendored("files/").as_bytes(),
    )?;
    Ok(ExportReport {
        files: count,
        projects: projects.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Silent;
    use std::io::Write;

    fn wheel_bytes(name: &str, version: &str, requires: &[&str]) -> Vec<u8> {
        let mut buf = std::io::Cursor::new(Vec::new());
        {
            let mut z = zip::ZipWriter::new(&mut buf);
            let opts = zip::write::SimpleFileOptions::default();
            z.start_file(format!("{name}/__init__.py"), opts).unwrap();
            let mut md = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n");
            for r in requires {
                md.push_str(&format!("Requires-Dist: {r}\n"));
            }
            z.start_file(format!("{name}-{version}.dist-info/METADATA"), opts)
                .unwrap();
            z.write_all(md.as_bytes()).unwrap();
            z.finish().unwrap();
        }
        buf.into_inner()
    }

    /// A file:// index with the given wheels, plus a recipe pinning `pins`.
    struct Fixture {
        dir: tempfile::TempDir,
        recipe: Recipe,
        index: String,
        store: Store,
    }

    fn fixture(wheels: &[(&str, &str, &[&str], &str)], pins: &str, build: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let idx = dir.path().join("idx");
        let mut projects: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for (name, version, requires, tag) in wheels {
            let fname = format!("{name}-{version}-{tag}.whl");
            let bytes = wheel_bytes(name, version, requires);
            std::fs::create_dir_all(idx.join("files")).unwrap();
            std::fs::write(idx.join("files").join(&fname), &bytes).unwrap();
            projects.entry(normalize_name(name)).or_default().push((
                fname.clone(),
                format!("../../files/{fname}#sha256={}", Sha256Hex::of(&bytes)),
            ));
        }
        for (p, links) in &projects {
            std::fs::create_dir_all(idx.join("simple").join(p)).unwrap();
            std::fs::write(
                idx.join("simple").join(p).join("index.html"),
                simple::render_project_page(p, links),
            )
            .unwrap();
        }
        std::fs::write(dir.path().join("requirements.txt"), pins).unwrap();
        // The package declares what the recipe pins as its build requirements.
        std::fs::write(
            dir.path().join("pyproject.toml"),
            format!(
                "[build-system]\nrequires = [{build}]\nbuild-backend = \"setuptools.build_meta\"\n"
            ),
        )
        .unwrap();
        let recipe_text = format!(
            "[release]\nname = \"t\"\nversion = \"1\"\n[python]\nversion = \"3.13\"\nglibc = \"2.41\"\nrequirements = [\"requirements.txt\"]\nbuild-requirements = [{build}]\nlock = \"pylock.toml\"\n[[package]]\nname = \"t\"\npath = \".\"\n[toolchain]\nsuite = \"trixie\"\npackages = [\"python3\"]\nlock = \"deb.lock\"\n"
        );
        let rp = dir.path().join("recipe.toml");
        std::fs::write(&rp, &recipe_text).unwrap();
        let recipe = Recipe::load(&rp).unwrap();
        let index = format!("file://{}/simple", idx.display());
        let store = Store::at(dir.path().join("store"));
        Fixture {
            dir,
            recipe,
            index,
            store,
        }
    }

    #[test]
    fn locks_writes_reads_checks_and_exports() {
        let fx = fixture(
            &[
                (
                    "click",
                    "8.1.8",
                    &["colorama; platform_system == \"Windows\""],
                    "py3-none-any",
                ),
                (
                    "req",
                    "2.0",
                    &["click>=8", "pysocks>=1; extra == \"socks\""],
                    "py3-none-any",
                ),
                (
                    "native",
                    "1.0",
                    &[],
                    "cp313-cp313-manylinux_2_17_x86_64.manylinux2014_x86_64",
                ),
                ("native", "1.0", &[], "py3-none-any"),
                ("native", "1.0", &[], "cp313-cp313-win_amd64"),
                ("setuptools", "83.0.0", &[], "py3-none-any"),
            ],
            "click==8.1.8\nreq==2.0\nnative==1.0\n",
            "\"setuptools==83.0.0\"",
        );
        let http = Http::new().unwrap();
        let out = lock(
            &fx.recipe,
            std::slice::from_ref(&fx.index),
            &http,
            &fx.store,
            &Silent,
            false,
        )
        .unwrap();
        assert_eq!(out.closure.checked, 4);
        assert!(out.closure.is_complete(), "{:?}", out.closure);
        let l = &out.lock;
        let names: Vec<&str> = l.packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["click", "native", "req", "setuptools"]);
        assert_eq!(
            l.packages[1].wheels[0].name,
            "native-1.0-cp313-cp313-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
        );
        assert_eq!(l.runtime().count(), 3);
        assert_eq!(
            l.build().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["setuptools"]
        );
        assert_eq!(l.build_files().count(), 1);

        let text = l.to_toml();
        assert!(!text.contains("url") && !text.contains("path ="), "{text}");
        assert!(
            text.contains(
                "marker = \"'build' in dependency_groups or 'build-t' in dependency_groups\""
            ),
            "{text}"
        );
        assert_eq!(
            l.group("build-t")
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>(),
            ["setuptools"]
        );
        let rec = l.build_record("t").unwrap();
        assert_eq!(
            (rec.backend.as_str(), rec.requirements.as_slice()),
            (
                "setuptools.build_meta",
                &["setuptools==83.0.0".to_string()][..]
            )
        );
        assert_eq!(rec.source, "dir .");
        let back = PyLock::parse(&text, Path::new("pylock.toml")).unwrap();
        assert_eq!(&back, l);
        assert_eq!(back.to_toml(), text);
        assert!(check(&back, &fx.recipe).unwrap().is_empty());

        // Stale when the package's pyproject declares another backend version.
        let pyproject = fx.dir.path().join("pyproject.toml");
        let declared = std::fs::read_to_string(&pyproject).unwrap();
        std::fs::write(&pyproject, declared.replace("83.0.0", "82.0.1")).unwrap();
        let reasons = check(&back, &fx.recipe).unwrap();
        assert!(
            reasons.iter().any(|r| r.contains("package t: its pyproject.toml declares build requirements [setuptools==82.0.1], the lock was made for [setuptools==83.0.0]")),
            "{reasons:?}"
        );
        std::fs::write(&pyproject, &declared).unwrap();
        // A lock without build records (made before per-package groups) is stale.
        let mut old = back.clone();
        old.relsign.as_mut().unwrap().builds.clear();
        let reasons = check(&old, &fx.recipe).unwrap();
        assert!(
            reasons
                .iter()
                .any(|r| r.contains("package t has no build environment")),
            "{reasons:?}"
        );

        // Stale after a pin changes.
        std::fs::write(
            fx.dir.path().join("requirements.txt"),
            "click==8.1.8\nreq==2.0\n",
        )
        .unwrap();
        let reasons = check(&back, &fx.recipe).unwrap();
        assert!(
            reasons
                .iter()
                .any(|r| r.contains("native==1.0") && r.contains("no longer pinned")),
            "{reasons:?}"
        );
        std::fs::write(
            fx.dir.path().join("requirements.txt"),
            "click==8.1.8\nreq==2.0\nnative==1.0\n",
        )
        .unwrap();

        // Export, then fetch into an empty store from the export.
        let export_dir = fx.dir.path().join("export");
        let rep = export(l, &fx.store, &export_dir).unwrap();
        assert_eq!((rep.files, rep.projects), (4, 4));
        let store2 = Store::at(fx.dir.path().join("store2"));
        let exported = format!("file://{}/simple", export_dir.display());
        let f = fetch(l, std::slice::from_ref(&exported), &http, &store2, &Silent).unwrap();
        assert_eq!((f.fetched, f.present), (4, 0));
        let f = fetch(l, std::slice::from_ref(&exported), &http, &store2, &Silent).unwrap();
        assert_eq!((f.fetched, f.present), (0, 4));

        // A tampered export is refused and nothing is stored.
        let store3 = Store::at(fx.dir.path().join("store3"));
        std::fs::write(
            export_dir.join("files/click-8.1.8-py3-none-any.whl"),
            b"evil",
        )
        .unwrap();
        let e = fetch(l, &[exported], &http, &store3, &Silent).unwrap_err();
        assert!(e.is_integrity(), "{e}");
        assert!(
            e.to_string().contains("click-8.1.8-py3-none-any.whl"),
            "{e}"
        );
        let click = &l.packages[0].wheels[0];
        assert!(!store3.has_verified(&click.sha256).unwrap());
    }

    #[test]
    fn closure_check_finds_missing_and_unsatisfied() {
        let fx = fixture(
            &[
                (
                    "app",
                    "1.0",
                    &["dep>=2", "other[fast]==3.0", "win; sys_platform == 'win32'"],
                    "py3-none-any",
                ),
                ("dep", "1.5", &[], "py3-none-any"),
                (
                    "other",
                    "3.0",
                    &["speedup; extra == 'fast'"],
                    "py3-none-any",
                ),
            ],
            "app==1.0\ndep==1.5\nother==3.0\n",
            "",
        );
        let http = Http::new().unwrap();
        let e = lock(
            &fx.recipe,
            std::slice::from_ref(&fx.index),
            &http,
            &fx.store,
            &Silent,
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("missing: other 3.0 requires speedup; extra == 'fast'"),
            "{e}"
        );
        assert!(
            e.contains("unsatisfied: app 1.0 requires dep>=2, locked dep==1.5"),
            "{e}"
        );
        assert!(!e.contains("win"), "{e}");
        let out = lock(
            &fx.recipe,
            std::slice::from_ref(&fx.index),
            &http,
            &fx.store,
            &Silent,
            true,
        )
        .unwrap();
        assert_eq!(out.closure.missing_names(), ["speedup"]);
        assert_eq!(out.closure.unsatisfied.len(), 1);
        assert_eq!(out.lock.relsign.as_ref().unwrap().incomplete.len(), 2);
    }

    #[test]
    fn no_compatible_file_is_an_error_naming_the_pin() {
        let fx = fixture(
            &[("winonly", "1.0", &[], "cp313-cp313-win_amd64")],
            "winonly==1.0\n",
            "",
        );
        let http = Http::new().unwrap();
        let e = lock(
            &fx.recipe,
            std::slice::from_ref(&fx.index),
            &http,
            &fx.store,
            &Silent,
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("winonly==1.0")
                && e.contains("requirements.txt:1")
                && e.contains("1 wheels for other platforms"),
            "{e}"
        );
        let fx = fixture(&[("a", "1.0", &[], "py3-none-any")], "a==2.0\nzzz==1\n", "");
        let e = lock(
            &fx.recipe,
            std::slice::from_ref(&fx.index),
            &http,
            &fx.store,
            &Silent,
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("a==2.0") && e.contains("0 files for this version"),
            "{e}"
        );
    }

    #[test]
    fn pylock_file_names() {
        assert!(is_pylock_file_name(Path::new("r/pylock.toml")));
        assert!(is_pylock_file_name(Path::new("pylock.demo.toml")));
        assert!(!is_pylock_file_name(Path::new("demo.pylock.toml")));
        assert!(!is_pylock_file_name(Path::new("pylock.a.b.toml")));
    }

    #[test]
    fn reader_rejects_bad_locks() {
        let p = Path::new("x.toml");
        let base = "lock-version = \"1.0\"\ncreated-by = \"x\"\n[[packages]]\nname = \"a\"\nversion = \"1\"\n";
        let ok = format!("{base}[[packages.wheels]]\nname = \"a-1-py3-none-any.whl\"\nhashes = {{ sha256 = \"{}\" }}\n", "0".repeat(64));
        let l = PyLock::parse(&ok, p).unwrap();
        assert_eq!(l.runtime().count(), 1);
        assert_eq!(l.build().count(), 1);
        let e = PyLock::parse(&ok.replace("1.0", "2.0"), p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("lock-version"), "{e}");
        let e = PyLock::parse(&ok.replace("a-1-py3", "../a-1-py3"), p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("plain file name"), "{e}");
        let e = PyLock::parse(&ok.replace("sha256 =", "md5 ="), p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("packages[0].wheels[0].hashes"), "{e}");
        let e = PyLock::parse(base, p).unwrap_err().to_string();
        assert!(e.contains("no wheels and no sdist"), "{e}");
        let e = PyLock::parse(&ok.replace("name = \"a\"", "name = \"A_b\""), p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a normalized name"), "{e}");
    }
}
