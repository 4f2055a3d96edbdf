//! Debian-based OCI images assembled without a daemon, from locked .debs and wheels.
//!
//! Three trees are assembled on the host and written as three layers:
//! 1. the Debian packages (extracted through the safe reader, merged-/usr, no maintainer
//!    scripts), plus what maintainer scripts would have made, written declaratively: base
//!    passwd/group, the alternatives symlinks the recipe asks for, the CA bundle, dpkg's
//!    `status.d`, `/etc/os-release` and `/etc/debian_version`; volatile files removed. With
//!    `image.scripts`, dpkg installs them instead, with their maintainer scripts
//!    ([`crate::build::scripts`]);
//! 2. the Python venv with the built wheels and their locked runtime dependencies;
//! 3. the recipe's extra files and directories (`[[image.files]]`, `[[image.dirs]]`).
//!
//! `relsign run` unpacks a layout and runs a command in it, in the sandbox.

use crate::build::error::BuildError;
use crate::digest::Sha256Hex;
use crate::fsutil;
use crate::lock::debian::DebianLock;
use crate::model::Artifact;
use crate::oci::layer::{write_layer, Compression};
use crate::oci::{rfc3339, Layout, Manifest, OciError, MEDIA_CONFIG, MEDIA_MANIFEST, REF_NAME};
use crate::python::install::Venv;
use crate::recipe::{ImageSpec, Recipe};
use crate::report::Reporter;
use crate::store::Store;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

impl From<OciError> for BuildError {
    fn from(e: OciError) -> Self {
        BuildError::Other {
            context: "the OCI image".into(),
            source: Box::new(e),
        }
    }
}
impl From<crate::python::install::InstallError> for BuildError {
    fn from(e: crate::python::install::InstallError) -> Self {
        BuildError::Other {
            context: "installing wheels into the image venv".into(),
            source: Box::new(e),
        }
    }
}

/// The parts of the OCI image config relsign writes and `relsign run` reads.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct RunConfig {
    #[serde(rename = "Env", default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(rename = "Entrypoint", default, skip_serializing_if = "Vec::is_empty")]
    pub entrypoint: Vec<String>,
    #[serde(rename = "Cmd", default, skip_serializing_if = "Vec::is_empty")]
    pub cmd: Vec<String>,
    #[serde(rename = "User", default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(
        rename = "WorkingDir",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub working_dir: String,
    #[serde(rename = "Labels", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl RunConfig {
    /// `Env` as (name, value) pairs; an entry without `=` is left out.
    pub fn env_pairs(&self) -> Vec<(String, String)> {
        self.env
            .iter()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct History {
    pub created: String,
    pub created_by: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub type_: String,
    pub diff_ids: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImageConfig {
    pub architecture: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub variant: Option<String>,
    pub os: String,
    pub created: String,
    pub config: RunConfig,
    pub rootfs: RootFs,
    pub history: Vec<History>,
}

/// Debian architecture → OCI (architecture, variant).
pub fn oci_arch(deb: &str) -> (String, Option<String>) {
    match deb {
        "amd64" => ("amd64".into(), None),
        "arm64" => ("arm64".into(), Some("v8".into())),
        "armhf" => ("arm".into(), Some("v7".into())),
        "i386" => ("386".into(), None),
        other => (other.into(), None),
    }
}

/// Everything the image step needs from the build.
pub struct ImageInputs<'a> {
    pub recipe: &'a Recipe,
    pub spec: &'a ImageSpec,
    pub lock: &'a DebianLock,
    pub store: &'a Store,
    /// Built wheels (file name, path).
    pub wheels: Vec<(String, PathBuf)>,
    /// Locked runtime wheels (file name, digest).
    pub runtime: Vec<(String, Sha256Hex)>,
    pub epoch: u64,
    /// `org.opencontainers.image.revision`: a digest of the sources.
    pub revision: String,
    pub work: &'a Path,
    /// The build's toolchain rootfs (assembled from the toolchain lock).
    pub toolchain_rootfs: &'a Path,
    /// Where the layout goes (a directory that does not exist yet).
    pub out: &'a Path,
}

/// The upstream Python version shipped by the image's python3.X package ("3.13.5").
fn python_full_version(lock: &DebianLock, python: &str) -> String {
    lock.packages
        .iter()
        .find(|p| p.name == format!("python{python}"))
        .map(|p| {
            let v = p
                .version
                .split_once(':')
                .map(|(_, v)| v)
                .unwrap_or(&p.version);
            v.rsplit_once('-').map(|(u, _)| u).unwrap_or(v).to_string()
        })
        .unwrap_or_else(|| python.to_string())
}

fn write(path: &Path, bytes: &[u8], mode: u32) -> Result<(), BuildError> {
    write_from(path, &mut &bytes[..], mode)
}

/// Write `path` from a reader (streamed: a large file is never held in memory) with `mode`,
/// replacing a symlink there rather than writing through it.
fn write_from(path: &Path, from: &mut dyn std::io::Read, mode: u32) -> Result<(), BuildError> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(parent) = path.parent() {
        fsutil::create_dir_all(parent)?;
    }
    if path
        .symlink_metadata()
        .map(|m| m.file_type().is_symlink())
        .unwrap_or(false)
    {
        std::fs::remove_file(path).map_err(fsutil::err("remove", path))?;
    }
    let mut f = std::fs::File::create(path).map_err(fsutil::err("create", path))?;
    std::io::copy(from, &mut f).map_err(fsutil::err("write", path))?;
    drop(f);
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(fsutil::err("chmod", path))?;
    Ok(())
}

