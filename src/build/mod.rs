//! `relsign build`: plan the steps from recipe + locks (pure), then run them offline from the
//! store inside the sandbox, normalize the outputs and write the release directory.

pub mod bytecode;
pub mod cache;
pub mod error;
pub mod image;
pub mod plan;
pub mod rootfs;
pub mod scripts;
pub mod source;

use crate::archive;
use crate::build::error::BuildError;
use crate::build::source::{copy_source_tree, extract_sdist, materialize_source};
use crate::digest::Sha256Hex;
use crate::fsutil;
use crate::model::{
    canonical_json, Artifact, ArtifactKind, InputFile, ReleaseManifest, SourceRecord, RELEASE_TYPE,
};
use crate::recipe::{Recipe, Source};
use crate::report::Reporter;
use crate::sandbox::{self, Bind, Step};
use crate::store::Store;
use serde::Deserialize;
use std::path::{Path, PathBuf};

pub struct BuildOptions {
    pub out: PathBuf,
    pub store: Store,
    /// Keep the work directory (for debugging) instead of removing it.
    pub keep_work: bool,
    /// SOURCE_DATE_EPOCH per package, overriding what the source says (rebuilds take it
    /// from the release being reproduced).
    pub epochs: std::collections::BTreeMap<String, u64>,
    /// Build with the `--check-reproducible` variations.
    pub vary: Option<Variation>,
    /// Reuse the outputs of steps whose exact inputs were built before (see [`cache`]).
    /// Never with `vary` (a varied build exists to run every step again).
    pub cache: bool,
}

/// Read a Debian lock (`what`: whose, for the message) and check it still matches
/// `toolchain`: a missing lock says how to make it, a stale one names its reasons.
fn read_checked_debian_lock(
    recipe: &Recipe,
    toolchain: &crate::recipe::Toolchain,
    path: &Path,
    what: &str,
) -> Result<crate::lock::debian::DebianLock, BuildError> {
    let lock = crate::lock::debian::DebianLock::read(path).map_err(|e| BuildError::Other {
        context: format!(
            "reading the {what} lock (run `relsign lock {}` to create it)",
            recipe.path.display()
        ),
        source: Box::new(e),
    })?;
    let reasons = crate::lock::debian::check(&lock, toolchain);
    if !reasons.is_empty() {
        return Err(BuildError::StaleLock {
            file: path.to_path_buf(),
            recipe: recipe.path.clone(),
            reasons,
        });
    }
    Ok(lock)
}

const DRIVER: &str = include_str!("../python/pep517_driver.py");
const PYTHON: &str = "/usr/bin/python3";

/// The recipe's locks, read and checked against it, with the files `inputs/` will hold.
pub struct ReadLocks {
    pub debian: crate::lock::debian::DebianLock,
    pub python: crate::lock::python::PyLock,
    pub python_path: PathBuf,
    pub image: Option<crate::lock::debian::DebianLock>,
    /// (path under `inputs/`, where it is read from, sha256): the recipe, then its locks.
    pub files: Vec<(PathBuf, PathBuf, Sha256Hex)>,
}

impl ReadLocks {
    fn view(&self) -> plan::Locks<'_> {
        plan::Locks {
            debian: &self.debian,
            python: &self.python,
            python_path: &self.python_path,
            image: self.image.as_ref(),
            files: &self.files,
        }
    }
}

