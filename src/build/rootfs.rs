//! Rootfs assembly from locked .debs: merged-/usr, extraction in lock order, dpkg `status.d`.
//!
//! No maintainer scripts are run. When two packages ship the same path with different content,
//! the later package in lock order wins, and the overlap is recorded in
//! [`RootfsReport::conflicts`].

use crate::archive::safe::EntryKind;
use crate::debian::{extract_data, read_control, ControlInfo, DebError};
use crate::fsutil::{self, FsError};
use crate::lock::debian::DebianLock;
use crate::report::Reporter;
use crate::store::Store;
use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Top-level directories merged into `/usr`.
const MERGED: &[&str] = &["bin", "sbin", "lib", "lib32", "lib64", "libx32"];
/// Those that always get a root symlink (the others only when a package ships into them).
const MERGED_ALWAYS: &[&str] = &["bin", "sbin", "lib", "lib64"];
/// Mount points and standard directories a sandbox expects, with their modes.
const BASE_DIRS: &[(&str, u32)] = &[
    ("dev", 0o755),
    ("etc", 0o755),
    ("home", 0o755),
    ("proc", 0o755),
    ("root", 0o700),
    ("run", 0o755),
    ("sys", 0o755),
    ("tmp", 0o1777),
    ("usr", 0o755),
    ("var", 0o755),
    ("var/tmp", 0o1777),
];

/// Two packages shipping one path with different content.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Conflict {
    pub path: String,
    /// The package whose file was replaced.
    pub first: String,
    /// The package whose file is in the rootfs (later in lock order).
    pub second: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InstalledDeb {
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// Entries extracted (files, links, directories).
    pub entries: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RootfsReport {
    pub packages: Vec<InstalledDeb>,
    /// Regular files written (counting replaced ones once per package).
    pub files: usize,
    /// Bytes of regular files written.
    pub bytes: u64,
    pub conflicts: Vec<Conflict>,
}

/// The merged-/usr path rewrite: `bin/x` → `usr/bin/x` (likewise sbin, lib, lib32, lib64,
/// libx32); the top-level directories themselves are skipped (they are symlinks).
pub fn merged_usr_rewrite(path: &str) -> Option<String> {
    let top = path.split('/').next().unwrap_or("");
    if MERGED.contains(&top) {
        if path.len() == top.len() {
            return None;
        }
        return Some(format!("usr/{path}"));
    }
    Some(path.to_string())
}

/// Create `usr/{bin,sbin,lib,lib64}` and the root symlinks `bin -> usr/bin` etc., plus the
/// standard mount points (`dev`, `proc`, `sys`, `tmp`, ...). Existing entries are kept.
pub fn setup_merged_usr(root: &Path) -> Result<(), FsError> {
    fsutil::create_dir_all(root)?;
    for (d, mode) in BASE_DIRS {
        make_dir(root, d, *mode)?;
    }
    for d in MERGED_ALWAYS {
        make_dir(root, &format!("usr/{d}"), 0o755)?;
        make_usr_link(root, d)?;
    }
    Ok(())
}

fn make_dir(root: &Path, rel: &str, mode: u32) -> Result<(), FsError> {
    let p = root.join(rel);
    match std::fs::symlink_metadata(&p) {
        Ok(_) => Ok(()),
        Err(_) => {
            std::fs::create_dir(&p).map_err(fsutil::err("create directory", &p))?;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode))
                .map_err(fsutil::err("chmod", &p))
        }
    }
}

fn make_usr_link(root: &Path, d: &str) -> Result<(), FsError> {
    let p = root.join(d);
    if std::fs::symlink_metadata(&p).is_err() {
        std::os::unix::fs::symlink(format!("usr/{d}"), &p)
            .map_err(fsutil::err("create symlink", &p))?;
    }
    Ok(())
}