/// Release number of a Debian codename, for os-release when base-files is not installed.
fn debian_release(suite: &str) -> Option<(&'static str, &'static str)> {
    Some(match suite {
        "bookworm" => ("12", "bookworm"),
        "trixie" => ("13", "trixie"),
        "forky" => ("14", "forky"),
        "duke" => ("15", "duke"),
        _ => return None,
    })
}

/// `/etc/passwd` and `/etc/group` for an image without maintainer scripts: root, nobody and
/// the recipe's user.
fn write_users(root: &Path, spec: &ImageSpec) -> Result<(), BuildError> {
    let mut passwd = String::from("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
    let mut group = String::from("root:x:0:\nnogroup:x:65534:\n");
    if let Some(u) = &spec.user {
        let gid = u.gid.unwrap_or(u.uid);
        let home = u
            .home
            .clone()
            .unwrap_or_else(|| format!("/home/{}", u.name));
        passwd.push_str(&format!(
            "{}:x:{}:{gid}:{}:{home}:/usr/sbin/nologin\n",
            u.name, u.uid, u.name
        ));
        group.push_str(&format!("{}:x:{gid}:\n", u.name));
        fsutil::create_dir_all(&root.join(home.trim_start_matches('/')))?;
    }
    write(&root.join("etc/passwd"), passwd.as_bytes(), 0o644)?;
    write(&root.join("etc/group"), group.as_bytes(), 0o644)?;
    Ok(())
}

/// What maintainer scripts would have done, done declaratively (for an image with
/// `scripts`, only what the scripts do not: the recipe's alternatives, os-release, volatile
/// directories).
fn configure_debian_tree(
    root: &Path,
    spec: &ImageSpec,
    suite: &str,
    reporter: &dyn Reporter,
) -> Result<(), BuildError> {
    // Users and groups: the scripts made them (base-passwd, adduser) when they ran.
    if !spec.scripts {
        write_users(root, spec)?;
    }
    write_alternatives(root, spec)?;
    if spec.ca_certificates && spec.scripts {
        // update-ca-certificates ran in ca-certificates' postinst.
        let b = root.join("etc/ssl/certs/ca-certificates.crt");
        if !b.is_file() {
            return Err(BuildError::Message(format!(
                "image.ca-certificates is set but the maintainer scripts made no {}; add `ca-certificates` to image.packages",
                "/etc/ssl/certs/ca-certificates.crt"
            )));
        }
    } else if spec.ca_certificates {
        write_ca_bundle(root, reporter)?;
    }
    write_os_release(root, suite)?;
    clear_volatile(root, spec.scripts)
}

/// The recipe's alternatives: symlinks, replacing what is there.
fn write_alternatives(root: &Path, spec: &ImageSpec) -> Result<(), BuildError> {
    for (link, target) in &spec.alternatives {
        let p = root.join(link.trim_start_matches('/'));
        if let Some(parent) = p.parent() {
            fsutil::create_dir_all(parent)?;
        }
        if p.symlink_metadata().is_ok() {
            std::fs::remove_file(&p).map_err(fsutil::err("remove", &p))?;
        }
        std::os::unix::fs::symlink(target, &p).map_err(fsutil::err("create symlink", &p))?;
    }
    Ok(())
}

/// The CA bundle update-ca-certificates would build: every certificate under
/// /usr/share/ca-certificates, in sorted order.
fn write_ca_bundle(root: &Path, reporter: &dyn Reporter) -> Result<(), BuildError> {
    let dir = root.join("usr/share/ca-certificates");
    if !dir.is_dir() {
        return Err(BuildError::Message(format!("{}: image.ca-certificates is set but the image has no /usr/share/ca-certificates; add `ca-certificates` to image.packages", "recipe")));
    }
    let mut certs = Vec::new();
    fn walk(d: &Path, out: &mut Vec<PathBuf>) -> Result<(), BuildError> {
        for e in std::fs::read_dir(d).map_err(fsutil::err("read directory", d))? {
            let p = e.map_err(fsutil::err("read directory", d))?.path();
            if p.is_dir() {
                walk(&p, out)?;
            } else if p.extension().map(|x| x == "crt").unwrap_or(false) {
                out.push(p);
            }
        }
        Ok(())
    }
    walk(&dir, &mut certs)?;
    certs.sort();
    let mut bundle = Vec::new();
    for c in &certs {
        let mut b = fsutil::read(c)?;
        if !b.ends_with(b"\n") {
            b.push(b'\n');
        }
        bundle.extend(b);
    }
    write(
        &root.join("etc/ssl/certs/ca-certificates.crt"),
        &bundle,
        0o644,
    )?;
    reporter.info(&format!("CA bundle: {} certificates", certs.len()));
    Ok(())
}

/// os-release and debian_version, when base-files did not provide them.
fn write_os_release(root: &Path, suite: &str) -> Result<(), BuildError> {
    if root.join("etc/os-release").symlink_metadata().is_err()
        && root.join("usr/lib/os-release").symlink_metadata().is_err()
    {
        let (num, code) = debian_release(suite).unwrap_or(("", "unknown"));
        let text = format!(
            "PRETTY_NAME=\"Debian GNU/Linux {num} ({code})\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"{num}\"\nVERSION=\"{num} ({code})\"\nVERSION_CODENAME={code}\nID=debian\n"
        );
        write(&root.join("etc/os-release"), text.as_bytes(), 0o644)?;
    }
    if root.join("etc/debian_version").symlink_metadata().is_err() {
        let (num, _) = debian_release(suite).unwrap_or(("", ""));
        write(
            &root.join("etc/debian_version"),
            format!("{num}\n").as_bytes(),
            0o644,
        )?;
    }
    Ok(())
}

/// Volatile files: an empty machine-id, no logs, no caches. (With scripts, logs and caches
/// were normalized by debian::scripts: caches such as fontconfig's and debconf's database
/// are the scripts' work and stay.) /tmp and /var/tmp sticky and world-writable.
fn clear_volatile(root: &Path, scripts: bool) -> Result<(), BuildError> {
    write(&root.join("etc/machine-id"), b"", 0o444)?;
    let volatile: &[&str] = if scripts {
        &["var/lib/apt/lists", "tmp", "var/tmp", "run"]
    } else {
        &[
            "var/log",
            "var/cache",
            "var/lib/apt/lists",
            "tmp",
            "var/tmp",
            "run",
        ]
    };
    for d in volatile {
        let p = root.join(d);
        if p.is_dir() {
            for e in std::fs::read_dir(&p).map_err(fsutil::err("read directory", &p))? {
                let e = e.map_err(fsutil::err("read directory", &p))?.path();
                let res = if e.is_dir()
                    && !e
                        .symlink_metadata()
                        .map(|m| m.file_type().is_symlink())
                        .unwrap_or(false)
                {
                    std::fs::remove_dir_all(&e)
                } else {
                    std::fs::remove_file(&e)
                };
                res.map_err(fsutil::err("remove", &e))?;
            }
        }
    }
    use std::os::unix::fs::PermissionsExt;
    for d in ["tmp", "var/tmp"] {
        let p = root.join(d);
        fsutil::create_dir_all(&p)?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o1777))
            .map_err(fsutil::err("chmod", &p))?;
    }
    Ok(())
}

