//! Reading the inventories: Python artifacts with their locked dependencies, and images.

use super::license::License;
use super::model::{
    deb_purl, oci_purl, pypi_purl, BoxError, Component, Inventory, Kind, Relation, SbomError,
};
use crate::fsutil;
use crate::lock::debian::DebianLock;
use crate::lock::python::PyLock;
use crate::model::{Artifact, ReleaseManifest};
use crate::python::requirements::normalize_name;
use crate::store::{Store, StoreError};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Read;
use std::path::{Component as PathPart, Path, PathBuf};

/// What the SBOM takes from Python core metadata.
struct PyMeta {
    name: String,
    version: String,
    license: License,
    /// Declares console or GUI scripts.
    application: bool,
}

/// Parse METADATA / PKG-INFO (and entry_points.txt, when there is one). `shown` names the
/// file in errors.
fn py_meta(text: &str, entry_points: Option<&str>, shown: &str) -> Result<PyMeta, SbomError> {
    let md = crate::python::metadata::Metadata::parse(text);
    let missing = |field| SbomError::MissingField {
        file: shown.to_string(),
        field,
    };
    if md.name.is_empty() {
        return Err(missing("Name"));
    }
    if md.version.is_empty() {
        return Err(missing("Version"));
    }
    let classifiers: Vec<String> = text
        .lines()
        .take_while(|l| !l.is_empty())
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("classifier")
                .then(|| v.trim().to_string())
        })
        .collect();
    let application = entry_points
        .map(|ep| {
            let mut in_scripts = false;
            for l in ep.lines().map(str::trim) {
                if l.starts_with('[') {
                    in_scripts = l == "[console_scripts]" || l == "[gui_scripts]";
                } else if in_scripts && l.contains('=') {
                    return true;
                }
            }
            false
        })
        .unwrap_or(false);
    Ok(PyMeta {
        license: License::from_python(
            md.license_expression.as_deref(),
            md.license.as_deref(),
            &classifiers,
        ),
        name: md.name,
        version: md.version,
        application,
    })
}

fn archive_err(shown: &str) -> impl Fn(String) -> SbomError + '_ {
    move |reason| SbomError::Archive {
        archive: shown.to_string(),
        reason,
    }
}

/// METADATA and entry_points.txt of a wheel's one top-level `.dist-info` directory.
fn wheel_meta(path: &Path, shown: &str) -> Result<PyMeta, SbomError> {
    let err = archive_err(shown);
    let f = std::fs::File::open(path).map_err(fsutil::err("open", path))?;
    let mut z = zip::ZipArchive::new(std::io::BufReader::new(f)).map_err(|e| err(e.to_string()))?;
    let mut dist_infos: Vec<String> = z
        .file_names()
        .filter_map(|n| n.ok())
        .filter_map(|n| {
            let (top, _) = n.split_once('/')?;
            top.ends_with(".dist-info").then(|| top.to_string())
        })
        .collect();
    dist_infos.sort();
    dist_infos.dedup();
    let dir = match dist_infos.as_slice() {
        [one] => one.clone(),
        [] => return Err(err("no top-level .dist-info directory".into())),
        many => {
            return Err(err(format!(
                "more than one .dist-info directory: {}",
                many.join(", ")
            )))
        }
    };
    let mut member = |name: &str| -> Result<Option<String>, SbomError> {
        let full = format!("{dir}/{name}");
        let mut e = match z.by_name(&full) {
            Ok(e) => e,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => return Err(err(format!("{full}: {e}"))),
        };
        let mut s = String::new();
        e.read_to_string(&mut s)
            .map_err(|e| err(format!("{full}: {e}")))?;
        Ok(Some(s))
    };
    let text = member("METADATA")?.ok_or_else(|| err(format!("{dir}/METADATA is missing")))?;
    let eps = member("entry_points.txt")?;
    py_meta(&text, eps.as_deref(), &format!("{shown}: {dir}/METADATA"))
}