/// Read the locks (present, and matching the recipe) and the inputs' digests.
pub fn read_locks(recipe: &Recipe) -> Result<ReadLocks, BuildError> {
    let deb_path = recipe.debian_lock_path();
    let py_path = recipe.python_lock_path();
    let debian = read_checked_debian_lock(recipe, &recipe.file.toolchain, &deb_path, "Debian")?;
    let python = crate::lock::python::PyLock::read(&py_path).map_err(|e| BuildError::Other {
        context: format!(
            "reading the Python lock (run `relsign lock {}` to create it)",
            recipe.path.display()
        ),
        source: Box::new(e),
    })?;
    let reasons = crate::lock::python::check(&python, recipe).map_err(|e| BuildError::Other {
        context: format!("checking {}", py_path.display()),
        source: Box::new(e),
    })?;
    if !reasons.is_empty() {
        return Err(BuildError::StaleLock {
            file: py_path,
            recipe: recipe.path.clone(),
            reasons,
        });
    }
    let image = match recipe.image_toolchain() {
        Some((toolchain, path)) => Some(read_checked_debian_lock(
            recipe,
            &toolchain,
            &path,
            "image's Debian",
        )?),
        None => None,
    };
    let files = input_files(recipe, &deb_path, &py_path)?;
    Ok(ReadLocks {
        debian,
        python,
        python_path: py_path,
        image,
        files,
    })
}

/// The recipe and its locks as `inputs/` holds them: each lock's path relative to the recipe
/// (it must stay below the recipe's directory), read for its digest.
fn input_files(
    recipe: &Recipe,
    deb_path: &Path,
    py_path: &Path,
) -> Result<Vec<(PathBuf, PathBuf, Sha256Hex)>, BuildError> {
    let recipe_name = recipe
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "recipe.toml".into());
    let mut files = vec![(
        PathBuf::from(recipe_name),
        recipe.path.clone(),
        recipe.digest(),
    )];
    let image_lock_paths = recipe
        .file
        .image
        .as_ref()
        .map(|i| (i.lock.clone(), recipe.resolve(&i.lock)));
    for (rel, abs) in [
        (&recipe.file.toolchain.lock, &deb_path.to_path_buf()),
        (&recipe.file.python.lock, &py_path.to_path_buf()),
    ]
    .into_iter()
    .chain(image_lock_paths.as_ref().map(|(r, a)| (r, a)))
    {
        let rel = safe_relative(rel).ok_or_else(|| {
            BuildError::Message(format!(
                "{}: lock path {} must be relative and stay below the recipe's directory",
                recipe.path.display(),
                rel.display()
            ))
        })?;
        let (sha256, _) = crate::digest::hash_file(abs).map_err(fsutil::err("read", abs))?;
        files.push((rel, abs.clone(), sha256));
    }
    Ok(files)
}

/// The plan of a build of `recipe`: its locks read and checked, nothing built.
pub fn plan_build(recipe: &Recipe) -> Result<plan::BuildPlan, BuildError> {
    let locks = read_locks(recipe)?;
    plan::plan(recipe, &locks.view())
}

/// Build every package of the recipe and write the release directory: read the locks, plan,
/// check the store holds every input, then run the plan.
pub fn build(
    recipe: &Recipe,
    opts: &BuildOptions,
    reporter: &dyn Reporter,
) -> Result<ReleaseManifest, BuildError> {
    let locks = read_locks(recipe)?;
    let plan = plan::plan(recipe, &locks.view())?;
    check_store(recipe, &plan, &opts.store)?;
    let work = Work::new(&plan, &locks, &opts.store, reporter)?;
    let cache = (opts.cache && opts.vary.is_none()).then(|| cache::ActionCache::new(&opts.store));
    let mut built = build_packages(recipe, &plan, &work, opts, cache.as_ref())?;
    // Upstream archives are inputs too, named by digest in release.json and the provenance.
    for a in &recipe.file.archives {
        built.sources.push(SourceRecord {
            package: a.name.clone(),
            kind: "archive".into(),
            location: a.file.clone(),
            digest: a.sha256.clone(),
            source_date_epoch: built.epoch,
        });
    }
    if let (Some(spec), Some(lock), Some(image)) = (&recipe.file.image, &locks.image, &plan.image) {
        let shipped = lock.without(&spec.test_packages);
        let step = ImageStep {
            recipe,
            spec,
            lock: &shipped,
            image,
            plan: &plan,
        };
        let a = step.run(&built, &work, cache.as_ref())?;
        built.artifacts.push(a);
    }
    let locks_in = write_inputs(recipe, &plan, &built, &work.stage.join("inputs"))?;
    let manifest = ReleaseManifest {
        type_: RELEASE_TYPE.into(),
        name: plan.name.clone(),
        version: plan.version.clone(),
        source_date_epoch: built.epoch,
        recipe: InputFile {
            path: format!("inputs/{}", plan.inputs[0].path.display()),
            sha256: plan.inputs[0].sha256.clone(),
        },
        locks: locks_in,
        sources: built.sources,
        artifacts: built.artifacts,
        builder: plan.builder.clone(),
        builds: plan
            .packages
            .iter()
            .map(|p| p.environment.clone())
            .collect(),
    };
    write_out(&manifest, &work.stage, &opts.out)?;
    if opts.keep_work {
        let kept = work.dir.keep();
        reporter.info(&format!("work directory kept at {}", kept.display()));
    }
    Ok(manifest)
}