/// The recipe's user, made with useradd (after the scripts, which may have made it already:
/// then it must have the recipe's uid).
fn add_user_with_scripts(
    root: &Path,
    u: &crate::recipe::ImageUser,
    epoch: u64,
) -> Result<(), BuildError> {
    let gid = u.gid.unwrap_or(u.uid);
    let home = u
        .home
        .clone()
        .unwrap_or_else(|| format!("/home/{}", u.name));
    let passwd = fsutil::read_to_string(&root.join("etc/passwd"))?;
    if let Some(line) = passwd
        .lines()
        .find(|l| l.split(':').next() == Some(u.name.as_str()))
    {
        let f: Vec<&str> = line.split(':').collect();
        if f.get(2) != Some(&u.uid.to_string().as_str()) {
            return Err(BuildError::Message(format!(
                "image.user: the maintainer scripts made user {} with uid {}, the recipe asks for uid {}",
                u.name,
                f.get(2).unwrap_or(&"?"),
                u.uid
            )));
        }
        fsutil::create_dir_all(&root.join(home.trim_start_matches('/')))?;
        return Ok(());
    }
    if root.join("usr/sbin/useradd").symlink_metadata().is_err() {
        return Err(BuildError::Message(format!(
            "image.user {}: the image has no useradd to make it; add `passwd` to image.packages",
            u.name
        )));
    }
    let script = format!(
        "set -e\ngetent group {name} >/dev/null || groupadd --gid {gid} {name}\nuseradd --uid {uid} --gid {gid} --home-dir {home} --create-home --shell /usr/sbin/nologin {name}\n",
        name = u.name,
        uid = u.uid,
    );
    let step = crate::sandbox::Step {
        name: format!("useradd {}", u.name),
        rootfs: root.to_path_buf(),
        binds: vec![],
        env: vec![
            ("SOURCE_DATE_EPOCH".into(), epoch.to_string()),
            (
                "PATH".into(),
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            ),
        ],
        cwd: "/".into(),
        argv: vec!["/bin/sh".into(), "-c".into(), script],
        uid: None,
        system: true,
    };
    crate::sandbox::run(&step).map_err(|e| BuildError::Other {
        context: format!("image.user {}", u.name),
        source: Box::new(e),
    })?;
    crate::build::scripts::normalize(root, epoch, &[]).map_err(|e| BuildError::Other {
        context: format!("image.user {}", u.name),
        source: Box::new(e),
    })?;
    Ok(())
}