/// Refuse to write under `rel` when any existing component of it is not a plain directory
/// (a package could have planted a symlink there).
fn check_plain_dirs(root: &Path, rel: &str) -> Result<(), DebError> {
    let mut p = root.to_path_buf();
    for c in rel.split('/') {
        p.push(c);
        if let Ok(m) = std::fs::symlink_metadata(&p) {
            if !m.is_dir() {
                return Err(DebError::Format {
                    deb: root.display().to_string(),
                    reason: format!(
                        "{} is not a directory (a package shipped a symlink or file there)",
                        p.display()
                    ),
                });
            }
        }
    }
    Ok(())
}

/// Write `/var/lib/dpkg/status.d/<pkg>` (the control fields with `Status: install ok installed`
/// after `Package`) and `<pkg>.md5sums` when the package has md5sums. Scanners (Trivy, Syft,
/// Clair) read these.
pub fn write_dpkg_status(root: &Path, info: &ControlInfo) -> Result<(), DebError> {
    let name = info.package().unwrap_or("");
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b))
        || name.starts_with('.')
    {
        return Err(DebError::Format {
            deb: root.display().to_string(),
            reason: format!("invalid package name {name:?}"),
        });
    }
    let rel = "var/lib/dpkg/status.d";
    check_plain_dirs(root, rel)?;
    let dir = root.join(rel);
    let mut fields = Vec::with_capacity(info.fields.fields.len() + 1);
    for (k, v) in &info.fields.fields {
        if k.eq_ignore_ascii_case("Status") {
            continue;
        }
        fields.push((k.clone(), v.clone()));
        if k.eq_ignore_ascii_case("Package") {
            fields.push(("Status".to_string(), "install ok installed".to_string()));
        }
    }
    let text = crate::debian::Paragraph { fields }.to_text();
    fsutil::write_atomic(&dir.join(name), text.as_bytes())?;
    if let Some(m) = &info.md5sums {
        fsutil::write_atomic(&dir.join(format!("{name}.md5sums")), m.as_bytes())?;
    }
    for f in [dir.join(name), dir.join(format!("{name}.md5sums"))] {
        if f.exists() {
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644))
                .map_err(fsutil::err("chmod", &f))?;
        }
    }
    Ok(())
}

/// Assemble a rootfs at `dest` from every package of `lock`, in lock order, taking each .deb
/// from the store (re-verified; a missing one is [`crate::store::StoreError::Missing`] inside
/// [`DebError::Store`]).
/// How many packages ahead of the one being written are prepared, and the most a prepared
/// package's decompressed data may hold (a .deb of over a quarter of it is not prepared).
const PREFETCH_AHEAD: usize = 4;
const PREFETCH_MAX_BYTES: u64 = 24 << 20;

/// A package prepared for writing: its verified path in the store, its control, and its data
/// member decompressed when small enough.
struct Prefetched {
    deb: std::path::PathBuf,
    info: ControlInfo,
    data: Option<crate::debian::DataMember>,
}