/// Every input must be in the store: all missing ones are named at once.
fn check_store(recipe: &Recipe, plan: &plan::BuildPlan, store: &Store) -> Result<(), BuildError> {
    let mut missing = Vec::new();
    for f in plan.store_files() {
        if !store.has_verified(&f.sha256)? {
            missing.push(format!("  {} (sha256:{})", f.file, f.sha256));
        }
    }
    missing.extend(crate::upstream::missing(recipe, store)?);
    if !missing.is_empty() {
        return Err(BuildError::MissingInputs {
            store: store.root().to_path_buf(),
            recipe: recipe.path.clone(),
            missing,
        });
    }
    Ok(())
}

/// The work directory: the stage the outputs are written to, the PEP 517 driver, and (made
/// on first use, so a build whose steps all come from the cache never assembles it) the
/// toolchain.
struct Work<'a> {
    dir: tempfile::TempDir,
    path: PathBuf,
    driver: PathBuf,
    stage: PathBuf,
    toolchain: std::cell::OnceCell<Toolchain>,
    plan: &'a plan::BuildPlan,
    locks: &'a ReadLocks,
    store: &'a Store,
    reporter: &'a dyn Reporter,
}

/// The build rootfs and one site directory per package with its own build requirements only.
struct Toolchain {
    rootfs: PathBuf,
    deps: Vec<PathBuf>,
}

impl<'a> Work<'a> {
    fn new(
        plan: &'a plan::BuildPlan,
        locks: &'a ReadLocks,
        store: &'a Store,
        reporter: &'a dyn Reporter,
    ) -> Result<Work<'a>, BuildError> {
        let dir = fsutil::work_dir("relsign-build-")?;
        let path = dir.path().to_path_buf();
        let driver = path.join("pep517_driver.py");
        fsutil::write_atomic(&driver, DRIVER.as_bytes())?;
        let stage = path.join("stage");
        fsutil::create_dir_all(&stage)?;
        Ok(Work {
            dir,
            path,
            driver,
            stage,
            toolchain: std::cell::OnceCell::new(),
            plan,
            locks,
            store,
            reporter,
        })
    }

    /// The toolchain, assembled the first time a step needs it.
    fn toolchain(&self) -> Result<&Toolchain, BuildError> {
        if let Some(t) = self.toolchain.get() {
            return Ok(t);
        }
        let (plan, store) = (self.plan, self.store);
        let rootfs = self.path.join("rootfs");
        self.reporter.step(&format!(
            "assembling the build rootfs from {} locked .debs",
            plan.rootfs.len()
        ));
        crate::build::rootfs::assemble_rootfs(&self.locks.debian, store, &rootfs, self.reporter)
            .map_err(|e| BuildError::other("assembling the build rootfs")(Box::new(e)))?;
        sandbox::require_in_rootfs(&rootfs, PYTHON)?;
        let mut deps = Vec::new();
        for (i, p) in plan.packages.iter().enumerate() {
            let d = self.path.join(format!("deps-{i}"));
            fsutil::create_dir_all(&d)?;
            for r in &p.environment.requirements {
                let f = store.get(&r.sha256, &r.file)?;
                crate::python::wheel::unpack_into_site(&f, &r.file, &d)?;
            }
            deps.push(d);
        }
        Ok(self.toolchain.get_or_init(|| Toolchain { rootfs, deps }))
    }
}