/// Every entry under `dir` whose owner is not root:root, by path relative to `root`.
fn disk_owners(
    root: &Path,
    dir: &Path,
    out: &mut BTreeMap<String, (u32, u32)>,
) -> Result<(), BuildError> {
    use std::os::unix::fs::MetadataExt;
    for e in std::fs::read_dir(dir).map_err(fsutil::err("read directory", dir))? {
        let p = e.map_err(fsutil::err("read directory", dir))?.path();
        let m = p.symlink_metadata().map_err(fsutil::err("stat", &p))?;
        if m.uid() != 0 || m.gid() != 0 {
            let rel = p.strip_prefix(root).unwrap_or(&p);
            out.insert(rel.to_string_lossy().into_owned(), (m.uid(), m.gid()));
        }
        if m.is_dir() {
            disk_owners(root, &p, out)?;
        }
    }
    Ok(())
}

/// Build the image; returns its artifact entry for release.json.
pub fn build_image(inp: &ImageInputs, reporter: &dyn Reporter) -> Result<Artifact, BuildError> {
    let spec = inp.spec;
    let compression = Compression::parse(&spec.compression).unwrap_or(Compression::Gzip);
    let python = &inp.recipe.file.python.version;
    let (toolchain, _) = inp
        .recipe
        .image_toolchain()
        .ok_or_else(|| BuildError::Message("no [image] in the recipe".into()))?;

    // 1. Debian tree.
    let debs = inp.work.join("image-debs");
    let mut owners = debian_tree(inp, &toolchain, &debs, reporter)?;
    let py_bin = format!("usr/bin/python{python}");
    if spec.wheels && debs.join(&py_bin).symlink_metadata().is_err() {
        return Err(BuildError::Message(format!(
            "image {}: /{py_bin} is not in the image; add python3 to image.packages",
            spec.name
        )));
    }

    // 2. Venv tree.
    let venv_root = inp.work.join("image-venv");
    let installed = venv_tree(inp, &venv_root, &debs, reporter)?;

    // 3. App tree.
    let app = inp.work.join("image-app");
    app_tree(inp, &debs, &app, &mut owners)?;

    // 4. Layers, config, manifest, index.
    let layout = Layout::create(inp.out)?;
    if let Some(u) = &spec.user {
        let home = u
            .home
            .clone()
            .unwrap_or_else(|| format!("/home/{}", u.name));
        owners.insert(
            home.trim_start_matches('/').to_string(),
            (u.uid, u.gid.unwrap_or(u.uid)),
        );
    }
    let created = rfc3339(inp.epoch);
    let mut trees: Vec<(&Path, String)> = vec![
        (
            &debs,
            format!(
                "relsign: {} Debian packages ({} {})",
                inp.lock.packages.len(),
                toolchain.suite,
                toolchain.architecture
            ),
        ),
        (
            &venv_root,
            format!("relsign: venv {} with {installed} wheels", spec.venv),
        ),
    ];
    if !spec.files.is_empty() {
        trees.push((&app, format!("relsign: {} app files", spec.files.len())));
    }
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    let mut history = Vec::new();
    for (tree, what) in trees {
        reporter.step(&format!("image {}: layer: {what}", spec.name));
        let l = write_layer(&layout, tree, inp.epoch, compression, &owners)?;
        reporter.info(&format!(
            "{} ({} bytes, {} entries)",
            l.descriptor.digest, l.descriptor.size, l.entries
        ));
        layers.push(l.descriptor);
        diff_ids.push(l.diff_id);
        history.push(History {
            created: created.clone(),
            created_by: what,
        });
    }
    let config = image_config(inp, &toolchain, created, diff_ids, history);
    write_manifest(inp, &layout, &config, layers)
}