pub fn assemble_rootfs(
    lock: &DebianLock,
    store: &Store,
    dest: &Path,
    reporter: &dyn Reporter,
) -> Result<RootfsReport, DebError> {
    setup_merged_usr(dest)?;
    let mut report = RootfsReport::default();
    // path -> (package, content identity)
    let mut owners: HashMap<String, (String, String)> = HashMap::new();
    let rewrite = |p: &str| merged_usr_rewrite(p);
    let progress = reporter.progress("rootfs", Some(lock.packages.len() as u64));
    // The next packages are verified, read and decompressed on other threads while this one
    // writes the current package's files, in lock order; memory stays bounded (PREFETCH_AHEAD
    // packages of at most PREFETCH_MAX_BYTES each; bigger ones stream here).
    let prefetch = |pkg: &crate::lock::debian::LockedDeb| -> Result<Prefetched, DebError> {
        let what = pkg.file_name();
        let deb = store
            .get(&pkg.sha256, what)
            .map_err(|source| DebError::Store {
                package: format!("{} ({})", pkg.name, pkg.filename),
                source,
            })?;
        let info = read_control(&deb)?;
        let data = match pkg.size <= PREFETCH_MAX_BYTES / 4 {
            true => crate::debian::data_in_memory(&deb, PREFETCH_MAX_BYTES)?,
            false => None,
        };
        Ok(Prefetched { deb, info, data })
    };
    let threads = crate::par::cores().min(PREFETCH_AHEAD);
    crate::par::ordered(
        threads,
        &lock.packages,
        PREFETCH_AHEAD,
        prefetch,
        |i, fetched| {
            let pkg = &lock.packages[i];
            let Prefetched { deb, info, data } = fetched?;
            let what = pkg.file_name();
            if info.package() != Some(pkg.name.as_str())
                || info.version() != Some(pkg.version.as_str())
            {
                return Err(DebError::Format {
                    deb: what.to_string(),
                    reason: format!(
                        "control says {} {}, the lock says {} {}",
                        info.package().unwrap_or("?"),
                        info.version().unwrap_or("?"),
                        pkg.name,
                        pkg.version
                    ),
                });
            }
            let entries = match &data {
                Some(d) => d.extract(&deb, dest, Some(&rewrite))?,
                None => extract_data(&deb, dest, Some(&rewrite))?,
            };
            for e in &entries {
                let id = match e.kind {
                    EntryKind::Dir => continue,
                    EntryKind::File | EntryKind::HardLink => {
                        report.files += usize::from(e.kind == EntryKind::File);
                        report.bytes += if e.kind == EntryKind::File { e.size } else { 0 };
                        format!(
                            "sha256:{}",
                            e.sha256.as_ref().map(|d| d.as_str()).unwrap_or("")
                        )
                    }
                    EntryKind::Symlink => {
                        format!("link:{}", e.link_target.as_deref().unwrap_or(""))
                    }
                };
                if let Some((prev, prev_id)) =
                    owners.insert(e.path.clone(), (pkg.name.clone(), id.clone()))
                {
                    if prev != pkg.name && prev_id != id {
                        reporter.warn(&format!(
                            "/{} is shipped by {prev} and {}; {} wins (later in lock order)",
                            e.path, pkg.name, pkg.name
                        ));
                        report.conflicts.push(Conflict {
                            path: e.path.clone(),
                            first: prev,
                            second: pkg.name.clone(),
                        });
                    }
                }
            }
            // Root symlinks for lib32/libx32 when a package shipped into them.
            for d in ["lib32", "libx32"] {
                if dest.join("usr").join(d).is_dir() {
                    make_usr_link(dest, d)?;
                }
            }
            write_dpkg_status(dest, &info)?;
            report.packages.push(InstalledDeb {
                name: pkg.name.clone(),
                version: pkg.version.clone(),
                architecture: pkg.architecture.clone(),
                entries: entries.len(),
            });
            progress.inc(1);
            Ok(())
        },
    )?;
    progress.finish();
    reporter.info(&format!(
        "rootfs: {} packages, {} files, {} bytes, {} conflicts",
        report.packages.len(),
        report.files,
        report.bytes,
        report.conflicts.len()
    ));
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::debian::testdeb;
    use crate::digest::Sha256Hex;
    use crate::lock::debian::LockedDeb;

    #[test]
    fn rewrite_rules() {
        assert_eq!(merged_usr_rewrite("bin"), None);
        assert_eq!(merged_usr_rewrite("lib64"), None);
        assert_eq!(merged_usr_rewrite("bin/sh").as_deref(), Some("usr/bin/sh"));
        assert_eq!(
            merged_usr_rewrite("lib/x86_64-linux-gnu/libc.so.6").as_deref(),
            Some("usr/lib/x86_64-linux-gnu/libc.so.6")
        );
        assert_eq!(
            merged_usr_rewrite("libexec/x").as_deref(),
            Some("libexec/x")
        );
        assert_eq!(
            merged_usr_rewrite("usr/bin/x").as_deref(),
            Some("usr/bin/x")
        );
    }

    fn add(store: &Store, name: &str, bytes: &[u8]) -> LockedDeb {
        let (d, n) = store.insert(name, None, None, &mut &bytes[..]).unwrap();
        LockedDeb {
            name: name.into(),
            version: "1.0".into(),
            architecture: "amd64".into(),
            filename: format!("pool/main/{}/{name}/{name}_1.0_amd64.deb", &name[..1]),
            size: n,
            sha256: d,
            source: None,
            source_version: None,
        }
    }

    #[test]
    fn assembles_with_merged_usr_status_and_conflicts() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::at(d.path().join("store"));
        let a = testdeb::deb(
            "Package: aaa\nVersion: 1.0\nArchitecture: amd64\nDescription: a\n",
            Some("abc  bin/tool\n"),
            &[
                ("./", b""),
                ("./bin/", b""),
                ("./bin/tool", b"A"),
                ("./lib/", b""),
                ("./lib/liba.so", b"L"),
                ("./etc/", b""),
                ("./etc/shared", b"one"),
            ],
            &[("./bin/sh", "dash")],
        );
        let b = testdeb::deb(
            "Package: bbb\nVersion: 1.0\nArchitecture: amd64\nDescription: b\n",
            None,
            &[
                ("./", b""),
                ("./etc/", b""),
                ("./etc/shared", b"two"),
                ("./usr/", b""),
                ("./usr/bin/", b""),
                ("./usr/bin/dash", b"D"),
            ],
            &[],
        );
        let lock = DebianLock::for_tests(vec![add(&store, "aaa", &a), add(&store, "bbb", &b)]);
        let root = d.path().join("root");
        let rep = assemble_rootfs(&lock, &store, &root, &crate::report::Silent).unwrap();
        assert_eq!(
            std::fs::read_link(root.join("bin")).unwrap(),
            Path::new("usr/bin")
        );
        assert_eq!(std::fs::read(root.join("usr/bin/tool")).unwrap(), b"A");
        assert_eq!(std::fs::read(root.join("bin/tool")).unwrap(), b"A");
        assert_eq!(std::fs::read(root.join("usr/lib/liba.so")).unwrap(), b"L");
        assert_eq!(
            std::fs::read_link(root.join("usr/bin/sh")).unwrap(),
            Path::new("dash")
        );
        assert_eq!(std::fs::read(root.join("etc/shared")).unwrap(), b"two");
        assert_eq!(
            rep.conflicts,
            vec![Conflict {
                path: "etc/shared".into(),
                first: "aaa".into(),
                second: "bbb".into()
            }]
        );
        let st = std::fs::read_to_string(root.join("var/lib/dpkg/status.d/aaa")).unwrap();
        assert!(
            st.starts_with("Package: aaa\nStatus: install ok installed\nVersion: 1.0\n"),
            "{st}"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("var/lib/dpkg/status.d/aaa.md5sums")).unwrap(),
            "abc  bin/tool\n"
        );
        assert!(!root.join("var/lib/dpkg/status.d/bbb.md5sums").exists());
        assert!(root.join("tmp").is_dir() && root.join("proc").is_dir());
        assert_eq!(rep.packages.len(), 2);
    }

    #[test]
    fn missing_store_entry_says_fetch() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::at(d.path().join("store"));
        let lock = DebianLock::for_tests(vec![LockedDeb {
            name: "zzz".into(),
            version: "1".into(),
            architecture: "all".into(),
            filename: "pool/main/z/zzz/zzz_1_all.deb".into(),
            size: 1,
            sha256: Sha256Hex::of(b"nope"),
            source: None,
            source_version: None,
        }]);
        let e = assemble_rootfs(
            &lock,
            &store,
            &d.path().join("root"),
            &crate::report::Silent,
        )
        .unwrap_err();
        assert!(
            matches!(
                e.store_error(),
                Some(crate::store::StoreError::Missing { .. })
            ),
            "{e}"
        );
        let chain = format!("{e}: {}", std::error::Error::source(&e).unwrap());
        assert!(
            chain.contains("zzz") && chain.contains("relsign fetch"),
            "{chain}"
        );
    }
}