/// What the package steps made: the artifacts (staged), the sources, the release's epoch.
struct Built {
    artifacts: Vec<Artifact>,
    sources: Vec<SourceRecord>,
    epoch: u64,
}

/// Build each package: the sdist from the source, then the wheel from the sdist (or take both
/// from the cache when this package's exact inputs were built before).
fn build_packages(
    recipe: &Recipe,
    plan: &plan::BuildPlan,
    work: &Work,
    opts: &BuildOptions,
    cache: Option<&cache::ActionCache>,
) -> Result<Built, BuildError> {
    let store = &opts.store;
    let mut built = Built {
        artifacts: Vec::new(),
        sources: Vec::new(),
        epoch: 0,
    };
    for (i, (pkg, pkg_plan)) in recipe.packages.iter().zip(&plan.packages).enumerate() {
        let src = work.path.join(format!("src-{}", pkg.name));
        let mut record = materialize_source(recipe, pkg, store, &src, opts.vary.is_some())?;
        if let Some(e) = opts.epochs.get(&pkg.name) {
            record.source_date_epoch = *e;
        }
        let epoch = record.source_date_epoch;
        built.epoch = built.epoch.max(epoch);
        // The key: this package's plan (source, environment, steps), the source as it is
        // now (its digest and epoch), and the toolchain's .debs.
        let key = cache::key(
            "package",
            &(pkg_plan, &record, &plan.rootfs, archive::GZIP_IMPL),
        );
        let names = match cache.and_then(|c| restore(c, "package", &key, &work.stage, 2)) {
            Some(rec) => {
                work.reporter.info(&format!(
                    "{}: sdist and wheel from the action cache ({key})",
                    pkg.name
                ));
                (rec.outputs[0].path.clone(), rec.outputs[1].path.clone())
            }
            None => {
                let tc = work.toolchain()?;
                let hooks = Hooks {
                    rootfs: &tc.rootfs,
                    store,
                    driver: &work.driver,
                    deps: &tc.deps[i],
                    vary: opts.vary.as_ref(),
                };
                let names = package_step(pkg, &src, epoch, &hooks, work)?;
                if let Some(c) = cache {
                    c.save(
                        "package",
                        &key,
                        &work.stage,
                        &[names.0.clone(), names.1.clone()],
                        None,
                    )?;
                }
                names
            }
        };
        let (sdist_name, wheel_name) = names;
        for (file, kind, media) in [
            (&sdist_name, ArtifactKind::Sdist, "application/gzip"),
            (&wheel_name, ArtifactKind::Wheel, "application/zip"),
        ] {
            let (sha256, size) = crate::digest::hash_file(&work.stage.join(file))
                .map_err(fsutil::err("read", &work.stage.join(file)))?;
            built.artifacts.push(Artifact {
                file: file.clone(),
                kind,
                package: pkg.name.clone(),
                size,
                sha256,
                media_type: media.into(),
            });
        }
        built.sources.push(record);
    }
    Ok(built)
}

/// A cached step's outputs copied into `dir`, when there is a record with at least `outputs`
/// outputs, every one intact.
fn restore(
    c: &cache::ActionCache,
    step: &str,
    key: &Sha256Hex,
    dir: &Path,
    outputs: usize,
) -> Option<cache::ActionRecord> {
    let rec = c.lookup(step, key)?;
    (rec.outputs.len() >= outputs && c.restore(&rec, dir).ok()?).then_some(rec)
}