/// The Debian tree in `debs`: the locked .debs extracted, with `image.scripts` their
/// maintainer scripts run (and the recipe's user made), then configured declaratively. The
/// owners the scripts left (none without scripts), by path.
fn debian_tree(
    inp: &ImageInputs,
    toolchain: &crate::recipe::Toolchain,
    debs: &Path,
    reporter: &dyn Reporter,
) -> Result<BTreeMap<String, (u32, u32)>, BuildError> {
    let spec = inp.spec;
    reporter.step(&format!(
        "image {}: assembling {} locked .debs",
        spec.name,
        inp.lock.packages.len()
    ));
    crate::build::rootfs::assemble_rootfs(inp.lock, inp.store, debs, reporter).map_err(|e| {
        BuildError::Other {
            context: "assembling the image rootfs".into(),
            source: Box::new(e),
        }
    })?;
    let mut owners = BTreeMap::new();
    if spec.scripts {
        let faketime = crate::build::scripts::find_libfaketime(inp.toolchain_rootfs)
            .ok_or_else(|| BuildError::Message(format!(
                "image {}: image.scripts runs the maintainer scripts with the clock stopped at SOURCE_DATE_EPOCH, with libfaketime from the toolchain: add `libfaketime` to [toolchain] packages and run `relsign lock`",
                spec.name
            )))?;
        crate::build::scripts::run_maintainer_scripts(
            debs, inp.lock, inp.store, inp.epoch, &faketime, spec, reporter,
        )
        .map_err(|e| BuildError::Other {
            context: format!("image {}: maintainer scripts", spec.name),
            source: Box::new(e),
        })?;
        if let Some(u) = &spec.user {
            add_user_with_scripts(debs, u, inp.epoch)?;
        }
    }
    configure_debian_tree(debs, spec, &toolchain.suite, reporter)?;
    if spec.scripts {
        // Owners as the scripts left them (users they made, files they handed over).
        disk_owners(debs, debs, &mut owners)?;
    }
    Ok(owners)
}

/// The venv tree in `venv_root`, with the built wheels and the locked runtime wheels when
/// `image.wheels`, compiled to bytecode by the Debian tree's interpreter (in `debs`) when
/// `image.bytecode`: how many were installed.
fn venv_tree(
    inp: &ImageInputs,
    venv_root: &Path,
    debs: &Path,
    reporter: &dyn Reporter,
) -> Result<usize, BuildError> {
    let spec = inp.spec;
    let python = &inp.recipe.file.python.version;
    let mut venv = Venv::create(
        venv_root,
        &spec.venv,
        python,
        &python_full_version(inp.lock, python),
    )?;
    let mut installed = 0;
    if spec.wheels {
        for (name, path) in &inp.wheels {
            venv.install(path, name)?;
            installed += 1;
        }
        for (name, d) in &inp.runtime {
            let p = inp.store.get(d, name)?;
            venv.install(&p, name)?;
            installed += 1;
        }
    }
    reporter.info(&format!("venv {}: {installed} wheels installed", spec.venv));
    if spec.bytecode {
        let site_in_image = format!("{}/lib/python{python}/site-packages", venv.path);
        crate::build::bytecode::compile_venv(
            debs,
            &format!("/usr/bin/python{python}"),
            &venv.site(),
            &site_in_image,
            inp.epoch,
            reporter,
        )?;
    }
    Ok(installed)
}

