//! Maintainer scripts and triggers, run reproducibly: `dpkg --unpack` then `dpkg --configure` of every locked .deb
//! inside the sandbox, over a rootfs that [`crate::build::rootfs::assemble_rootfs`] already extracted (so that
//! dpkg, the shell and the tools the scripts call exist before the first script runs: the
//! bootstrap of mmdebstrap's "extract" and "unshare" modes).
//!
//! The sandbox has no network, a fixed hostname, a `policy-rc.d` that refuses to start any
//! daemon, `SOURCE_DATE_EPOCH` (with `FORCE_SOURCE_DATE=1`, which TeX honours) and runs as the
//! host's real root with every uid, because scripts create users and hand them files. After
//! dpkg, what the scripts leave that differs from one run to the next is removed or normalized
//! ([`normalize`]): logs, backups of dpkg's and debconf's databases, ldconfig's aux-cache,
//! the machine id, plus what the recipe names (keys and cluster ids, made at first start).
//! The recipe's own `[[image.commands]]` (a Dockerfile's configuration edits) run between
//! dpkg and the normalization, in the same sandbox and environment.

use crate::debian::{read_control, DebError};
use crate::fsutil::{self, FsError};
use crate::lock::debian::{parse_depends, DebianLock};
use crate::report::Reporter;
use crate::sandbox::{self, Bind, Step};
use crate::store::Store;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ScriptsError {
    #[error(transparent)]
    Deb(#[from] DebError),
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    Sandbox(#[from] sandbox::SandboxError),
    #[error("maintainer scripts: {0}")]
    Message(String),
}

impl ScriptsError {
    /// A corrupt .deb (its digest or size not the locked one).
    pub fn is_integrity(&self) -> bool {
        matches!(self, ScriptsError::Deb(d) if d.is_integrity())
    }
}

/// What [`run_maintainer_scripts`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ScriptsReport {
    /// Packages configured by dpkg (state `ii`).
    pub configured: usize,
    /// Packages that ship at least one maintainer script.
    pub with_scripts: usize,
    /// Paths removed or rewritten afterwards, relative to the rootfs.
    pub normalized: Vec<String>,
}

/// Files a daemon-starting script would use, written for the run and removed after it.
const POLICY_RC_D: &str = "usr/sbin/policy-rc.d";

/// Dependency order for dpkg: a package after what it (pre-)depends on, where that is in the
/// set (cycles are broken in lock order). dpkg reorders configuration itself; this order makes
/// unpacking (preinst) meet its Pre-Depends too.
fn install_order(pkgs: &[(String, String, String)]) -> Vec<usize> {
    // (name, depends, provides) per package.
    let mut by_name: HashMap<String, usize> = HashMap::new();
    for (i, (name, _, _)) in pkgs.iter().enumerate() {
        by_name.insert(name.clone(), i);
    }
    for (i, (_, _, provides)) in pkgs.iter().enumerate() {
        for clause in parse_depends(provides).unwrap_or_default() {
            for alt in clause {
                by_name.entry(alt.name).or_insert(i);
            }
        }
    }
    let deps: Vec<Vec<usize>> = pkgs
        .iter()
        .map(|(_, depends, _)| {
            parse_depends(depends)
                .unwrap_or_default()
                .iter()
                .filter_map(|clause| clause.iter().find_map(|a| by_name.get(a.name.as_str())))
                .copied()
                .collect()
        })
        .collect();
    let mut state = vec![0u8; pkgs.len()]; // 0 new, 1 on the stack, 2 done
    let mut order = Vec::with_capacity(pkgs.len());
    for start in 0..pkgs.len() {
        if state[start] != 0 {
            continue;
        }
        // Iterative depth-first search, post-order.
        let mut stack = vec![(start, 0usize)];
        state[start] = 1;
        while let Some((n, next)) = stack.pop() {
            if next < deps[n].len() {
                stack.push((n, next + 1));
                let d = deps[n][next];
                if state[d] == 0 {
                    state[d] = 1;
                    stack.push((d, 0));
                }
            } else {
                state[n] = 2;
                order.push(n);
            }
        }
    }
    order
}

/// Run every locked package's maintainer scripts over `root` (already extracted by
/// [`crate::build::rootfs::assemble_rootfs`]): `dpkg --unpack`, the tree's times set to the epoch, then
/// `dpkg --configure` (essential packages first), inside the sandbox as root, then the
/// image's `commands` in the same sandbox, then [`normalize`], which also removes the image's
/// `scripts-remove` paths (absolute in the image).
/// `libfaketime` is the locked toolchain's `libfaketime.so.1` (on the host): every script
/// runs with the clock stopped at `epoch` and without address-space randomization, because
/// some of what they write is seeded from both (LuaTeX's formats hash strings with a seed made
/// of the time and of addresses; Knuth's TeX dumps the minute into its format).
pub fn run_maintainer_scripts(
    root: &Path,
    lock: &DebianLock,
    store: &Store,
    epoch: u64,
    libfaketime: &Path,
    spec: &crate::recipe::ImageSpec,
    reporter: &dyn Reporter,
) -> Result<ScriptsReport, ScriptsError> {
    let mut report = ScriptsReport::default();
    let policy = prepare_dpkg(root, lock)?;
    let debs = read_debs(lock, store)?;
    report.with_scripts = debs.with_scripts;
    let order = install_order(&debs.packages);
    let store_root = store.root().to_path_buf();
    let step = Step {
        name: "dpkg --unpack (preinst scripts)".into(),
        rootfs: root.to_path_buf(),
        binds: vec![
            Bind {
                host: store_root.clone(),
                dest: "/relsign/store".into(),
                writable: false,
            },
            Bind {
                host: libfaketime.to_path_buf(),
                dest: FAKETIME_AT.into(),
                writable: false,
            },
        ],
        env: script_env(epoch),
        cwd: "/".into(),
        argv: unpack_argv(&debs.paths, &order, &store_root)?,
        uid: None,
        system: true,
    };
    reporter.step(&format!(
        "maintainer scripts: dpkg --unpack, then --configure, of {} packages ({} with scripts), no network, no daemons",
        lock.packages.len(),
        report.with_scripts
    ));
    let started = std::time::Instant::now();
    sandbox::run(&step)?;
    fsutil::set_tree_times(root, epoch)?;
    let configure = Step {
        name: "dpkg --configure (postinst scripts and triggers)".into(),
        argv: configure_argv(&debs, &order),
        ..step.clone()
    };
    sandbox::run(&configure)?;
    // Every package must be installed and configured.
    let query = Step {
        name: "dpkg-query (after maintainer scripts)".into(),
        argv: vec![
            "dpkg-query".into(),
            "-W".into(),
            "-f".into(),
            "${Package} ${db:Status-Abbrev}\\n".into(),
        ],
        binds: vec![],
        env: step
            .env
            .iter()
            .filter(|(k, _)| !k.starts_with("FAKETIME") && k != "LD_PRELOAD")
            .cloned()
            .collect(),
        ..step
    };
    let out = sandbox::run(&query)?;
    check_configured(lock, &String::from_utf8_lossy(&out.stdout))?;
    report.configured = lock.packages.len();
    for (i, c) in spec.commands.iter().enumerate() {
        reporter.info(&format!(
            "image.commands[{i}] ({}): {}",
            c.why,
            c.run.join(" ")
        ));
        sandbox::run(&Step {
            name: format!("image.commands[{i}] ({})", c.why),
            argv: ["setarch", "-R"]
                .iter()
                .map(|s| s.to_string())
                .chain(c.run.iter().cloned())
                .collect(),
            ..configure.clone()
        })?;
    }
    std::fs::remove_file(&policy).map_err(fsutil::err("remove", &policy))?;
    report.normalized = normalize(root, epoch, &spec.scripts_remove)?;
    reporter.info(&format!(
        "maintainer scripts: {} packages configured in {:.1} s; {} paths normalized",
        report.configured,
        started.elapsed().as_secs_f64(),
        report.normalized.len()
    ));
    Ok(report)
}

/// dpkg's database made fresh in `root` (status.d, written for scanners of script-less
/// images, removed), and the policy-rc.d that stops daemons from starting: its path.
fn prepare_dpkg(root: &Path, lock: &DebianLock) -> Result<PathBuf, ScriptsError> {
    // The extracted tree carries status.d, written for scanners of script-less images; dpkg
    // keeps its own database, which the run below writes.
    let statusd = root.join("var/lib/dpkg/status.d");
    if statusd.is_dir() {
        std::fs::remove_dir_all(&statusd).map_err(fsutil::err("remove", &statusd))?;
    }
    if root.join("usr/bin/dpkg").symlink_metadata().is_err() {
        return Err(ScriptsError::Message(
            "the image has no /usr/bin/dpkg: image.scripts needs the essential set in the image lock; run `relsign lock` again".into(),
        ));
    }
    let dpkg_dir = root.join("var/lib/dpkg");
    for d in ["info", "updates", "triggers", "alternatives"] {
        fsutil::create_dir_all(&dpkg_dir.join(d))?;
    }
    for f in ["status", "available"] {
        fsutil::write_atomic(&dpkg_dir.join(f), b"")?;
    }
    fsutil::write_atomic(
        &dpkg_dir.join("arch"),
        format!("{}\n", lock.architecture).as_bytes(),
    )?;
    let policy = root.join(POLICY_RC_D);
    if policy.symlink_metadata().is_ok() {
        return Err(ScriptsError::Message(format!(
            "a package ships /{POLICY_RC_D}; relsign writes its own for the run"
        )));
    }
    write_mode(
        &policy,
        b"#!/bin/sh\n# relsign: no daemon starts while maintainer scripts run\nexit 101\n",
        0o755,
    )?;
    Ok(policy)
}

/// The locked .debs, in lock order, with what ordering them needs.
struct LockedDebs {
    /// Name, (Pre-)Depends and Provides of each.
    packages: Vec<(String, String, String)>,
    /// Each one's file in the store.
    paths: Vec<PathBuf>,
    /// Whether each is Essential.
    essential: Vec<bool>,
    /// How many ship a maintainer script.
    with_scripts: usize,
}

/// Every locked .deb from the store, with the control fields that order them.
fn read_debs(lock: &DebianLock, store: &Store) -> Result<LockedDebs, ScriptsError> {
    let mut debs = LockedDebs {
        packages: Vec::new(),
        paths: Vec::new(),
        essential: Vec::new(),
        with_scripts: 0,
    };
    for pkg in &lock.packages {
        let what = pkg.file_name();
        let p = store
            .get(&pkg.sha256, what)
            .map_err(|source| DebError::Store {
                package: format!("{} ({})", pkg.name, pkg.filename),
                source,
            })?;
        let info = read_control(&p)?;
        let f = &info.fields;
        let mut depends = f.get("Pre-Depends").unwrap_or("").to_string();
        if let Some(d) = f.get("Depends") {
            if !depends.is_empty() {
                depends.push_str(", ");
            }
            depends.push_str(d);
        }
        if info.has_scripts {
            debs.with_scripts += 1;
        }
        debs.essential.push(f.get("Essential") == Some("yes"));
        debs.packages.push((
            pkg.name.clone(),
            depends,
            f.get("Provides").unwrap_or("").to_string(),
        ));
        debs.paths.push(p);
    }
    Ok(debs)
}

/// dpkg with `action`, as relsign runs it: without address-space randomization, forcing
/// through dependency checks (the order is ours), keeping config files, without fsync.
///
/// dpkg --install in two halves, as it runs them itself (unpack all, then configure all),
/// with the tree's times set to the epoch between them: the image records every time as the
/// epoch, and caches that record directory times (fontconfig's) must match the image.
fn dpkg_argv(action: &[&str]) -> Vec<String> {
    ["setarch", "-R", "dpkg"]
        .iter()
        .chain(action)
        .chain(&["--force-depends", "--force-confold", "--force-unsafe-io"])
        .map(|s| s.to_string())
        .collect()
}

/// `dpkg --unpack` of the .debs in `order`, as paths inside the sandbox's view of the store.
fn unpack_argv(
    paths: &[PathBuf],
    order: &[usize],
    store_root: &Path,
) -> Result<Vec<String>, ScriptsError> {
    let mut argv = dpkg_argv(&["--unpack", "--no-debsig"]);
    for &i in order {
        let rel = paths[i].strip_prefix(store_root).map_err(|_| {
            ScriptsError::Message(format!("{} is not in the store", paths[i].display()))
        })?;
        argv.push(format!("/relsign/store/{}", rel.display()));
    }
    Ok(argv)
}

/// `dpkg --configure` of the packages by name: essential packages first (the others' scripts
/// take them as working: awk, for one, exists only once mawk's postinst made the
/// alternative), each after what it depends on. dpkg's own pending order would configure
/// locales before mawk.
fn configure_argv(debs: &LockedDebs, order: &[usize]) -> Vec<String> {
    let mut a = dpkg_argv(&["--configure"]);
    let (first, rest): (Vec<usize>, Vec<usize>) = order.iter().partition(|&&i| debs.essential[i]);
    a.extend(
        first
            .into_iter()
            .chain(rest)
            .map(|i| debs.packages[i].0.clone()),
    );
    a
}

/// The scripts' environment: non-interactive, the epoch, Perl's hash order fixed, and
/// libfaketime's clock stopped at the epoch.
fn script_env(epoch: u64) -> Vec<(String, String)> {
    [
        (
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ),
        ("HOME", "/root"),
        ("DEBIAN_FRONTEND", "noninteractive"),
        ("DEBCONF_NONINTERACTIVE_SEEN", "true"),
        ("DEBIAN_PRIORITY", "critical"),
        ("FORCE_SOURCE_DATE", "1"),
        // Perl's hash order, which TeX Live's fmtutil and updmap write ls-R entries in.
        ("PERL_HASH_SEED", "0"),
        ("PERL_PERTURB_KEYS", "0"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .chain([
        ("SOURCE_DATE_EPOCH".to_string(), epoch.to_string()),
        ("LD_PRELOAD".to_string(), FAKETIME_AT.to_string()),
        ("FAKETIME".to_string(), frozen_clock(epoch)),
        ("FAKETIME_DONT_FAKE_MONOTONIC".to_string(), "1".to_string()),
        ("NO_FAKE_STAT".to_string(), "1".to_string()),
        // libfaketime's shared clock (a POSIX semaphore made by the first, root, process)
        // deadlocks a process that a script starts under another user (`su postgres`);
        // a frozen clock has nothing to share.
        ("FAKETIME_DISABLE_SHM".to_string(), "1".to_string()),
    ])
    .collect()
}

/// Every locked package is installed and configured (`ii`) in dpkg-query's output (`NAME
/// STATUS` lines); an error names the others with their state.
fn check_configured(lock: &DebianLock, query: &str) -> Result<(), ScriptsError> {
    let mut states: BTreeMap<String, String> = BTreeMap::new();
    for l in query.lines() {
        if let Some((name, st)) = l.split_once(' ') {
            states.insert(name.to_string(), st.trim().to_string());
        }
    }
    let bad: Vec<String> = lock
        .packages
        .iter()
        .filter(|p| states.get(&p.name).map(String::as_str) != Some("ii"))
        .map(|p| {
            format!(
                "{} ({})",
                p.name,
                states
                    .get(&p.name)
                    .map(String::as_str)
                    .unwrap_or("not installed")
            )
        })
        .collect();
    if !bad.is_empty() {
        return Err(ScriptsError::Message(format!(
            "after dpkg --configure, these packages are not configured: {}",
            bad.join(", ")
        )));
    }
    Ok(())
}

/// Where the toolchain's libfaketime is mounted in the sandbox.
const FAKETIME_AT: &str = "/relsign/libfaketime.so.1";

/// libfaketime's stopped clock ("YYYY-MM-DD hh:mm:ss", UTC: the sandbox's TZ) at `epoch`.
fn frozen_clock(epoch: u64) -> String {
    let t = crate::oci::rfc3339(epoch); // YYYY-MM-DDThh:mm:ssZ
    t.trim_end_matches('Z').replacen('T', " ", 1)
}

/// The toolchain rootfs's `libfaketime.so.1` (`usr/lib/<triplet>/faketime/`).
pub fn find_libfaketime(toolchain_root: &Path) -> Option<PathBuf> {
    let lib = toolchain_root.join("usr/lib");
    let mut dirs: Vec<_> = std::fs::read_dir(&lib).ok()?.flatten().collect();
    dirs.sort_by_key(|e| e.file_name());
    dirs.into_iter()
        .map(|e| e.path().join("faketime/libfaketime.so.1"))
        .find(|p| p.is_file())
}

fn write_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<(), FsError> {
    use std::os::unix::fs::PermissionsExt;
    fsutil::write_atomic(path, bytes)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(fsutil::err("chmod", path))
}

/// `root/rel` when no directory on the way is a symlink (in the rootfs an absolute link such as
/// `var/run -> /run` would lead to the host's files); `None` when something on the way is
/// missing.
fn below(root: &Path, rel: &str) -> Result<Option<PathBuf>, ScriptsError> {
    let mut p = root.to_path_buf();
    let parts: Vec<&str> = rel.split('/').filter(|c| !c.is_empty()).collect();
    for (i, c) in parts.iter().enumerate() {
        p.push(c);
        match p.symlink_metadata() {
            Err(_) => return Ok(None),
            Ok(m) if m.file_type().is_symlink() && i + 1 < parts.len() => {
                return Err(ScriptsError::Message(format!(
                    "{rel}: /{} is a symlink in the image; name the path it points to",
                    parts[..=i].join("/")
                )))
            }
            Ok(_) => {}
        }
    }
    Ok(Some(p))
}

/// Files that differ between two runs of the same scripts, removed: dpkg's and debconf's
/// backups (`*-old`), ldconfig's aux-cache (it records inode numbers and times), logs (the
/// files; directories stay, with their owners, for the daemons that write there).
const VOLATILE_FILES: &[&str] = &[
    "var/cache/ldconfig/aux-cache",
    "var/lib/dpkg/status-old",
    "var/lib/dpkg/available-old",
    "var/lib/dpkg/diversions-old",
    "var/lib/dpkg/statoverride-old",
    "var/cache/debconf/config.dat-old",
    "var/cache/debconf/templates.dat-old",
    "var/cache/debconf/passwords.dat-old",
    "etc/passwd-",
    "etc/group-",
    "etc/shadow-",
    "etc/gshadow-",
    "etc/subuid-",
    "etc/subgid-",
    "var/lib/dbus/machine-id",
];

/// Remove or normalize what maintainer scripts leave that is not reproducible; returns the
/// paths touched (relative to `root`), sorted.
pub fn normalize(root: &Path, epoch: u64, remove: &[String]) -> Result<Vec<String>, ScriptsError> {
    let mut touched = Vec::new();
    let rm = |rel: &str, touched: &mut Vec<String>| -> Result<(), ScriptsError> {
        let Some(p) = below(root, rel)? else {
            return Ok(());
        };
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => {
                std::fs::remove_dir_all(&p).map_err(fsutil::err("remove", &p))?
            }
            Ok(_) => std::fs::remove_file(&p).map_err(fsutil::err("remove", &p))?,
            Err(_) => return Ok(()),
        }
        touched.push(rel.to_string());
        Ok(())
    };
    for f in VOLATILE_FILES {
        rm(f, &mut touched)?;
    }
    for r in remove {
        let rel = fsutil::plain_image_path(r).ok_or_else(|| {
            ScriptsError::Message(format!(
                "image.scripts-remove: {r:?} is not a plain absolute path"
            ))
        })?;
        rm(&rel.to_string_lossy(), &mut touched)?;
    }
    // Log files (under var/log, any depth; directories stay), and the logs of TeX's fmtutil
    // and updmap (they list file times).
    for (dir, only_logs) in [("var/log", false), ("var/lib/texmf/web2c", true)] {
        let Some(dir) = below(root, dir)? else {
            continue;
        };
        if !dir.symlink_metadata().is_ok_and(|m| m.is_dir()) {
            continue;
        }
        let mut files = Vec::new();
        fsutil::walk_files(&dir, &mut files)?;
        for f in files {
            if only_logs && f.extension().is_none_or(|x| x != "log") {
                continue;
            }
            std::fs::remove_file(&f).map_err(fsutil::err("remove", &f))?;
            touched.push(
                f.strip_prefix(root)
                    .unwrap_or(&f)
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
    // An empty machine-id: systemd and dbus make one at first boot.
    below(root, "etc/machine-id")?;
    let mid = root.join("etc/machine-id");
    if mid.symlink_metadata().is_ok() {
        write_mode(&mid, b"", 0o444)?;
        touched.push("etc/machine-id".into());
    }
    // The last-change day of every shadow entry: the day of SOURCE_DATE_EPOCH (shadow's tools
    // honour it already; this holds the line for entries written by other means).
    let shadow = root.join("etc/shadow");
    if shadow.symlink_metadata().is_ok_and(|m| m.is_file()) {
        let text = fsutil::read_to_string(&shadow)?;
        let day = (epoch / 86400).to_string();
        let mut out = String::with_capacity(text.len());
        for line in text.lines() {
            let mut f: Vec<&str> = line.split(':').collect();
            if f.len() >= 3 && !f[2].is_empty() {
                f[2] = &day;
            }
            out.push_str(&f.join(":"));
            out.push('\n');
        }
        if out != text {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&shadow)
                .map_err(fsutil::err("stat", &shadow))?
                .permissions()
                .mode();
            write_mode(&shadow, out.as_bytes(), mode & 0o7777)?;
            touched.push("etc/shadow".into());
        }
    }
    touched.sort();
    Ok(touched)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, dep: &str, prov: &str) -> (String, String, String) {
        (name.into(), dep.into(), prov.into())
    }

    #[test]
    fn order_puts_dependencies_first_and_survives_cycles() {
        let pkgs = vec![
            p("app", "libfoo (>= 1), mta | postfix", ""),
            p("exim", "libc", "mta"),
            p("libc", "", ""),
            p("libfoo", "libc, app", ""),
        ];
        let order: Vec<&str> = install_order(&pkgs)
            .into_iter()
            .map(|i| pkgs[i].0.as_str())
            .collect();
        assert_eq!(order.len(), 4);
        let pos = |n: &str| order.iter().position(|x| *x == n).unwrap();
        assert!(pos("libc") < pos("libfoo"), "{order:?}");
        assert!(pos("libc") < pos("exim"), "{order:?}");
        assert!(pos("exim") < pos("app"), "{order:?}");
    }

    #[test]
    fn normalize_removes_volatile_and_fixes_shadow_days() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        for f in [
            "var/cache/ldconfig/aux-cache",
            "var/lib/dpkg/status-old",
            "var/log/apt/term.log",
            "var/log/dpkg.log",
            "etc/ssl/private/key.pem",
        ] {
            fsutil::create_dir_all(r.join(f).parent().unwrap()).unwrap();
            std::fs::write(r.join(f), b"x").unwrap();
        }
        std::fs::write(r.join("etc/machine-id"), b"0123\n").unwrap();
        std::fs::write(
            r.join("etc/shadow"),
            "root:*:20000:0:99999:7:::\nbob:!::0:99999:7:::\n",
        )
        .unwrap();
        let t = normalize(r, 86400 * 19000 + 5, &["/etc/ssl/private/key.pem".into()]).unwrap();
        assert!(t.contains(&"var/log/dpkg.log".to_string()), "{t:?}");
        assert!(!r.join("var/cache/ldconfig/aux-cache").exists());
        assert!(!r.join("etc/ssl/private/key.pem").exists());
        assert!(r.join("var/log/apt").is_dir() && !r.join("var/log/apt/term.log").exists());
        assert_eq!(std::fs::read(r.join("etc/machine-id")).unwrap(), b"");
        assert_eq!(
            std::fs::read_to_string(r.join("etc/shadow")).unwrap(),
            "root:*:19000:0:99999:7:::\nbob:!::0:99999:7:::\n"
        );
        let e = normalize(r, 0, &["/etc/../x".into()]).unwrap_err();
        assert!(e.to_string().contains("scripts-remove"), "{e}");
    }

    #[test]
    fn normalize_refuses_a_path_through_a_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let r = tmp.path().join("root");
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(r.join("var")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("keep"), b"x").unwrap();
        std::os::unix::fs::symlink(&outside, r.join("var/run")).unwrap();
        let e = normalize(&r, 86_400, &["/var/run/keep".to_string()]).unwrap_err();
        assert!(e.to_string().contains("/var/run is a symlink"), "{e}");
        assert!(
            outside.join("keep").exists(),
            "nothing outside the rootfs removed"
        );
        // The link itself may be named and is removed, not what it points to.
        normalize(&r, 86_400, &["/var/run".to_string()]).unwrap();
        assert!(r.join("var/run").symlink_metadata().is_err());
        assert!(outside.join("keep").exists());
    }
}