/// One package's hooks; the normalized sdist and wheel are written to the stage. Returns
/// their file names.
fn package_step(
    pkg: &crate::recipe::Package,
    src: &Path,
    epoch: u64,
    hooks: &Hooks,
    work: &Work,
) -> Result<(String, String), BuildError> {
    let reporter = work.reporter;
    let stage = &work.stage;
    let raw_wheel_dir = work.path.join(format!("out-wheel-{}", pkg.name));
    let (sdist_name, wheel_name) = if let Source::Sdist { file, sha256 } = &pkg.source {
        // The source is a published sdist, pinned by sha256: it is the release's sdist as
        // it is (remaking it would change it: setuptools rewrites SOURCES.txt, and some
        // projects' manifests leave out files their build needs), and the wheel is built
        // from it.
        reporter.step(&format!(
            "building {} wheel from {file} (SOURCE_DATE_EPOCH={epoch})",
            pkg.name
        ));
        let wheel_name = hooks.run(src, &raw_wheel_dir, "build_wheel", epoch, &pkg.name)?;
        let from = hooks.store.get(sha256, file)?;
        let sdist_out = stage.join(file);
        std::fs::copy(&from, &sdist_out).map_err(fsutil::err("copy to", &sdist_out))?;
        (file.clone(), wheel_name)
    } else {
        reporter.step(&format!(
            "building {} sdist (SOURCE_DATE_EPOCH={epoch})",
            pkg.name
        ));
        let raw_sdist_dir = work.path.join(format!("out-sdist-{}", pkg.name));
        let sdist_name = hooks.run(src, &raw_sdist_dir, "build_sdist", epoch, &pkg.name)?;
        let raw_sdist = raw_sdist_dir.join(&sdist_name);
        let from_sdist = work.path.join(format!("sdist-src-{}", pkg.name));
        extract_sdist(&raw_sdist, &sdist_name, &from_sdist)?;
        reporter.step(&format!("building {} wheel from its sdist", pkg.name));
        let wheel_name = hooks.run(&from_sdist, &raw_wheel_dir, "build_wheel", epoch, &pkg.name)?;
        let sdist_out = stage.join(&sdist_name);
        let mut f = std::fs::File::create(&sdist_out).map_err(fsutil::err("create", &sdist_out))?;
        archive::normalize::normalize_sdist(&raw_sdist, &mut f, epoch)?;
        f.sync_all().map_err(fsutil::err("fsync", &sdist_out))?;
        (sdist_name, wheel_name)
    };
    let wheel_out = stage.join(&wheel_name);
    let f = std::fs::File::create(&wheel_out).map_err(fsutil::err("create", &wheel_out))?;
    let f = archive::normalize::normalize_wheel(&raw_wheel_dir.join(&wheel_name), f, epoch)?;
    f.sync_all().map_err(fsutil::err("fsync", &wheel_out))?;
    Ok((sdist_name, wheel_name))
}

/// The image step's inputs beyond the built packages.
struct ImageStep<'a> {
    recipe: &'a Recipe,
    spec: &'a crate::recipe::ImageSpec,
    lock: &'a crate::lock::debian::DebianLock,
    image: &'a plan::ImagePlan,
    plan: &'a plan::BuildPlan,
}

/// What the image step's key holds besides its part of the plan.
#[derive(serde::Serialize)]
struct ImageKey<'a> {
    image: &'a plan::ImagePlan,
    /// The recipe and the locks, by digest (the image's spec is in the recipe).
    inputs: &'a [plan::PlannedInput],
    archives: &'a [plan::ArchiveInput],
    rootfs: &'a [plan::StoreFile],
    /// The built wheels, by digest.
    wheels: Vec<(&'a str, &'a Sha256Hex)>,
    /// The recipe's own files the image copies (`[[image.files]]` without an archive).
    files: Vec<(String, Sha256Hex)>,
    epoch: u64,
    revision: &'a str,
    gzip: &'a str,
}