/// The app tree in `app`: `[[image.dirs]]`, then `[[image.files]]` (from the recipe's
/// directory or an upstream archive); their owners (names resolved in the Debian tree
/// `debs`) go into `owners`, a copied directory's for everything below it.
fn app_tree(
    inp: &ImageInputs,
    debs: &Path,
    app: &Path,
    owners: &mut BTreeMap<String, (u32, u32)>,
) -> Result<(), BuildError> {
    let spec = inp.spec;
    fsutil::create_dir_all(app)?;
    let mut unpacked: BTreeMap<String, PathBuf> = BTreeMap::new();
    let ids = ImageIds::read(debs)?;
    let mut app_owners: Vec<(PathBuf, (u32, u32))> = Vec::new();
    for (i, d) in spec.dirs.iter().enumerate() {
        let field = format!("image.dirs[{i}]");
        let rel = image_rel_path(&d.path, &field)?;
        let dest = app.join(&rel);
        fsutil::create_dir_all(&dest)?;
        let mode = parse_mode(d.mode.as_deref(), &field)?.unwrap_or(0o755);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode))
            .map_err(fsutil::err("chmod", &dest))?;
        if let Some(o) = &d.owner {
            owners.insert(rel.to_string_lossy().into_owned(), ids.resolve(o, &field)?);
        }
    }
    for (i, f) in spec.files.iter().enumerate() {
        let field = format!("image.files[{i}]");
        let mode = parse_mode(f.mode.as_deref(), &field)?;
        let dest = app.join(image_rel_path(&f.dest, &field)?);
        if let Some(o) = &f.owner {
            app_owners.push((dest.clone(), ids.resolve(o, &field)?));
        }
        let Some(name) = &f.archive else {
            let src = inp.recipe.resolve(&f.src);
            if src.is_dir() {
                return Err(BuildError::Message(format!(
                    "{}: {field}.src: {} is a directory; the recipe's own files are named one by one (a directory can come from an [[archive]])",
                    inp.recipe.path.display(),
                    src.display()
                )));
            }
            let mut r = std::fs::File::open(&src).map_err(fsutil::err("open", &src))?;
            write_from(&dest, &mut r, mode.unwrap_or(0o644))?;
            continue;
        };
        // From an upstream archive: a file, or a directory copied whole (modes as archived).
        if !unpacked.contains_key(name) {
            let d = inp.work.join("archives").join(name);
            crate::upstream::unpack(inp.recipe, name, inp.store, &d)
                .map_err(|e| BuildError::Message(e.to_string()))?;
            unpacked.insert(name.clone(), d);
        }
        copy_from_archive(&unpacked[name], name, &f.src, &dest, mode)?;
    }
    // Owners of copied files and trees (everything below a copied directory).
    for (dest, id) in &app_owners {
        for p in tree_paths(dest)? {
            let rel = p.strip_prefix(app).unwrap_or(&p);
            owners.insert(rel.to_string_lossy().into_owned(), *id);
        }
    }
    Ok(())
}

/// Copy `src` of the archive unpacked in `unpacked` (named `name`) to `dest`: a directory
/// whole, a file with `mode` or its archived mode. Never through a symlink of the archive: a
/// link to a host path would copy a file of the build machine into the image. (Links inside
/// a copied directory stay links.)
fn copy_from_archive(
    unpacked: &Path,
    name: &str,
    src_rel: &Path,
    dest: &Path,
    mode: Option<u32>,
) -> Result<(), BuildError> {
    let mut src = unpacked.to_path_buf();
    for c in src_rel.components() {
        src.push(c);
        if std::fs::symlink_metadata(&src).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(BuildError::Message(format!(
                "image.files: {} is reached through a symlink in archive {name} ({}); name the real path",
                src_rel.display(),
                src.strip_prefix(unpacked).unwrap_or(&src).display()
            )));
        }
    }
    let meta = std::fs::symlink_metadata(&src).map_err(|_| {
        BuildError::Message(format!(
            "image.files: {} is not in archive {name}",
            src_rel.display()
        ))
    })?;
    if meta.is_dir() {
        fsutil::copy_tree(&src, dest)?;
    } else {
        let mut r = std::fs::File::open(&src).map_err(fsutil::err("open", &src))?;
        let archived = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777;
        write_from(dest, &mut r, mode.unwrap_or(archived))?;
    }
    Ok(())
}

/// `dest` and, when it is a directory, everything below it (symlinks not followed).
fn tree_paths(dest: &Path) -> Result<Vec<PathBuf>, BuildError> {
    let mut all = vec![dest.to_path_buf()];
    if dest.is_dir() {
        let mut stack = vec![dest.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).map_err(fsutil::err("read directory", &d))? {
                let p = e.map_err(fsutil::err("read directory", &d))?.path();
                if p.symlink_metadata().is_ok_and(|m| m.is_dir()) {
                    stack.push(p.clone());
                }
                all.push(p);
            }
        }
    }
    Ok(all)
}

/// The image config: the venv first on PATH, the recipe's env, entrypoint, user and labels,
/// plus relsign's labels (version, created, revision, source, services).
fn image_config(
    inp: &ImageInputs,
    toolchain: &crate::recipe::Toolchain,
    created: String,
    diff_ids: Vec<String>,
    history: Vec<History>,
) -> ImageConfig {
    let spec = inp.spec;
    let mut env = vec![
        format!(
            "PATH={}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            spec.venv
        ),
        format!("VIRTUAL_ENV={}", spec.venv),
    ];
    for (k, v) in &spec.env {
        env.retain(|e| !e.starts_with(&format!("{k}=")));
        env.push(format!("{k}={v}"));
    }
    let mut labels = spec.labels.clone();
    labels.insert(
        "org.opencontainers.image.version".into(),
        inp.recipe.file.release.version.clone(),
    );
    labels.insert("org.opencontainers.image.created".into(), created.clone());
    labels.insert(
        "org.opencontainers.image.revision".into(),
        inp.revision.clone(),
    );
    if let Some(s) = &spec.source_url {
        labels.insert("org.opencontainers.image.source".into(), s.clone());
    }
    if !spec.services.is_empty() {
        labels.insert(
            crate::services::LABEL.into(),
            crate::services::to_label(&spec.services),
        );
    }
    let (architecture, variant) = oci_arch(&toolchain.architecture);
    ImageConfig {
        architecture,
        variant,
        os: "linux".into(),
        created,
        config: RunConfig {
            env,
            entrypoint: spec.entrypoint.clone(),
            cmd: spec.cmd.clone(),
            user: spec
                .user
                .as_ref()
                .map(|u| u.name.clone())
                .unwrap_or_default(),
            working_dir: spec.workdir.clone(),
            labels,
        },
        rootfs: RootFs {
            type_: "layers".into(),
            diff_ids,
        },
        history,
    }
}