/// The top-level PKG-INFO of an sdist (.tar.gz or .zip).
fn sdist_meta(path: &Path, shown: &str) -> Result<PyMeta, SbomError> {
    let err = archive_err(shown);
    let is_pkg_info = |n: &str| {
        matches!(
            n.trim_start_matches("./").split_once('/'),
            Some((_, "PKG-INFO"))
        )
    };
    let f = std::fs::File::open(path).map_err(fsutil::err("open", path))?;
    let mut text = None;
    if shown.ends_with(".zip") {
        let mut z =
            zip::ZipArchive::new(std::io::BufReader::new(f)).map_err(|e| err(e.to_string()))?;
        let name = z
            .file_names()
            .filter_map(|n| n.ok())
            .find(|n| is_pkg_info(n))
            .map(|n| n.into_owned());
        if let Some(name) = name {
            let mut s = String::new();
            z.by_name(&name)
                .map_err(|e| err(e.to_string()))?
                .read_to_string(&mut s)
                .map_err(|e| err(format!("{name}: {e}")))?;
            text = Some(s);
        }
    } else {
        let gz = flate2::read::MultiGzDecoder::new(std::io::BufReader::new(f));
        let mut t = tar::Archive::new(gz);
        for e in t.entries().map_err(|e| err(e.to_string()))? {
            let mut e = e.map_err(|e| err(e.to_string()))?;
            let name = e.path().map_err(|e| err(e.to_string()))?;
            if is_pkg_info(&name.to_string_lossy()) && e.header().entry_type().is_file() {
                let mut s = String::new();
                e.read_to_string(&mut s)
                    .map_err(|e| err(format!("PKG-INFO: {e}")))?;
                text = Some(s);
                break;
            }
        }
    }
    let text = text.ok_or_else(|| err("no top-level PKG-INFO".into()))?;
    py_meta(&text, None, &format!("{shown}: PKG-INFO"))
}

/// The release's locks, read by what they hold (a PEP 751 lock or a Debian lock).
struct Locks {
    python: Option<PyLock>,
    debian: Vec<DebianLock>,
}

fn read_locks(release: &Path, m: &ReleaseManifest) -> Result<Locks, SbomError> {
    let mut locks = Locks {
        python: None,
        debian: Vec::new(),
    };
    for l in &m.locks {
        let path = release.join(&l.path);
        let looks_python = path
            .file_name()
            .map(|n| n.to_string_lossy().starts_with("pylock"))
            .unwrap_or(false);
        let py = || PyLock::read(&path).map_err(|e| Box::new(e) as BoxError);
        let deb = || DebianLock::read(&path).map_err(|e| Box::new(e) as BoxError);
        let lock_err = |source| SbomError::Lock {
            file: path.clone(),
            source,
        };
        if looks_python {
            match py() {
                Ok(p) => locks.python = Some(p),
                Err(first) => locks.debian.push(deb().map_err(|_| lock_err(first))?),
            }
        } else {
            match deb() {
                Ok(d) => locks.debian.push(d),
                Err(first) => locks.python = Some(py().map_err(|_| lock_err(first))?),
            }
        }
    }
    Ok(locks)
}

/// The locked runtime dependencies, with licenses from the locked wheels when the store has
/// them (none otherwise: a license is never invented).
fn runtime_components(lock: &PyLock, store: &Store) -> Result<Vec<Component>, SbomError> {
    let mut out = Vec::new();
    for p in lock.runtime() {
        let Some(f) = p.wheels.first().or(p.sdist.as_ref()) else {
            continue;
        };
        let mut kind = Kind::Library;
        let mut license = License::None;
        if f.is_wheel() {
            match store.get(&f.sha256, &f.name) {
                Ok(path) => {
                    let meta = wheel_meta(&path, &f.name)?;
                    license = meta.license;
                    if meta.application {
                        kind = Kind::Application;
                    }
                }
                Err(StoreError::Missing { .. }) => {}
                Err(e) => {
                    return Err(SbomError::Archive {
                        archive: f.name.clone(),
                        reason: e.to_string(),
                    })
                }
            }
        }
        out.push(Component {
            kind,
            name: p.name.clone(),
            version: p.version.clone(),
            purl: pypi_purl(&p.name, &p.version),
            sha256: Some(f.sha256.to_string()),
            license,
            ecosystem: "pypi".into(),
            source: None,
            source_version: None,
        });
    }
    Ok(out)
}

/// A wheel or an sdist and the release's locked runtime dependencies.
pub(super) fn python(
    release: &Path,
    m: &ReleaseManifest,
    a: &Artifact,
    store: &Store,
) -> Result<Inventory, SbomError> {
    let path = release.join(&a.file);
    let (meta, kind) = if a.kind == crate::model::ArtifactKind::Wheel {
        let meta = wheel_meta(&path, &a.file)?;
        let k = if meta.application {
            Kind::Application
        } else {
            Kind::Library
        };
        (meta, k)
    } else {
        (sdist_meta(&path, &a.file)?, Kind::Source)
    };
    let locks = read_locks(release, m)?;
    let components = match &locks.python {
        Some(lock) => runtime_components(lock, store)?,
        None => Vec::new(),
    };
    Ok(Inventory {
        root: Component {
            kind,
            purl: pypi_purl(&meta.name, &meta.version),
            name: meta.name,
            version: meta.version,
            sha256: Some(a.sha256.to_string()),
            license: meta.license,
            ecosystem: "pypi".into(),
            source: None,
            source_version: None,
        },
        components,
        relation: Relation::DependsOn,
    })
}