impl ImageStep<'_> {
    /// The image, from the built wheels and the locked runtime wheels (or from the cache when
    /// its exact inputs were built before).
    fn run(
        &self,
        built: &Built,
        work: &Work,
        cache: Option<&cache::ActionCache>,
    ) -> Result<Artifact, BuildError> {
        let wheels: Vec<&Artifact> = (built.artifacts.iter())
            .filter(|a| a.kind == ArtifactKind::Wheel)
            .collect();
        let revision = Sha256Hex::of(
            (built.sources.iter())
                .map(|s| format!("{}:{}\n", s.kind, s.digest))
                .collect::<String>()
                .as_bytes(),
        );
        let revision = format!("sha256:{revision}");
        let key = match cache {
            None => None,
            Some(_) => Some(cache::key(
                "image",
                &ImageKey {
                    image: self.image,
                    inputs: &self.plan.inputs,
                    archives: &self.plan.archives,
                    rootfs: &self.plan.rootfs,
                    wheels: wheels
                        .iter()
                        .map(|a| (a.file.as_str(), &a.sha256))
                        .collect(),
                    files: self.local_files()?,
                    epoch: built.epoch,
                    revision: &revision,
                    gzip: archive::GZIP_IMPL,
                },
            )),
        };
        if let (Some(c), Some(k)) = (cache, &key) {
            if let Some(a) = restore(c, "image", k, &work.stage, 1).and_then(|r| r.artifact) {
                work.reporter.info(&format!(
                    "image {}: from the action cache ({k})",
                    self.spec.name
                ));
                return Ok(a);
            }
        }
        let inputs = crate::build::image::ImageInputs {
            recipe: self.recipe,
            spec: self.spec,
            lock: self.lock,
            store: work.store,
            wheels: (wheels.iter())
                .map(|a| (a.file.clone(), work.stage.join(&a.file)))
                .collect(),
            runtime: (self.image.runtime_wheels.iter())
                .map(|w| (w.file.clone(), w.sha256.clone()))
                .collect(),
            epoch: built.epoch,
            revision,
            work: &work.path,
            toolchain_rootfs: &work.toolchain()?.rootfs,
            out: &work.stage.join("image"),
        };
        let started = std::time::Instant::now();
        let a = crate::build::image::build_image(&inputs, work.reporter)?;
        work.reporter.info(&format!(
            "image {}: built in {:.2} s",
            self.spec.name,
            started.elapsed().as_secs_f64()
        ));
        if let (Some(c), Some(k)) = (cache, &key) {
            let paths = cache::files_under(&work.stage, &work.stage.join(&a.file))?;
            c.save("image", k, &work.stage, &paths, Some(&a))?;
        }
        Ok(a)
    }

    /// The recipe's own files the image copies, each by digest (a directory by its tree
    /// digest, which names every file's digest and executable bit).
    fn local_files(&self) -> Result<Vec<(String, Sha256Hex)>, BuildError> {
        let mut out = Vec::new();
        for f in self.spec.files.iter().filter(|f| f.archive.is_none()) {
            let p = self.recipe.resolve(&f.src);
            let d = if p.is_dir() {
                crate::build::source::tree_digest(&p)?
            } else {
                use std::os::unix::fs::PermissionsExt;
                let meta = p.metadata().map_err(fsutil::err("stat", &p))?;
                let (d, _) = crate::digest::hash_file(&p).map_err(fsutil::err("read", &p))?;
                Sha256Hex::of(format!("{d} {:o}", meta.permissions().mode()).as_bytes())
            };
            out.push((f.src.display().to_string(), d));
        }
        Ok(out)
    }
}