/// Write the config, the manifest and the index (tagged with the release version): the
/// image's artifact entry.
fn write_manifest(
    inp: &ImageInputs,
    layout: &Layout,
    config: &ImageConfig,
    layers: Vec<crate::oci::Descriptor>,
) -> Result<Artifact, BuildError> {
    let config_desc = layout.write_json_blob(MEDIA_CONFIG, config)?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: MEDIA_MANIFEST.into(),
        config: config_desc,
        layers,
        annotations: None,
    };
    let mut mdesc = layout.write_json_blob(MEDIA_MANIFEST, &manifest)?;
    let tag = inp.recipe.file.release.version.clone();
    mdesc.annotations = Some(BTreeMap::from([(REF_NAME.to_string(), tag)]));
    layout.write_index(vec![mdesc.clone()])?;
    let digest = Sha256Hex::parse(mdesc.hex()).map_err(BuildError::Message)?;
    Ok(Artifact {
        file: "image".into(),
        kind: crate::model::ArtifactKind::OciImage,
        package: inp.spec.name.clone(),
        size: mdesc.size,
        sha256: digest,
        media_type: MEDIA_MANIFEST.into(),
    })
}

/// Unpack an image layout's layers (for `tag`, or its only manifest) into `dest` through the
/// safe reader; returns the image config.
pub fn unpack_layout(
    layout_dir: &Path,
    tag: Option<&str>,
    dest: &Path,
) -> Result<ImageConfig, BuildError> {
    unpack_layout_with(layout_dir, tag, dest, false)
}

/// [`unpack_layout`], with `owners`: every entry gets the numeric owner its layer records
/// (needs root; for `relsign run --services`, whose services run under their own users).
pub fn unpack_layout_with(
    layout_dir: &Path,
    tag: Option<&str>,
    dest: &Path,
    owners: bool,
) -> Result<ImageConfig, BuildError> {
    let layout = Layout::open(layout_dir)?;
    let mdesc = layout.find_manifest(tag)?;
    let manifest = layout.read_manifest(&mdesc)?;
    let config: ImageConfig = serde_json::from_slice(&layout.read_blob(&manifest.config)?)
        .map_err(|e| {
            BuildError::Message(format!(
                "{}: config {}: {e}",
                layout_dir.display(),
                manifest.config.digest
            ))
        })?;
    fsutil::create_dir_all(dest)?;
    for l in &manifest.layers {
        let p = layout.blob_path(l.hex());
        let (got, _) = crate::digest::hash_file(&p).map_err(fsutil::err("read", &p))?;
        if got.as_str() != l.hex() {
            return Err(OciError::BlobMismatch {
                layout: layout_dir.to_path_buf(),
                digest: l.digest.clone(),
                expected: l.hex().into(),
                got: got.to_string(),
            }
            .into());
        }
        let f = std::io::BufReader::new(std::fs::File::open(&p).map_err(fsutil::err("open", &p))?);
        let reader: Box<dyn std::io::Read> = match l.media_type.as_str() {
            crate::oci::MEDIA_LAYER_GZIP | "application/vnd.docker.image.rootfs.diff.tar.gzip" => {
                Box::new(flate2::read::MultiGzDecoder::new(f))
            }
            crate::oci::MEDIA_LAYER_ZSTD => {
                Box::new(zstd::stream::read::Decoder::new(f).map_err(fsutil::err("read", &p))?)
            }
            "application/vnd.oci.image.layer.v1.tar" => Box::new(f),
            other => {
                return Err(BuildError::Message(format!(
                    "{}: layer {}: unsupported media type {other}",
                    layout_dir.display(),
                    l.digest
                )))
            }
        };
        // A server image's layer holds gigabytes (docassemble's: 7 GB of files in a 3.2 GB
        // layer): the cap is the layer's own size times the ratio, up to 64 GiB.
        let opts = crate::archive::safe::ExtractOptions {
            archive_name: format!("layer {}", l.digest),
            max_bytes: 64 << 30,
            input_size: Some(l.size),
            owners,
            ..Default::default()
        };
        crate::archive::safe::extract_tar(reader, dest, &opts).map_err(|e| BuildError::Other {
            context: format!("unpacking layer {}", l.digest),
            source: Box::new(e),
        })?;
    }
    Ok(config)
}