/// Resolve `rel` inside `root` the way a process chrooted there would: symlinks (absolute
/// ones from `root`) are followed, `..` stops at `root`. The result has no symlink in it, so
/// nothing outside `root` is ever read. `None` when a link loops or is too deep.
pub(super) fn resolve_in_root(root: &Path, rel: &Path) -> Option<PathBuf> {
    let mut todo: Vec<OsString> = rel
        .components()
        .rev()
        .filter_map(|c| match c {
            PathPart::Normal(s) => Some(s.to_os_string()),
            PathPart::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    let mut done: Vec<OsString> = Vec::new();
    let mut links = 0;
    while let Some(part) = todo.pop() {
        if part == ".." {
            done.pop();
            continue;
        }
        done.push(part);
        let here: PathBuf = root.join(done.iter().collect::<PathBuf>());
        // A missing component holds no links; `..` after it is still resolved here.
        let is_link = here
            .symlink_metadata()
            .map(|md| md.file_type().is_symlink())
            .unwrap_or(false);
        if is_link {
            links += 1;
            if links > 40 {
                return None;
            }
            let target = std::fs::read_link(&here).ok()?;
            done.pop();
            if target.is_absolute() {
                done.clear();
            }
            for c in target.components().rev() {
                match c {
                    PathPart::Normal(s) => todo.push(s.to_os_string()),
                    PathPart::ParentDir => todo.push("..".into()),
                    _ => {}
                }
            }
        }
    }
    Some(root.join(done.iter().collect::<PathBuf>()))
}

/// Read a file of the image (resolved inside the root); `None` when it is absent.
fn read_in_root(root: &Path, rel: &str) -> Result<Option<String>, SbomError> {
    let Some(p) = resolve_in_root(root, Path::new(rel)) else {
        return Err(SbomError::Invalid {
            file: PathBuf::from("/").join(rel),
            reason: "too many levels of symbolic links".into(),
        });
    };
    if !p.is_file() {
        return Ok(None);
    }
    let bytes = fsutil::read(&p)?;
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// The Debian release for purls: `debian-<VERSION_ID>` from os-release, else the codename.
fn distro(root: &Path) -> Result<String, SbomError> {
    for p in ["etc/os-release", "usr/lib/os-release"] {
        if let Some(text) = read_in_root(root, p)? {
            let get = |k: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(&format!("{k}=")))
                    .map(|v| v.trim().trim_matches('"').to_string())
                    .filter(|v| !v.is_empty())
            };
            if let Some(v) = get("VERSION_ID") {
                return Ok(format!("debian-{v}"));
            }
            if let Some(v) = get("VERSION_CODENAME") {
                return Ok(v);
            }
        }
    }
    Ok("debian".into())
}

/// Does a package ship programs? (A file under bin/ or sbin/ in its md5sums list.)
fn ships_programs(md5sums: Option<&str>) -> bool {
    md5sums
        .map(|t| {
            t.lines().any(|l| {
                let p = l.split_whitespace().nth(1).unwrap_or("");
                let p = p.trim_start_matches('/').trim_start_matches("usr/");
                (p.starts_with("bin/") || p.starts_with("sbin/")) && p.len() > 5
            })
        })
        .unwrap_or(false)
}

/// Sorted names of a directory's entries.
fn list_dir(dir: &Path) -> Result<Vec<String>, SbomError> {
    let mut names = Vec::new();
    for e in std::fs::read_dir(dir).map_err(fsutil::err("read directory", dir))? {
        let e = e.map_err(fsutil::err("read directory", dir))?;
        names.push(e.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

/// The installed packages' control paragraphs of an unpacked image, each with the file it was
/// read from (for errors) and its md5sums file: `/var/lib/dpkg/status.d/<pkg>` (images
/// assembled without maintainer scripts, as distroless does) or, when the packages were
/// installed by dpkg itself, `/var/lib/dpkg/status` (entries whose state is `installed`) with
/// `/var/lib/dpkg/info/<pkg>[:<arch>].md5sums`.
fn dpkg_paragraphs(
    root: &Path,
) -> Result<Vec<(String, crate::debian::control::Paragraph, Option<String>)>, SbomError> {
    let parse = |text: &str, shown: &str| {
        crate::debian::control::parse_paragraphs(text).map_err(|reason| SbomError::Invalid {
            file: PathBuf::from(shown),
            reason,
        })
    };
    let mut out = Vec::new();
    if let Some(status_d) = resolve_in_root(root, Path::new("var/lib/dpkg/status.d")) {
        if status_d.is_dir() {
            for n in list_dir(&status_d)? {
                if n.ends_with(".md5sums") || n.starts_with('.') {
                    continue;
                }
                let rel = format!("var/lib/dpkg/status.d/{n}");
                let shown = format!("/{rel}");
                let Some(text) = read_in_root(root, &rel)? else {
                    continue;
                };
                let para =
                    parse(&text, &shown)?
                        .into_iter()
                        .next()
                        .ok_or_else(|| SbomError::Invalid {
                            file: PathBuf::from(&shown),
                            reason: "no control paragraph".into(),
                        })?;
                let md5sums = read_in_root(root, &format!("{rel}.md5sums"))?;
                out.push((shown, para, md5sums));
            }
            return Ok(out);
        }
    }
    let shown = "/var/lib/dpkg/status";
    let Some(text) = read_in_root(root, "var/lib/dpkg/status")? else {
        return Ok(out);
    };
    for para in parse(&text, shown)? {
        let installed = para
            .get("Status")
            .is_some_and(|s| s.split_whitespace().last() == Some("installed"));
        if !installed {
            continue;
        }
        let name = para.get("Package").unwrap_or("").trim().to_string();
        let arch = para.get("Architecture").unwrap_or("").trim().to_string();
        let mut md5sums = None;
        for f in [format!("{name}:{arch}.md5sums"), format!("{name}.md5sums")] {
            if name.is_empty() || f.contains('/') {
                break;
            }
            if let Some(t) = read_in_root(root, &format!("var/lib/dpkg/info/{f}"))? {
                md5sums = Some(t);
                break;
            }
        }
        out.push((format!("{shown} ({name})"), para, md5sums));
    }
    Ok(out)
}

/// The Debian packages of an unpacked image (see [`dpkg_paragraphs`]).
fn debian_packages(
    root: &Path,
    digests: &BTreeMap<(String, String, String), String>,
) -> Result<Vec<Component>, SbomError> {
    let distro = distro(root)?;
    let mut out = Vec::new();
    for (shown, para, md5sums) in dpkg_paragraphs(root)? {
        let field = |f: &'static str| {
            para.get(f)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .ok_or(SbomError::MissingField {
                    file: shown.clone(),
                    field: f,
                })
        };
        let name = field("Package")?;
        let version = field("Version")?;
        let arch = field("Architecture")?;
        // `Source: name` or `Source: name (version)`, absent when it is the binary's name and
        // version.
        let (source, source_version) =
            crate::debian::source_of(para.get("Source"), &name, &version);
        let copyright = read_in_root(root, &format!("usr/share/doc/{name}/copyright"))?;
        let license = copyright
            .map(|t| License::from_debian_copyright(&t))
            .unwrap_or(License::None);
        out.push(Component {
            kind: if ships_programs(md5sums.as_deref()) {
                Kind::Application
            } else {
                Kind::Library
            },
            purl: deb_purl(&name, &version, &arch, &distro),
            sha256: digests
                .get(&(name.clone(), version.clone(), arch.clone()))
                .cloned(),
            name,
            version,
            license,
            ecosystem: "deb".into(),
            source,
            source_version,
        });
    }
    Ok(out)
}

/// Every `site-packages` directory under `dir` (not through symlinks), sorted.
fn find_site_packages(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    let is_real_dir = dir
        .symlink_metadata()
        .map(|m| m.file_type().is_dir())
        .unwrap_or(false);
    if depth == 0 || !is_real_dir {
        return;
    }
    if dir
        .file_name()
        .map(|n| n == "site-packages")
        .unwrap_or(false)
    {
        out.push(dir.to_path_buf());
        return;
    }
    if let Ok(rd) = std::fs::read_dir(dir) {
        let mut children: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        children.sort();
        for c in children {
            find_site_packages(&c, out, depth - 1);
        }
    }
}

/// The Python packages installed in the image's venvs and local site-packages (the
/// Debian-owned `dist-packages` are counted as Debian packages).
fn python_packages(
    root: &Path,
    venv: Option<&str>,
    digests: &BTreeMap<(String, String), String>,
) -> Result<Vec<Component>, SbomError> {
    let mut sites = Vec::new();
    let mut bases = vec!["opt", "usr/local/lib", "srv", "app", "home"];
    // The config's VIRTUAL_ENV, unless a base above holds it already (relative, checked by
    // find_site_packages not to pass through symlinks).
    if let Some(v) = venv.filter(|v| {
        !v.is_empty()
            && !v.split('/').any(|c| c == ".." || c.is_empty())
            && !bases.iter().any(|b| Path::new(v).starts_with(b))
    }) {
        bases.push(v);
    }
    for base in bases {
        // Resolved inside the root: a symlink on the way is the image's, not the host's.
        if let Some(dir) = resolve_in_root(root, Path::new(base)) {
            find_site_packages(&dir, &mut sites, 7);
        }
    }
    sites.sort();
    sites.dedup();
    let mut out = Vec::new();
    for site in sites {
        let site_rel = site.strip_prefix(root).unwrap_or(&site).to_path_buf();
        for d in list_dir(&site)? {
            if !d.ends_with(".dist-info") {
                continue;
            }
            let rel = site_rel.join(&d);
            let shown = format!("/{}/METADATA", rel.display());
            let text = read_in_root(root, &format!("{}/METADATA", rel.display()))?.ok_or(
                SbomError::Invalid {
                    file: PathBuf::from(&shown),
                    reason: "missing".into(),
                },
            )?;
            let eps = read_in_root(root, &format!("{}/entry_points.txt", rel.display()))?;
            let meta = py_meta(&text, eps.as_deref(), &shown)?;
            let key = (normalize_name(&meta.name), meta.version.clone());
            out.push(Component {
                kind: if meta.application {
                    Kind::Application
                } else {
                    Kind::Library
                },
                purl: pypi_purl(&meta.name, &meta.version),
                sha256: digests.get(&key).cloned(),
                name: meta.name,
                version: meta.version,
                license: meta.license,
                ecosystem: "pypi".into(),
                source: None,
                source_version: None,
            });
        }
    }
    Ok(out)
}

/// An image: every Debian package and every Python package in it.
pub(super) fn image(
    release: &Path,
    m: &ReleaseManifest,
    a: &Artifact,
) -> Result<Inventory, SbomError> {
    let tmp = std::env::temp_dir();
    let work = tempfile::tempdir().map_err(fsutil::err("create a temp dir in", &tmp))?;
    let root = work.path().join("rootfs");
    let layout = release.join(&a.file);
    let config = crate::build::image::unpack_layout(&layout, None, &root).map_err(|source| {
        SbomError::Image {
            layout: layout.clone(),
            source,
        }
    })?;
    // The image's own venv, wherever it is (docassemble's is under /usr/share).
    let venv = config
        .config
        .env
        .iter()
        .find_map(|e| e.strip_prefix("VIRTUAL_ENV="))
        .map(|v| v.trim_start_matches('/').to_string());
    let locks = read_locks(release, m)?;
    // The .debs' digests, from the release's Debian locks.
    let mut debs = BTreeMap::new();
    for l in &locks.debian {
        for p in &l.packages {
            debs.insert(
                (p.name.clone(), p.version.clone(), p.architecture.clone()),
                p.sha256.to_string(),
            );
        }
    }
    // The wheels' digests: the locked runtime wheels and the release's own wheels.
    let mut wheels: BTreeMap<(String, String), String> = BTreeMap::new();
    if let Some(lock) = &locks.python {
        for p in lock.runtime() {
            if let Some(w) = p.wheels.first() {
                wheels.insert(
                    (normalize_name(&p.name), p.version.clone()),
                    w.sha256.to_string(),
                );
            }
        }
    }
    for w in m
        .artifacts
        .iter()
        .filter(|w| w.kind == crate::model::ArtifactKind::Wheel)
    {
        if let Ok(n) = crate::python::tags::WheelName::parse(&w.file) {
            wheels.insert(
                (n.normalized_name(), n.version.clone()),
                w.sha256.to_string(),
            );
        }
    }
    let mut components = debian_packages(&root, &debs)?;
    components.extend(python_packages(&root, venv.as_deref(), &wheels)?);
    if components.is_empty() {
        return Err(SbomError::Invalid {
            file: layout,
            reason: "no Debian or Python package found in the image (no dpkg status, no \
                     site-packages): an empty SBOM would say nothing"
                .into(),
        });
    }
    Ok(Inventory {
        root: Component {
            kind: Kind::Container,
            name: a.package.clone(),
            version: m.version.clone(),
            purl: oci_purl(&a.package, a.sha256.as_str()),
            sha256: Some(a.sha256.to_string()),
            license: License::None,
            ecosystem: "oci".into(),
            source: None,
            source_version: None,
        },
        components,
        relation: Relation::Contains,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_status_of_a_scripts_image_is_read() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        std::fs::create_dir_all(root.join("var/lib/dpkg/info")).unwrap();
        std::fs::write(
            root.join("var/lib/dpkg/status"),
            "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.41-12\n\n\
             Package: gone\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1\n\n\
             Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2\n",
        )
        .unwrap();
        std::fs::write(
            root.join("var/lib/dpkg/info/libc6:amd64.md5sums"),
            "d41d8cd98f00b204e9800998ecf8427e  usr/lib/x86_64-linux-gnu/libc.so.6\n",
        )
        .unwrap();
        std::fs::write(
            root.join("var/lib/dpkg/info/bash.md5sums"),
            "d41d8cd98f00b204e9800998ecf8427e  usr/bin/bash\n",
        )
        .unwrap();
        let got = dpkg_paragraphs(root).unwrap();
        let names: Vec<&str> = got
            .iter()
            .map(|(_, p, _)| p.get("Package").unwrap())
            .collect();
        assert_eq!(names, ["libc6", "bash"], "installed packages only");
        assert!(got[0].2.as_deref().unwrap().contains("libc.so.6"));
        assert!(got[1].2.as_deref().unwrap().contains("usr/bin/bash"));
        // status.d, when there, is what the image's assembly wrote: it wins.
        std::fs::create_dir_all(root.join("var/lib/dpkg/status.d")).unwrap();
        std::fs::write(
            root.join("var/lib/dpkg/status.d/zlib1g"),
            "Package: zlib1g\nArchitecture: amd64\nVersion: 1.3\n",
        )
        .unwrap();
        let got = dpkg_paragraphs(root).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1.get("Package"), Some("zlib1g"));
    }

    #[test]
    fn symlinks_stay_inside_the_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("usr/share/doc/real")).unwrap();
        std::fs::write(root.join("usr/share/doc/real/copyright"), "inside").unwrap();
        std::fs::write(t.path().join("secret"), "outside").unwrap();
        let doc = root.join("usr/share/doc");
        std::os::unix::fs::symlink("real", doc.join("rel")).unwrap();
        std::os::unix::fs::symlink("/usr/share/doc/real", doc.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../secret", doc.join("up")).unwrap();
        std::os::unix::fs::symlink(t.path().join("secret"), doc.join("host")).unwrap();
        std::os::unix::fs::symlink("loop", doc.join("loop")).unwrap();
        let read = |p: &str| read_in_root(&root, p).unwrap();
        assert_eq!(
            read("usr/share/doc/rel/copyright").as_deref(),
            Some("inside")
        );
        assert_eq!(
            read("usr/share/doc/abs/copyright").as_deref(),
            Some("inside")
        );
        assert_eq!(read("usr/share/doc/up"), None, "`..` stops at the root");
        assert_eq!(
            read("usr/share/doc/host"),
            None,
            "absolute means the image's root"
        );
        assert!(read_in_root(&root, "usr/share/doc/loop").is_err());
        assert_eq!(read("nope/../../../secret"), None);
    }

    #[test]
    fn python_metadata() {
        let text = "Metadata-Version: 2.3\nName: click\nVersion: 8.1.8\nClassifier: License :: OSI Approved :: BSD License\n\nLicense: not a header\n";
        let m = py_meta(text, Some("[console_scripts]\nx = y:z\n"), "click").unwrap();
        assert_eq!((m.name.as_str(), m.version.as_str()), ("click", "8.1.8"));
        assert!(m.application);
        assert_eq!(
            m.license,
            License::Declared {
                items: vec!["BSD License".into()],
                all_apply: true
            }
        );
        let e = py_meta("Name: x\n", None, "x.whl: x.dist-info/METADATA")
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            "x.whl: x.dist-info/METADATA: missing field Version"
        );
    }

    #[test]
    fn programs_from_md5sums() {
        assert!(ships_programs(Some("abc  usr/bin/gawk\n")));
        assert!(!ships_programs(Some(
            "abc  usr/lib/x86_64-linux-gnu/libz.so.1\n"
        )));
        assert!(!ships_programs(None));
    }
}