/// `inputs/`: the recipe and the locks (and directory sources), so the release can be
/// rebuilt from the directory alone. Returns the locks as release.json names them.
fn write_inputs(
    recipe: &Recipe,
    plan: &plan::BuildPlan,
    built: &Built,
    inputs: &Path,
) -> Result<Vec<InputFile>, BuildError> {
    fsutil::write_atomic(&inputs.join(&plan.inputs[0].path), &recipe.bytes)?;
    let mut locks = Vec::new();
    for i in &plan.inputs[1..] {
        let bytes = fsutil::read(&i.from)?;
        fsutil::write_atomic(&inputs.join(&i.path), &bytes)?;
        locks.push(InputFile {
            path: format!("inputs/{}", i.path.display()),
            sha256: Sha256Hex::of(&bytes),
        });
    }
    for pkg in &recipe.packages {
        if let Source::Dir(rel) = &pkg.source {
            if let Some(rel) = safe_relative(rel) {
                let epoch = built
                    .sources
                    .iter()
                    .find(|s| s.package == pkg.name)
                    .map(|s| s.source_date_epoch)
                    .unwrap_or(0);
                copy_source_tree(&recipe.resolve(&rel), &inputs.join(&rel), epoch)?;
            }
        }
    }
    Ok(locks)
}

/// Publish into the output directory: artifacts and inputs first, release.json last.
fn write_out(manifest: &ReleaseManifest, stage: &Path, out: &Path) -> Result<(), BuildError> {
    let mut json = canonical_json(manifest);
    json.push(b'\n');
    fsutil::create_dir_all(out)?;
    for a in &manifest.artifacts {
        let dest = out.join(&a.file);
        if a.kind == ArtifactKind::OciImage && dest.exists() {
            std::fs::remove_dir_all(&dest).map_err(fsutil::err("remove", &dest))?;
        }
        move_into(&stage.join(&a.file), &dest)?;
    }
    let out_inputs = out.join("inputs");
    if out_inputs.exists() {
        std::fs::remove_dir_all(&out_inputs).map_err(fsutil::err("remove", &out_inputs))?;
    }
    move_into(&stage.join("inputs"), &out_inputs)?;
    fsutil::write_atomic(&out.join("release.json"), &json)?;
    Ok(())
}

fn move_into(from: &Path, to: &Path) -> Result<(), BuildError> {
    if std::fs::rename(from, to).is_err() {
        // Different file systems: copy to a temp name beside the target, then rename.
        if from.is_dir() {
            let tmp = to.with_extension("relsign-tmp");
            fsutil::copy_tree(from, &tmp)?;
            std::fs::rename(&tmp, to).map_err(fsutil::err("rename into", to))?;
        } else {
            let bytes = fsutil::read(from)?;
            fsutil::write_atomic(to, &bytes)?;
        }
    }
    Ok(())
}

fn safe_relative(p: &Path) -> Option<PathBuf> {
    use std::path::Component;
    if p.components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        Some(
            p.components()
                .filter(|c| matches!(c, Component::Normal(_)))
                .collect(),
        )
    } else {
        None
    }
}

/// Variations of a `--check-reproducible` second build, inside the sandbox: the steps run as
/// uid 1000 and under libfaketime three days ahead; the source is copied in reverse order.
#[derive(Debug, Clone)]
pub struct Variation {
    /// The host's libfaketime.so.1, bound into the sandbox and preloaded.
    pub libfaketime: PathBuf,
    pub clock_offset: String,
    pub uid: u32,
}

impl Variation {
    /// The standard variation; fails naming faketime when libfaketime is not installed.
    pub fn standard() -> Result<Variation, BuildError> {
        let candidates = [
            "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
            "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
            "/usr/lib/faketime/libfaketime.so.1",
        ];
        let lib = candidates.iter().map(PathBuf::from).find(|p| p.is_file()).ok_or_else(|| {
            BuildError::Message("--check-reproducible varies the clock with libfaketime, which is not installed: apt-get install faketime".into())
        })?;
        Ok(Variation {
            libfaketime: lib,
            clock_offset: "+3d".into(),
            uid: 1000,
        })
    }
}

/// What every PEP 517 hook step shares.
struct Hooks<'a> {
    rootfs: &'a Path,
    store: &'a Store,
    driver: &'a Path,
    deps: &'a Path,
    vary: Option<&'a Variation>,
}