/// An octal mode of the recipe (`"0755"`), or an error naming the field.
fn parse_mode(m: Option<&str>, field: &str) -> Result<Option<u32>, BuildError> {
    let Some(m) = m else { return Ok(None) };
    match u32::from_str_radix(m, 8) {
        Ok(v) if v <= 0o7777 => Ok(Some(v)),
        _ => Err(BuildError::Message(format!(
            "{field}.mode: {m:?} is not an octal mode such as \"0755\""
        ))),
    }
}

/// An absolute path of the image as a relative path below its root (no `..`, `.` or empty
/// component), or an error naming the field.
fn image_rel_path(p: &str, field: &str) -> Result<PathBuf, BuildError> {
    fsutil::plain_image_path(p).ok_or_else(|| {
        BuildError::Message(format!(
            "{field}: {p:?} is not a plain absolute path in the image (no `.`, `..` or empty component)"
        ))
    })
}

/// The image's users and groups (its /etc/passwd and /etc/group), to resolve recipe owners.
struct ImageIds {
    users: BTreeMap<String, (u32, u32)>,
    groups: BTreeMap<String, u32>,
}

impl ImageIds {
    fn read(root: &Path) -> Result<ImageIds, BuildError> {
        let table = |name: &str| -> Result<Vec<Vec<String>>, BuildError> {
            let p = root.join(name);
            if p.symlink_metadata().is_err() {
                return Ok(Vec::new());
            }
            Ok(fsutil::read_to_string(&p)?
                .lines()
                .map(|l| l.split(':').map(str::to_string).collect())
                .collect())
        };
        let mut users = BTreeMap::new();
        for f in table("etc/passwd")? {
            if let (Some(n), Some(u), Some(g)) = (f.first(), f.get(2), f.get(3)) {
                if let (Ok(u), Ok(g)) = (u.parse(), g.parse()) {
                    users.insert(n.clone(), (u, g));
                }
            }
        }
        let mut groups = BTreeMap::new();
        for f in table("etc/group")? {
            if let (Some(n), Some(g)) = (f.first(), f.get(2)) {
                if let Ok(g) = g.parse() {
                    groups.insert(n.clone(), g);
                }
            }
        }
        Ok(ImageIds { users, groups })
    }

    /// `user` (its primary group) or `user:group`.
    fn resolve(&self, owner: &str, field: &str) -> Result<(u32, u32), BuildError> {
        let (user, group) = match owner.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (owner, None),
        };
        let (uid, primary) = *self.users.get(user).ok_or_else(|| {
            BuildError::Message(format!(
                "{field}.owner: no user {user:?} in the image's /etc/passwd"
            ))
        })?;
        let gid = match group {
            None => primary,
            Some(g) => *self.groups.get(g).ok_or_else(|| {
                BuildError::Message(format!(
                    "{field}.owner: no group {g:?} in the image's /etc/group"
                ))
            })?,
        };
        Ok((uid, gid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipe_modes_paths_and_owners_are_checked() {
        assert_eq!(parse_mode(Some("0750"), "f").unwrap(), Some(0o750));
        assert_eq!(parse_mode(None, "f").unwrap(), None);
        for bad in ["rwx", "0999", "77777"] {
            let e = parse_mode(Some(bad), "image.dirs[2]")
                .unwrap_err()
                .to_string();
            assert!(e.contains("image.dirs[2].mode"), "{e}");
        }
        assert_eq!(
            image_rel_path("/var/www", "f").unwrap(),
            PathBuf::from("var/www")
        );
        for bad in ["var/www", "/", "/var/../etc", "/var/./www"] {
            assert!(image_rel_path(bad, "f").is_err(), "{bad}");
        }
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("etc")).unwrap();
        std::fs::write(
            t.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www:/var/www:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            t.path().join("etc/group"),
            "root:x:0:\nadm:x:4:\nwww-data:x:33:\n",
        )
        .unwrap();
        let ids = ImageIds::read(t.path()).unwrap();
        assert_eq!(ids.resolve("www-data", "f").unwrap(), (33, 33));
        assert_eq!(ids.resolve("www-data:adm", "f").unwrap(), (33, 4));
        let e = ids
            .resolve("postgres", "image.files[1]")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("image.files[1].owner") && e.contains("postgres"),
            "{e}"
        );
        assert!(ids.resolve("www-data:nogroup", "f").is_err());
    }
    #[test]
    fn arch_mapping() {
        assert_eq!(oci_arch("amd64"), ("amd64".into(), None));
        assert_eq!(oci_arch("arm64"), ("arm64".into(), Some("v8".into())));
    }
}