/// Make a tree writable by anyone (for a step that runs as another uid).
fn open_up(dir: &Path) -> Result<(), BuildError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = dir.symlink_metadata().map_err(fsutil::err("stat", dir))?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let mode = if meta.is_dir() {
        0o777
    } else {
        meta.permissions().mode() | 0o666
    };
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
        .map_err(fsutil::err("chmod", dir))?;
    if meta.is_dir() {
        for e in std::fs::read_dir(dir).map_err(fsutil::err("read directory", dir))? {
            open_up(&e.map_err(fsutil::err("read directory", dir))?.path())?;
        }
    }
    Ok(())
}

impl Hooks<'_> {
    fn run(
        &self,
        src: &Path,
        out: &Path,
        hook: &str,
        epoch: u64,
        pkg: &str,
    ) -> Result<String, BuildError> {
        let h = self;
        let (rootfs, store, driver, deps) = (h.rootfs, h.store, h.driver, h.deps);
        fsutil::create_dir_all(out)?;
        let mut extra_env = Vec::new();
        let mut extra_binds = Vec::new();
        if let Some(v) = h.vary {
            open_up(src)?;
            open_up(out)?;
            extra_binds.push(Bind {
                host: v.libfaketime.clone(),
                dest: "/relsign/libfaketime.so.1".into(),
                writable: false,
            });
            extra_env.push((
                "LD_PRELOAD".to_string(),
                "/relsign/libfaketime.so.1".to_string(),
            ));
            extra_env.push(("FAKETIME".to_string(), v.clock_offset.clone()));
            extra_env.push(("FAKETIME_DONT_FAKE_MONOTONIC".to_string(), "1".to_string()));
        }
        let step = Step {
            uid: h.vary.map(|v| v.uid),
            system: false,
            name: format!("{hook} {pkg}"),
            rootfs: rootfs.to_path_buf(),
            binds: vec![
                Bind {
                    host: store.root().to_path_buf(),
                    dest: "/store".into(),
                    writable: false,
                },
                Bind {
                    host: deps.to_path_buf(),
                    dest: "/relsign/deps".into(),
                    writable: false,
                },
                Bind {
                    host: driver.to_path_buf(),
                    dest: "/relsign/pep517_driver.py".into(),
                    writable: false,
                },
                Bind {
                    host: src.to_path_buf(),
                    dest: "/src".into(),
                    writable: true,
                },
                Bind {
                    host: out.to_path_buf(),
                    dest: "/out".into(),
                    writable: true,
                },
            ]
            .into_iter()
            .chain(extra_binds)
            .collect(),
            env: std::iter::once(("SOURCE_DATE_EPOCH".to_string(), epoch.to_string()))
                .chain(extra_env)
                .collect(),
            cwd: "/src".into(),
            argv: [
                PYTHON,
                "/relsign/pep517_driver.py",
                hook,
                "/src",
                "/out",
                "/relsign/deps",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        };
        let output = sandbox::run(&step)?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let last = stdout
            .lines()
            .rev()
            .find(|l| l.starts_with('{'))
            .unwrap_or("");
        #[derive(Deserialize)]
        struct HookResult {
            file: String,
        }
        let r: HookResult = serde_json::from_str(last).map_err(|e| {
            BuildError::Message(format!(
            "{hook} {pkg}: the build backend did not report a file name ({e}); output:\n{stdout}"
        ))
        })?;
        if r.file.contains('/') || !out.join(&r.file).is_file() {
            return Err(BuildError::Message(format!(
            "{hook} {pkg}: the backend reported {:?}, which is not a file in the output directory",
            r.file
        )));
        }
        Ok(r.file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn safe_relative_refuses_escapes() {
        assert!(safe_relative(Path::new("../x")).is_none());
        assert!(safe_relative(Path::new("/x")).is_none());
        assert_eq!(safe_relative(Path::new("./a/b")).unwrap(), Path::new("a/b"));
    }
}
