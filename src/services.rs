//! An image's services (PostgreSQL, Redis, uwsgi, nginx…), started hermetically.
//!
//! A recipe declares them (`[[image.services]]`); the build records them in the image config
//! (label [`LABEL`], JSON), so an image layout or a release directory is enough to start them:
//! `relsign run RELEASE --services [-- COMMAND]` needs no recipe.
//!
//! The run, on the host as real root:
//! 1. the layers are unpacked with their owners (the safe reader, `owners`);
//! 2. one sandbox holds everything: `bwrap` with no user namespace (so every uid exists: each
//!    service runs under its own user), fresh network, IPC, PID, UTS and cgroup namespaces,
//!    the rootfs writable at `/`, `/proc`, a minimal `/dev` and a private `/dev/shm`. Its
//!    network has only `lo`, which is checked (the interface list and a loopback connection);
//! 3. every process (first-start commands, services, probes, COMMAND) enters that sandbox
//!    through relsign's own helper (`relsign __enter`, see [`enter`]), which joins its
//!    namespaces and root, then drops to the process's user before any code of the image runs:
//!    its uid, its gid and its groups from the image's `/etc/passwd` and `/etc/group`, no new
//!    privileges, and a capability bounding set reduced to what a container runtime gives by
//!    default (no `CAP_SYS_ADMIN`, no `CAP_MKNOD`, no raw sockets), for root too;
//! 4. services start in order, each after its first-start commands (skipped when what they
//!    create exists), and each must be ready (a TCP port or an HTTP page on loopback, probed
//!    from a thread inside the sandbox's network namespace, or a command that exits 0) before
//!    the next starts;
//! 5. COMMAND runs (or, without one, the services stay up until SIGINT or SIGTERM);
//! 6. services stop in reverse order: their stop signal, a wait, then SIGKILL; the sandbox's
//!    init is killed last, which ends whatever is left in its PID namespace.
//!
//! A service that exits before it is ready, never becomes ready, or whose first-start fails,
//! is named with the last lines of its output and of its log files.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufRead, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The image config label holding the services, as JSON.
pub const LABEL: &str = "relsign.services";

/// Lines of a log shown when a service fails.
pub const TAIL_LINES: usize = 20;

/// The capabilities processes in the sandbox keep (a container runtime's default set, minus
/// `mknod`, `net_raw` and `setfcap`): root in the sandbox is the host's root, so the bounding
/// set is what keeps it from the host. See [`kept_caps`].
pub const CAPS: &[&str] = &[
    "chown",
    "dac_override",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "net_bind_service",
    "sys_chroot",
    "audit_write",
];

/// `[[image.services]]`: one long-running process of the image.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServiceSpec {
    /// A short name (letters, digits, `.`, `_`, `-`), unique in the image.
    pub name: String,
    /// The user it runs as (a name in the image's /etc/passwd); default root.
    #[serde(default = "default_user")]
    pub user: String,
    /// Its argv, run in the foreground (it must not daemonize: relsign stops it by signal).
    pub command: Vec<String>,
    /// Commands run before it starts (each as its own `user`, default root), skipped when
    /// `creates` exists: per-installation state the build removed (keys, clusters).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub first_start: Vec<FirstStart>,
    /// When it is ready.
    pub ready: Ready,
    /// Seconds to wait for readiness (default 60).
    #[serde(default = "default_ready_timeout")]
    pub ready_timeout: u64,
    /// The signal that stops it cleanly: TERM (default), INT, QUIT, HUP, USR1, USR2, WINCH.
    #[serde(default = "default_stop_signal")]
    pub stop_signal: String,
    /// Seconds to wait after the stop signal before SIGKILL (default 10).
    #[serde(default = "default_stop_timeout")]
    pub stop_timeout: u64,
    /// Log files it writes in the image (absolute), shown with its output when it fails.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<String>,
    /// Extra environment, on top of the image's Env.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Its working directory (default `/`).
    #[serde(default = "default_workdir")]
    pub workdir: String,
}

/// One first-start command.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FirstStart {
    pub run: Vec<String>,
    #[serde(default = "default_user")]
    pub user: String,
    /// An absolute path in the image: when it exists, the command is skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creates: Option<String>,
}

/// Readiness: exactly one of `tcp`, `http` (with an optional `expect`ed text) or `command`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct Ready {
    /// A port on 127.0.0.1 that accepts a connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<u16>,
    /// An `http://localhost[:port]/path` (or 127.0.0.1, [::1]) answering below 400.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// With `http`: text the page must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<String>,
    /// A command (run as the service's user) that exits 0 when the service is ready.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
}

fn default_user() -> String {
    "root".into()
}
fn default_ready_timeout() -> u64 {
    60
}
fn default_stop_signal() -> String {
    "TERM".into()
}
fn default_stop_timeout() -> u64 {
    10
}
fn default_workdir() -> String {
    "/".into()
}

/// What a readiness probe does, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    Tcp(u16),
    Http {
        /// The address inside the sandbox (127.0.0.1 or ::1) and port.
        addr: std::net::SocketAddr,
        host: String,
        path: String,
        expect: Option<String>,
    },
    Command(Vec<String>),
}

impl std::fmt::Display for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Probe::Tcp(p) => write!(f, "tcp 127.0.0.1:{p}"),
            Probe::Http {
                host, path, expect, ..
            } => {
                write!(f, "http://{host}{path}")?;
                if let Some(e) = expect {
                    write!(f, " containing {e:?}")?;
                }
                Ok(())
            }
            Probe::Command(argv) => write!(f, "`{}` exits 0", argv.join(" ")),
        }
    }
}

impl Ready {
    pub fn probe(&self) -> Result<Probe, String> {
        match (&self.tcp, &self.http, self.command.is_empty()) {
            (Some(0), _, _) => Err("tcp: port 0".into()),
            (Some(p), None, true) if self.expect.is_none() => Ok(Probe::Tcp(*p)),
            (None, Some(url), true) => {
                let (addr, host, path) = parse_http_url(url)?;
                if self.expect.as_deref() == Some("") {
                    return Err("expect: empty".into());
                }
                Ok(Probe::Http {
                    addr,
                    host,
                    path,
                    expect: self.expect.clone(),
                })
            }
            (None, None, false) if self.expect.is_none() => {
                if self.command[0].is_empty() {
                    return Err("command: an empty program".into());
                }
                Ok(Probe::Command(self.command.clone()))
            }
            _ if self.expect.is_some() && self.http.is_none() => {
                Err("expect goes with http only".into())
            }
            _ => Err("give exactly one of tcp, http or command".into()),
        }
    }
}

/// `http://localhost[:port][/path]` (or 127.0.0.1, [::1]): the sandbox's loopback only.
pub fn parse_http_url(url: &str) -> Result<(std::net::SocketAddr, String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url:?}: expected http://localhost[:port]/path"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') && (!h.starts_with('[') || h.ends_with(']')) => (
            h,
            p.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("{url:?}: bad port {p:?}"))?,
        ),
        _ => (authority, 80),
    };
    let ip: std::net::IpAddr = match host {
        "localhost" | "127.0.0.1" => std::net::Ipv4Addr::LOCALHOST.into(),
        "[::1]" => std::net::Ipv6Addr::LOCALHOST.into(),
        _ => {
            return Err(format!(
                "{url:?}: the host must be localhost, 127.0.0.1 or [::1] (the sandbox has only loopback)"
            ))
        }
    };
    if path.contains(char::is_whitespace) {
        return Err(format!("{url:?}: the path has whitespace"));
    }
    Ok((
        std::net::SocketAddr::new(ip, port),
        authority.to_string(),
        path,
    ))
}

/// A stop signal's name (without SIG) to its signal.
pub fn signal(name: &str) -> Option<rustix::process::Signal> {
    use rustix::process::Signal;
    Some(match name.trim_start_matches("SIG") {
        "TERM" => Signal::TERM,
        "INT" => Signal::INT,
        "QUIT" => Signal::QUIT,
        "HUP" => Signal::HUP,
        "USR1" => Signal::USR1,
        "USR2" => Signal::USR2,
        "WINCH" => Signal::WINCH,
        _ => return None,
    })
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}
fn valid_user(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && !s.starts_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}
fn valid_env_name(s: &str) -> bool {
    !s.is_empty()
        && !s.as_bytes()[0].is_ascii_digit()
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}
/// An absolute path without `.`/`..` components or NUL.
fn valid_image_path(s: &str) -> bool {
    s.starts_with('/') && !s.contains('\0') && s.split('/').all(|c| c != "." && c != "..")
}

/// Check services as declared: `Err((key, reason))`, the key relative to the list
/// (`services[0].ready`). Used for the recipe and for a label read back from an image.
pub fn validate(services: &[ServiceSpec]) -> Result<(), (String, String)> {
    let mut names = std::collections::BTreeSet::new();
    for (i, s) in services.iter().enumerate() {
        let key = |f: &str| format!("services[{i}].{f}");
        if !valid_name(&s.name) || !names.insert(s.name.as_str()) {
            return Err((
                key("name"),
                format!(
                    "{:?} is not a valid, unique service name (letters, digits, . _ -)",
                    s.name
                ),
            ));
        }
        if !valid_user(&s.user) {
            return Err((key("user"), format!("{:?} is not a user name", s.user)));
        }
        if s.command.first().is_none_or(|p| p.is_empty()) {
            return Err((
                key("command"),
                "give the program and its arguments (it runs in the foreground)".into(),
            ));
        }
        validate_steps(&s.first_start)
            .map_err(|(k, why)| (key(&format!("first-start{k}")), why))?;
        s.ready.probe().map_err(|why| (key("ready"), why))?;
        if !(1..=3600).contains(&s.ready_timeout) {
            return Err((key("ready-timeout"), "seconds, from 1 to 3600".into()));
        }
        if signal(&s.stop_signal).is_none() {
            return Err((
                key("stop-signal"),
                format!(
                    "{:?}: expected TERM, INT, QUIT, HUP, USR1, USR2 or WINCH",
                    s.stop_signal
                ),
            ));
        }
        if !(1..=600).contains(&s.stop_timeout) {
            return Err((key("stop-timeout"), "seconds, from 1 to 600".into()));
        }
        for (j, l) in s.logs.iter().enumerate() {
            if !valid_image_path(l) {
                return Err((
                    key(&format!("logs[{j}]")),
                    format!("{l:?} is not an absolute path in the image (no . or ..)"),
                ));
            }
        }
        validate_env_names(&s.env).map_err(|why| (key("env"), why))?;
        if !valid_image_path(&s.workdir) {
            return Err((
                key("workdir"),
                format!("{:?} is not an absolute path in the image", s.workdir),
            ));
        }
    }
    Ok(())
}

/// Check commands run to completion in the sandbox (a service's `first-start`, the gate's
/// `setup`): `Err((key, reason))`, the key relative to the list (`[0].run`).
pub fn validate_steps(steps: &[FirstStart]) -> Result<(), (String, String)> {
    for (j, f) in steps.iter().enumerate() {
        if f.run.first().is_none_or(|p| p.is_empty()) {
            return Err((
                format!("[{j}].run"),
                "give the program and its arguments".into(),
            ));
        }
        if !valid_user(&f.user) {
            return Err((
                format!("[{j}].user"),
                format!("{:?} is not a user name", f.user),
            ));
        }
        if let Some(c) = &f.creates {
            if !valid_image_path(c) {
                return Err((
                    format!("[{j}].creates"),
                    format!("{c:?} is not an absolute path in the image (no . or ..)"),
                ));
            }
        }
    }
    Ok(())
}

/// Check an environment's names (`Err(the first bad name)`).
pub fn validate_env_names(env: &BTreeMap<String, String>) -> Result<(), String> {
    match env.keys().find(|k| !valid_env_name(k)) {
        Some(k) => Err(format!("{k:?} is not an environment variable name")),
        None => Ok(()),
    }
}

/// The label's value for these services (compact JSON, fields in declaration order).
pub fn to_label(services: &[ServiceSpec]) -> String {
    serde_json::to_string(services).expect("services serialize")
}

/// The services an image config declares (none when it has no label), validated.
pub fn from_labels(labels: &BTreeMap<String, String>) -> Result<Vec<ServiceSpec>, String> {
    let Some(v) = labels.get(LABEL) else {
        return Ok(vec![]);
    };
    let services: Vec<ServiceSpec> =
        serde_json::from_str(v).map_err(|e| format!("label {LABEL}: {e}"))?;
    validate(&services).map_err(|(k, why)| format!("label {LABEL}: {k}: {why}"))?;
    Ok(services)
}

#[derive(Debug, thiserror::Error)]
pub enum ServicesError {
    #[error("{0}")]
    Message(String),
    /// A service that failed: its name, what happened, its log tails.
    #[error("service `{service}` {what}{log}")]
    Service {
        service: String,
        what: String,
        log: String,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServicesError {
    let context = context.into();
    move |source| ServicesError::Io { context, source }
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A user of the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    /// Its primary group and the groups that list it ([`groups_of`]).
    pub groups: Vec<u32>,
}

/// Look `name` up in an /etc/passwd text.
pub fn find_user(passwd: &str, name: &str) -> Option<User> {
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 7 || f[0] != name {
            return None;
        }
        let gid = f[3].parse().ok()?;
        Some(User {
            name: f[0].to_string(),
            uid: f[2].parse().ok()?,
            gid,
            home: f[5].to_string(),
            groups: vec![gid],
        })
    })
}

/// Environment of a process in the sandbox: a fixed base, the image's Env, the user's HOME,
/// USER and LOGNAME, then `extra`.
pub fn process_env(
    image_env: &[(String, String)],
    user: &User,
    extra: &BTreeMap<String, String>,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        (
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ),
        ("LANG", "C.UTF-8"),
        ("TZ", "UTC"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut set = |k: &str, v: &str| {
        env.retain(|(ek, _)| ek != k);
        env.push((k.to_string(), v.to_string()));
    };
    for (k, v) in image_env {
        set(k, v);
    }
    set("HOME", &user.home);
    set("USER", &user.name);
    set("LOGNAME", &user.name);
    for (k, v) in extra {
        set(k, v);
    }
    env
}

/// The sandbox's host name (its own UTS namespace).
pub const HOSTNAME: &str = "relsign";

/// The sandbox's /etc/hosts: localhost and its host name, on loopback (its only interface).
pub fn hosts_file() -> String {
    format!(
        "127.0.0.1\tlocalhost\n127.0.1.1\t{HOSTNAME}\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    )
}

/// The holder sandbox's bwrap arguments (pure): no user namespace, every other namespace new,
/// the rootfs writable at `/`; the holder prints a line once the sandbox is set up.
pub fn holder_args(rootfs: &Path, binds: &[HostBind], parents: &[String]) -> Vec<String> {
    let mut a: Vec<String> = [
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-pid",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
        "--hostname",
        HOSTNAME,
        "--bind",
        &rootfs.display().to_string(),
        "/",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--perms",
        "1777",
        "--tmpfs",
        "/dev/shm",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for p in parents {
        a.extend(["--perms".into(), "0755".into(), "--dir".into(), p.clone()]);
    }
    for b in binds {
        a.push(if b.writable { "--bind" } else { "--ro-bind" }.into());
        a.push(b.host.display().to_string());
        a.push(b.dest.clone());
    }
    a.extend(
        [
            "--chdir",
            "/",
            "--",
            "/bin/sh",
            "-c",
            "echo relsign-sandbox-ready; exec sleep infinity",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    a
}

/// The directories above the binds' destinations that the image lacks, outermost first: the
/// sandbox makes them 0755 (left to bwrap they are 0700, and a service's user could not reach
/// the bind). A symlink on the way is left to bwrap, which resolves it inside the sandbox.
pub fn missing_parents(rootfs: &Path, binds: &[HostBind]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for b in binds {
        let names: Vec<&str> = b.dest.split('/').filter(|c| !c.is_empty()).collect();
        let mut inside = String::new();
        for name in &names[..names.len().saturating_sub(1)] {
            inside.push('/');
            inside.push_str(name);
            match std::fs::symlink_metadata(rootfs.join(&inside[1..])) {
                Ok(m) if m.is_dir() => continue,
                Ok(_) => break,
                Err(_) => {
                    if !out.contains(&inside) {
                        out.push(inside.clone());
                    }
                }
            }
        }
    }
    out
}

/// A host directory or file mounted into the sandbox (`relsign run --bind HOST:DEST[:rw]`):
/// test inputs that are not part of the image, such as a test suite and its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostBind {
    pub host: PathBuf,
    /// A plain absolute path in the image.
    pub dest: String,
    pub writable: bool,
}

impl std::str::FromStr for HostBind {
    type Err = String;
    /// `HOST:DEST` (read-only) or `HOST:DEST:rw`; HOST must exist, DEST is a plain absolute
    /// path (no `..`, no `.`, no empty component).
    fn from_str(s: &str) -> Result<HostBind, String> {
        let (rest, writable) = match s.strip_suffix(":rw") {
            Some(r) => (r, true),
            None => (s.strip_suffix(":ro").unwrap_or(s), false),
        };
        let (host, dest) = rest
            .rsplit_once(':')
            .ok_or_else(|| format!("--bind {s:?}: expected HOST:DEST or HOST:DEST:rw"))?;
        if crate::fsutil::plain_image_path(dest).is_none() || dest == "/" {
            return Err(format!(
                "--bind {s:?}: {dest:?} is not a plain absolute path below / in the image"
            ));
        }
        let host = std::fs::canonicalize(host).map_err(|e| format!("--bind {s:?}: {host}: {e}"))?;
        Ok(HostBind {
            host,
            dest: dest.to_string(),
            writable,
        })
    }
}

/// The arguments of `relsign __enter` (pure) that run `argv` in the sandbox whose init is
/// host pid `pid`, as `user` (with its groups), in `cwd`.
pub fn enter_args(pid: i32, user: &User, cwd: &str, argv: &[String]) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "__enter".into(),
        format!("--pid={pid}"),
        format!("--uid={}", user.uid),
        format!("--gid={}", user.gid),
        format!(
            "--groups={}",
            user.groups
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",")
        ),
        format!("--cwd={cwd}"),
        "--".into(),
    ];
    a.extend(argv.iter().cloned());
    a
}

/// What `relsign __enter` does.
#[derive(Debug, Clone)]
pub struct Enter {
    /// Host pid of the sandbox's init.
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub cwd: String,
    pub argv: Vec<String>,
}

/// The capabilities kept, as a set.
fn kept_caps() -> rustix::thread::CapabilitySet {
    use rustix::thread::CapabilitySet as C;
    C::CHOWN
        | C::DAC_OVERRIDE
        | C::FOWNER
        | C::FSETID
        | C::KILL
        | C::SETGID
        | C::SETUID
        | C::SETPCAP
        | C::NET_BIND_SERVICE
        | C::SYS_CHROOT
        | C::AUDIT_WRITE
}

/// `relsign __enter`, run by relsign (host code, single-threaded) for every process of the
/// sandbox: join the sandbox's namespaces and root, drop to the user (groups, gid, uid), cut
/// the capability bounding set to [`CAPS`], clear the ambient set, set no-new-privileges,
/// change to `cwd` as the user, and only then run the image's program, as a child (so that it
/// is in the sandbox's PID namespace). Returns its exit code; a program killed by a signal
/// is re-raised on the helper when it can be.
pub fn enter(e: &Enter) -> Result<i32, String> {
    use rustix::thread::{self as t, LinkNameSpaceType as N};
    let open = |what: &str| {
        std::fs::File::open(format!("/proc/{}/{what}", e.pid))
            .map_err(|err| format!("opening /proc/{}/{what}: {err}", e.pid))
    };
    let root = open("root")?;
    let spaces = [
        ("ns/cgroup", N::ControlGroup),
        ("ns/ipc", N::InterProcessCommunication),
        ("ns/uts", N::HostNameAndNISDomainName),
        ("ns/net", N::Network),
        ("ns/pid", N::ProcessID),
        ("ns/mnt", N::Mount),
    ];
    let mut fds = Vec::new();
    for (path, ty) in spaces {
        fds.push((path, ty, open(path)?));
    }
    for (path, ty, fd) in &fds {
        t::move_into_link_name_space(fd.as_fd(), Some(*ty))
            .map_err(|err| format!("entering {path} of the sandbox: {err}"))?;
    }
    rustix::process::fchdir(&root).map_err(|err| format!("fchdir to the sandbox's root: {err}"))?;
    rustix::process::chroot(".").map_err(|err| format!("chroot: {err}"))?;
    rustix::process::chdir("/").map_err(|err| format!("chdir /: {err}"))?;
    // Every capability outside the kept set leaves the bounding set (the kernel's unknown
    // ones answer EINVAL), while we still have CAP_SETPCAP.
    let keep = kept_caps();
    for bit in 0..64 {
        let cap = t::CapabilitySet::from_bits_retain(1u64 << bit);
        if keep.contains(cap) {
            continue;
        }
        match t::remove_capability_from_bounding_set(cap) {
            Ok(()) | Err(rustix::io::Errno::INVAL) => {}
            Err(err) => return Err(format!("dropping capability {bit}: {err}")),
        }
    }
    let gids: Vec<rustix::process::Gid> = e
        .groups
        .iter()
        .map(|g| rustix::process::Gid::from_raw(*g))
        .collect();
    t::set_thread_groups(&gids).map_err(|err| format!("setgroups: {err}"))?;
    let gid = rustix::process::Gid::from_raw(e.gid);
    t::set_thread_res_gid(gid, gid, gid).map_err(|err| format!("setresgid {}: {err}", e.gid))?;
    let uid = rustix::process::Uid::from_raw(e.uid);
    t::set_thread_res_uid(uid, uid, uid).map_err(|err| format!("setresuid {}: {err}", e.uid))?;
    if e.uid == 0 {
        t::set_capabilities(
            None,
            t::CapabilitySets {
                effective: keep,
                permitted: keep,
                inheritable: t::CapabilitySet::empty(),
            },
        )
        .map_err(|err| format!("capset: {err}"))?;
    }
    t::clear_ambient_capability_set()
        .map_err(|err| format!("clearing ambient capabilities: {err}"))?;
    t::set_no_new_privs(true).map_err(|err| format!("no_new_privs: {err}"))?;
    rustix::process::chdir(e.cwd.as_str())
        .map_err(|err| format!("cd {} as uid {}: {err}", e.cwd, e.uid))?;
    let (prog, args) = e.argv.split_first().ok_or("no command")?;
    let status = Command::new(prog)
        .args(args)
        .status()
        .map_err(|err| format!("{prog}: {err}"))?;
    use std::os::unix::process::ExitStatusExt;
    if let Some(sig) = status.signal() {
        if let Some(s) = rustix::process::Signal::from_named_raw(sig) {
            let _ = rustix::process::kill_process(rustix::process::getpid(), s);
        }
        return Ok(128 + sig);
    }
    Ok(status.code().unwrap_or(1))
}

/// The groups of `user` in an /etc/group text: its primary group, then every group that
/// lists it, in file order.
pub fn groups_of(group: &str, user: &User) -> Vec<u32> {
    let mut out = vec![user.gid];
    for l in group.lines() {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 4 || !f[3].split(',').any(|m| m == user.name) {
            continue;
        }
        if let Ok(g) = f[2].parse::<u32>() {
            if !out.contains(&g) {
                out.push(g);
            }
        }
    }
    out
}

const READY_LINE: &str = "relsign-sandbox-ready";

/// Open `path` (absolute, in the image) with every symlink resolved inside `root`
/// (`openat2` with `RESOLVE_IN_ROOT`): an absolute link in the image never reaches the host.
fn open_in_root(
    root: &Path,
    path: &str,
    flags: rustix::fs::OFlags,
) -> std::io::Result<std::os::fd::OwnedFd> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    let dir = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    Ok(rustix::fs::openat2(
        &dir,
        rel,
        flags | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )?)
}

fn exists_in_root(root: &Path, path: &str) -> bool {
    open_in_root(root, path, rustix::fs::OFlags::PATH).is_ok()
}

/// Up to the last 256 KiB of a file in the image, as text.
fn read_in_root(root: &Path, path: &str) -> std::io::Result<String> {
    use std::io::Seek;
    let fd = open_in_root(root, path, rustix::fs::OFlags::RDONLY)?;
    let mut f = std::fs::File::from(fd);
    let len = f.metadata()?.len();
    f.seek(std::io::SeekFrom::Start(len.saturating_sub(256 << 10)))?;
    let mut b = Vec::new();
    f.take(256 << 10).read_to_end(&mut b)?;
    Ok(String::from_utf8_lossy(&b).into_owned())
}

/// A running sandbox: the bwrap holding its namespaces, and the host pid of its init.
struct Sandbox {
    bwrap: Child,
    pid: i32,
    /// relsign's executable, run as `relsign __enter`.
    helper: PathBuf,
}

impl Sandbox {
    fn start(rootfs: &Path, binds: &[HostBind], helper: PathBuf) -> Result<Sandbox, ServicesError> {
        let mut bwrap = Command::new("bwrap")
            .args(holder_args(rootfs, binds, &missing_parents(rootfs, binds)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                ServicesError::Message(if e.kind() == std::io::ErrorKind::NotFound {
                    "the sandbox cannot start: bubblewrap (`bwrap`) is not installed".into()
                } else {
                    format!("the sandbox cannot start: running bwrap: {e}")
                })
            })?;
        // The holder's line comes once the sandbox is set up (root, mounts, lo up); the
        // sandbox's init is then bwrap's only child.
        let mut out = std::io::BufReader::new(bwrap.stdout.take().expect("piped"));
        let mut line = String::new();
        let ready = out.read_line(&mut line).unwrap_or(0) > 0 && line.trim_end() == READY_LINE;
        let pid = service_pid(bwrap.id()).filter(|_| ready);
        let Some(pid) = pid else {
            let _ = bwrap.kill();
            let mut err = String::new();
            if let Some(mut e) = bwrap.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            let _ = bwrap.wait();
            return Err(ServicesError::Message(format!(
                "the sandbox cannot start: {}",
                err.trim()
            )));
        };
        Ok(Sandbox { bwrap, pid, helper })
    }

    /// A command that runs `argv` in the sandbox as `user`.
    fn command(
        &self,
        user: &User,
        cwd: &str,
        argv: &[String],
        env: &[(String, String)],
    ) -> Command {
        let mut c = Command::new(&self.helper);
        c.args(enter_args(self.pid, user, cwd, argv))
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)));
        c
    }

    /// Run `f` on a thread inside the sandbox's network namespace.
    fn in_net<T: Send>(&self, f: impl FnOnce() -> T + Send) -> std::io::Result<T> {
        let ns = std::fs::File::open(format!("/proc/{}/ns/net", self.pid))?;
        std::thread::scope(|s| {
            s.spawn(|| {
                rustix::thread::move_into_link_name_space(
                    ns.as_fd(),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )?;
                Ok(f())
            })
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("probe thread panicked")))
        })
    }

    /// The sandbox's network: only `lo`, and loopback works. Returns the interfaces.
    fn check_network(&self) -> Result<Vec<String>, ServicesError> {
        let dev = std::fs::read_to_string(format!("/proc/{}/net/dev", self.pid))
            .map_err(io_err("reading the sandbox's interfaces"))?;
        let ifaces: Vec<String> = dev
            .lines()
            .skip(2)
            .filter_map(|l| l.split(':').next())
            .map(|s| s.trim().to_string())
            .collect();
        if ifaces != ["lo"] {
            return Err(ServicesError::Message(format!(
                "the sandbox's network has interfaces {ifaces:?}; expected only lo"
            )));
        }
        // bwrap brings lo up in the sandbox after it reports the pid: give it a moment.
        let t = Instant::now();
        let ok = loop {
            let ok = self.loopback_works();
            if ok.is_ok() || t.elapsed() > Duration::from_secs(5) {
                break ok;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        ok.map_err(|e| {
            ServicesError::Message(format!("the sandbox's loopback (lo) does not work: {e}"))
        })?;
        Ok(ifaces)
    }

    fn loopback_works(&self) -> std::io::Result<()> {
        self.in_net(|| -> std::io::Result<()> {
            let l = std::net::TcpListener::bind("127.0.0.1:0")?;
            let s = std::net::TcpStream::connect_timeout(&l.local_addr()?, Duration::from_secs(2))?;
            drop(s);
            Ok(())
        })
        .and_then(|r| r)
    }

    fn probe(&self, p: &Probe, user: &User, env: &[(String, String)]) -> Result<bool, String> {
        match p {
            Probe::Tcp(port) => self
                .in_net(|| {
                    std::net::TcpStream::connect_timeout(
                        &(std::net::Ipv4Addr::LOCALHOST, *port).into(),
                        Duration::from_secs(2),
                    )
                    .is_ok()
                })
                .map_err(|e| e.to_string()),
            Probe::Http {
                addr,
                host,
                path,
                expect,
            } => self
                .in_net(|| http_get_following(*addr, host, path))
                .map_err(|e| e.to_string())
                .map(|r| match r {
                    Ok((status, body)) => {
                        status < 400
                            && expect
                                .as_ref()
                                .is_none_or(|e| String::from_utf8_lossy(&body).contains(e))
                    }
                    Err(_) => false,
                }),
            Probe::Command(argv) => {
                let mut c = self.command(user, "/", argv, env);
                let mut child = c
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .map_err(|e| e.to_string())?;
                let t = Instant::now();
                loop {
                    if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
                        return Ok(s.success());
                    }
                    if t.elapsed() > Duration::from_secs(10) {
                        let _ = child.kill();
                        let _ = child.wait();
                        return Ok(false);
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // The init's death ends every process left in the sandbox's PID namespace.
        if let Some(p) = rustix::process::Pid::from_raw(self.pid) {
            let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
        }
        let _ = self.bwrap.kill();
        let _ = self.bwrap.wait();
    }
}

/// A GET over HTTP/1.1 (Connection: close): the status and up to 1 MiB of the response.
fn http_get(addr: std::net::SocketAddr, host: &str, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: relsign\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    s.take(1 << 20).read_to_end(&mut buf)?;
    let status = parse_status(&buf).ok_or_else(|| std::io::Error::other("not an HTTP response"))?;
    Ok((status, buf))
}

/// [`http_get`], following up to 5 redirects that stay on the same server (a `Location` that
/// is a path, or an `http://` URL naming the same host and port): an application's front
/// page often redirects to its first screen.
fn http_get_following(
    addr: std::net::SocketAddr,
    host: &str,
    path: &str,
) -> std::io::Result<(u16, Vec<u8>)> {
    let mut path = path.to_string();
    for _ in 0..5 {
        let (status, resp) = http_get(addr, host, &path)?;
        match (300..400)
            .contains(&status)
            .then(|| redirect_path(&resp, host))
            .flatten()
        {
            Some(next) => path = next,
            None => return Ok((status, resp)),
        }
    }
    http_get(addr, host, &path)
}

/// The path a redirect response points to, when it stays on `host` (which includes the port
/// when not 80): a `Location` that starts with `/`, or `http://HOST/...`.
pub fn redirect_path(resp: &[u8], host: &str) -> Option<String> {
    let head_end = resp.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&resp[..head_end]).ok()?;
    let loc = head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case("location").then(|| v.trim())
    })?;
    let path = if loc.starts_with('/') && !loc.starts_with("//") {
        loc
    } else {
        let rest = loc.strip_prefix("http://")?;
        let (h, p) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if !h.eq_ignore_ascii_case(host) {
            return None;
        }
        if p.is_empty() {
            "/"
        } else {
            p
        }
    };
    (!path.contains(['\r', '\n', ' '])).then(|| path.to_string())
}

/// The status code of an HTTP/1.x response.
pub fn parse_status(resp: &[u8]) -> Option<u16> {
    let line = resp.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut it = line.split_whitespace();
    if !it.next()?.starts_with("HTTP/1.") {
        return None;
    }
    it.next()?.parse().ok()
}

/// The host pid of a process's only child (the helper's program in the sandbox, bwrap's init).
fn service_pid(parent: u32) -> Option<i32> {
    let t = std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children")).ok()?;
    t.split_whitespace().next()?.parse().ok()
}

/// A field of /proc/PID/status ("Uid", "NSpid").
fn proc_status(pid: i32, field: &str) -> Option<String> {
    let t = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    t.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_string())
}

fn describe(s: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => s.to_string(),
    }
}

/// What `relsign run --services` needs.
pub struct RunSpec<'a> {
    /// relsign's executable (for `relsign __enter`).
    pub helper: &'a Path,
    /// The unpacked image, with owners.
    pub rootfs: &'a Path,
    /// Where the services' output goes (on the host).
    pub logs: &'a Path,
    pub services: &'a [ServiceSpec],
    /// Host paths mounted into the sandbox (after the rootfs).
    pub binds: &'a [HostBind],
    /// The image config's Env.
    pub image_env: Vec<(String, String)>,
    /// The image config's WorkingDir (for COMMAND), or `/`.
    pub workdir: String,
    /// COMMAND (empty: run until `stop` is set).
    pub command: Vec<String>,
    /// COMMAND's user (a name in the image).
    pub command_user: String,
    /// COMMAND's extra environment, on top of the image's Env.
    pub command_env: BTreeMap<String, String>,
    /// Commands run in order, each to completion, once every service is ready and before
    /// COMMAND (a suite's fixtures; skipped when `creates` exists); one that fails stops the
    /// run. Their output goes to `setup.log` in `logs`.
    pub setup: &'a [FirstStart],
    /// Set (to a signal number) by the caller's SIGINT/SIGTERM handlers: stop.
    pub stop: &'a AtomicUsize,
}

/// One started service.
struct Running<'a> {
    spec: &'a ServiceSpec,
    child: Child,
    /// Its process on the host (the helper's child), for signals.
    pid: Option<i32>,
    log: PathBuf,
    exited: Option<ExitStatus>,
}

/// What the run did: per service, seconds to ready; COMMAND's exit status.
#[derive(Debug, Default)]
pub struct RunReport {
    pub ready: Vec<(String, f64)>,
    pub code: Option<i32>,
}

/// Start the services, run COMMAND (or wait for a stop signal), stop them.
pub fn run(
    spec: &RunSpec,
    reporter: &dyn crate::report::Reporter,
) -> Result<RunReport, ServicesError> {
    if !rustix::process::geteuid().is_root() {
        return Err(ServicesError::Message(
            "relsign run --services runs each service under its own user, which needs every uid: relsign must run as root (without --services, relsign run needs no root)".into(),
        ));
    }
    let passwd = read_in_root(spec.rootfs, "/etc/passwd")
        .map_err(io_err("reading the image's /etc/passwd"))?;
    let group = read_in_root(spec.rootfs, "/etc/group").unwrap_or_default();
    let user = |name: &str, whose: &str| {
        let mut u = find_user(&passwd, name).ok_or_else(|| {
            ServicesError::Message(format!(
                "{whose}: user `{name}` is not in the image's /etc/passwd"
            ))
        })?;
        u.groups = groups_of(&group, &u);
        Ok::<User, ServicesError>(u)
    };
    // Resolve every user first: a typo fails before anything starts.
    let mut users = BTreeMap::new();
    for s in spec.services {
        users.insert(
            s.user.clone(),
            user(&s.user, &format!("service `{}`", s.name))?,
        );
        for f in &s.first_start {
            users.insert(
                f.user.clone(),
                user(&f.user, &format!("service `{}` first-start", s.name))?,
            );
        }
    }
    for (j, f) in spec.setup.iter().enumerate() {
        users.insert(f.user.clone(), user(&f.user, &format!("setup[{j}]"))?);
    }
    let command_user = user(&spec.command_user, "--user")?;
    std::fs::create_dir_all(spec.logs).map_err(io_err("creating the log directory"))?;
    // The sandbox's /etc/hosts, as a container runtime gives one: its host name resolves
    // (RabbitMQ's node and Celery's default broker are named after it).
    let hosts = spec.logs.join("etc-hosts");
    std::fs::write(&hosts, hosts_file()).map_err(io_err("writing the sandbox's /etc/hosts"))?;
    let mut binds = vec![HostBind {
        host: hosts,
        dest: "/etc/hosts".into(),
        writable: false,
    }];
    binds.extend(spec.binds.iter().cloned());

    let t0 = Instant::now();
    let sandbox = Sandbox::start(spec.rootfs, &binds, spec.helper.to_path_buf())?;
    let ifaces = sandbox.check_network()?;
    reporter.step(&format!(
        "sandbox up: network {} only (loopback works), own PID, IPC, UTS and cgroup namespaces",
        ifaces.join(", ")
    ));

    let mut running: Vec<Running> = Vec::new();
    let mut report = RunReport::default();
    let started = start_all(spec, &sandbox, &users, &mut running, &mut report, reporter);
    let result = match started {
        Err(e) => Err(e),
        Ok(()) => {
            reporter.step(&format!(
                "{} service(s) ready in {:.1} s",
                running.len(),
                t0.elapsed().as_secs_f64()
            ));
            setup(spec, &sandbox, &users, reporter)
                .and_then(|()| run_command(spec, &sandbox, &command_user, &mut running, reporter))
        }
    };
    stop_all(&mut running, reporter);
    drop(sandbox);
    report.code = result?;
    Ok(report)
}

/// The failure of `svc`, with the tails of its output and its log files.
fn failure(spec: &RunSpec, svc: &ServiceSpec, log: &Path, what: String) -> ServicesError {
    let mut text = String::new();
    let out = std::fs::read(log)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let out = tail(&out, TAIL_LINES);
    if out.trim().is_empty() {
        text.push_str("\n(it printed nothing)");
    } else {
        text.push_str(&format!(
            "\n--- its output, last {TAIL_LINES} lines ---\n{out}"
        ));
    }
    for l in &svc.logs {
        match read_in_root(spec.rootfs, l) {
            Ok(t) => text.push_str(&format!(
                "\n--- {l}, last {TAIL_LINES} lines ---\n{}",
                tail(&t, TAIL_LINES)
            )),
            Err(e) => text.push_str(&format!("\n--- {l}: {e}")),
        }
    }
    ServicesError::Service {
        service: svc.name.clone(),
        what,
        log: text,
    }
}

/// Start the services in order, each after its first-start steps, each waited for until
/// ready; the started ones are in `running` (to stop) whatever the outcome.
fn start_all<'a>(
    spec: &RunSpec<'a>,
    sandbox: &Sandbox,
    users: &BTreeMap<String, User>,
    running: &mut Vec<Running<'a>>,
    report: &mut RunReport,
    reporter: &dyn crate::report::Reporter,
) -> Result<(), ServicesError> {
    for svc in spec.services {
        let log = spec.logs.join(format!("{}.log", svc.name));
        first_start(spec, sandbox, users, svc, &log, reporter)?;
        let u = &users[&svc.user];
        let probe = svc.ready.probe().map_err(|why| {
            ServicesError::Message(format!("service `{}`: ready: {why}", svc.name))
        })?;
        reporter.step(&format!(
            "starting {} as {} (uid {}): {}",
            svc.name,
            u.name,
            u.uid,
            svc.command.join(" ")
        ));
        let env = process_env(&spec.image_env, u, &svc.env);
        let (out, err) = open_log(&log)?;
        let t = Instant::now();
        let child = sandbox
            .command(u, &svc.workdir, &svc.command, &env)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            // Its own process group: a terminal's Ctrl-C reaches relsign, which stops it.
            .process_group(0)
            .spawn()
            .map_err(io_err("running relsign __enter"))?;
        running.push(Running {
            spec: svc,
            child,
            pid: None,
            log,
            exited: None,
        });
        let ready = Readiness {
            probe: &probe,
            user: u,
            env: &env,
            since: t,
        };
        wait_ready(spec, sandbox, running, &ready, reporter)?;
        let secs = t.elapsed().as_secs_f64();
        let r = running.last_mut().expect("the service just started");
        // Looked up again now that it is ready: the first child seen may have been a
        // short-lived step of the entry (under load, before the service's own exec).
        if let Some(p) = service_pid(r.child.id()) {
            r.pid = Some(p);
        }
        let (uid, nspid) = pid_ids(r.pid);
        reporter.info(&format!(
            "{} ready in {secs:.1} s ({probe}); pid {nspid} in the sandbox, uid {uid}",
            svc.name
        ));
        report.ready.push((svc.name.clone(), secs));
    }
    Ok(())
}

/// The service's log file, opened for appending, for its stdout and stderr.
fn open_log(log: &Path) -> Result<(std::fs::File, std::fs::File), ServicesError> {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(io_err(format!("opening {}", log.display())))?;
    let err = out.try_clone().map_err(io_err("log"))?;
    Ok((out, err))
}

/// Run one command in the sandbox as `u` from `/`, to completion, its output appended to
/// `log` (a first-start or setup step).
fn run_to_completion(
    sandbox: &Sandbox,
    u: &User,
    argv: &[String],
    env: &[(String, String)],
    log: &Path,
) -> Result<std::process::ExitStatus, ServicesError> {
    let (out, err) = open_log(log)?;
    sandbox
        .command(u, "/", argv, env)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .status()
        .map_err(io_err("running relsign __enter"))
}

/// Run `svc`'s first-start steps in order, each to completion, skipping those whose
/// `creates` path exists in the image.
fn first_start(
    spec: &RunSpec,
    sandbox: &Sandbox,
    users: &BTreeMap<String, User>,
    svc: &ServiceSpec,
    log: &Path,
    reporter: &dyn crate::report::Reporter,
) -> Result<(), ServicesError> {
    for f in &svc.first_start {
        if let Some(c) = &f.creates {
            if exists_in_root(spec.rootfs, c) {
                reporter.info(&format!(
                    "{}: first-start `{}` skipped: {c} exists",
                    svc.name,
                    f.run.join(" ")
                ));
                continue;
            }
        }
        let u = &users[&f.user];
        reporter.info(&format!(
            "{}: first-start `{}` as {}",
            svc.name,
            f.run.join(" "),
            u.name
        ));
        let env = process_env(&spec.image_env, u, &svc.env);
        let status = run_to_completion(sandbox, u, &f.run, &env, log)?;
        if !status.success() {
            return Err(failure(
                spec,
                svc,
                log,
                format!(
                    "did not start: first-start `{}` failed ({})",
                    f.run.join(" "),
                    describe(status)
                ),
            ));
        }
    }
    Ok(())
}

/// Run the setup steps in order, each to completion (skipped when `creates` exists), with
/// the image's Env; a failure names the step with the tail of `setup.log`.
fn setup(
    spec: &RunSpec,
    sandbox: &Sandbox,
    users: &BTreeMap<String, User>,
    reporter: &dyn crate::report::Reporter,
) -> Result<(), ServicesError> {
    let log = spec.logs.join("setup.log");
    for f in spec.setup {
        let cmd = f.run.join(" ");
        if let Some(c) = f
            .creates
            .as_deref()
            .filter(|c| exists_in_root(spec.rootfs, c))
        {
            reporter.info(&format!("setup `{cmd}` skipped: {c} exists"));
            continue;
        }
        let u = &users[&f.user];
        reporter.info(&format!("setup `{cmd}` as {}", u.name));
        let env = process_env(&spec.image_env, u, &BTreeMap::new());
        let status = run_to_completion(sandbox, u, &f.run, &env, &log)?;
        if !status.success() {
            let out = std::fs::read(&log)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            return Err(ServicesError::Message(format!(
                "setup `{cmd}` failed ({}); the end of {}:\n{}",
                describe(status),
                log.display(),
                tail(&out, 20)
            )));
        }
    }
    Ok(())
}

/// How the service last started is probed: its probe, run as its user with its environment,
/// and when it started.
struct Readiness<'r> {
    probe: &'r Probe,
    user: &'r User,
    env: &'r [(String, String)],
    since: Instant,
}

/// Wait until the last service of `running` is ready: an error when it or one started
/// before stops, when its ready-timeout passes, or on a stop signal.
fn wait_ready(
    spec: &RunSpec,
    sandbox: &Sandbox,
    running: &mut [Running],
    ready: &Readiness,
    reporter: &dyn crate::report::Reporter,
) -> Result<(), ServicesError> {
    let n = running.len();
    let (earlier, last) = running.split_at_mut(n - 1);
    let r = &mut last[0];
    let svc = r.spec;
    let probe = ready.probe;
    let mut next_note = 5;
    loop {
        if r.pid.is_none() {
            r.pid = service_pid(r.child.id());
        }
        // A service started before may die while this one starts (uwsgi when its
        // application fails to load): name it, not the one waiting for it.
        for e in earlier.iter_mut() {
            if let Some(s) = e.child.try_wait().map_err(io_err("waiting"))? {
                e.exited = Some(s);
                return Err(failure(
                    spec,
                    e.spec,
                    &e.log,
                    format!(
                        "stopped on its own ({}) while `{}` was starting",
                        describe(s),
                        svc.name
                    ),
                ));
            }
        }
        if let Some(s) = r.child.try_wait().map_err(io_err("waiting"))? {
            r.exited = Some(s);
            return Err(failure(
                spec,
                svc,
                &r.log,
                format!("exited before it was ready ({})", describe(s)),
            ));
        }
        if sandbox.probe(probe, ready.user, ready.env).unwrap_or(false) {
            return Ok(());
        }
        let waited = ready.since.elapsed().as_secs();
        if waited >= svc.ready_timeout {
            return Err(failure(
                spec,
                svc,
                &r.log,
                format!(
                    "was not ready within {} s (ready: {probe})",
                    svc.ready_timeout
                ),
            ));
        }
        if spec.stop.load(Ordering::SeqCst) != 0 {
            return Err(ServicesError::Message(format!(
                "interrupted while waiting for {}",
                svc.name
            )));
        }
        if waited >= next_note {
            reporter.info(&format!(
                "{}: waiting for {probe} ({waited} s of {})",
                svc.name, svc.ready_timeout
            ));
            next_note += 5;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A process's uid and its pid in the sandbox, from /proc (`?` when unknown).
fn pid_ids(pid: Option<i32>) -> (String, String) {
    match pid {
        Some(p) => (
            proc_status(p, "Uid")
                .and_then(|u| u.split_whitespace().next().map(str::to_string))
                .unwrap_or_else(|| "?".into()),
            proc_status(p, "NSpid")
                .and_then(|v| v.split_whitespace().last().map(str::to_string))
                .unwrap_or_else(|| "?".into()),
        ),
        None => ("?".into(), "?".into()),
    }
}

/// COMMAND's exit code, or (without one) None after a stop signal. A service that dies
/// meanwhile is an error.
fn run_command(
    spec: &RunSpec,
    sandbox: &Sandbox,
    user: &User,
    running: &mut [Running],
    reporter: &dyn crate::report::Reporter,
) -> Result<Option<i32>, ServicesError> {
    let died = |running: &mut [Running]| -> Result<Option<ServicesError>, ServicesError> {
        for r in running.iter_mut() {
            if let Some(s) = r.child.try_wait().map_err(io_err("waiting"))? {
                r.exited = Some(s);
                return Ok(Some(failure(
                    spec,
                    r.spec,
                    &r.log,
                    format!("stopped on its own ({})", describe(s)),
                )));
            }
        }
        Ok(None)
    };
    if spec.command.is_empty() {
        reporter.step("services running; SIGINT (Ctrl-C) or SIGTERM stops them");
        loop {
            if spec.stop.load(Ordering::SeqCst) != 0 {
                return Ok(None);
            }
            if let Some(e) = died(running)? {
                return Err(e);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    reporter.step(&format!(
        "running `{}` as {}",
        spec.command.join(" "),
        user.name
    ));
    let env = process_env(&spec.image_env, user, &spec.command_env);
    let mut child = sandbox
        .command(user, &spec.workdir, &spec.command, &env)
        .spawn()
        .map_err(io_err("running relsign __enter"))?;
    let mut forwarded = false;
    let status = loop {
        if let Some(s) = child.try_wait().map_err(io_err("waiting"))? {
            break s;
        }
        let sig = spec.stop.load(Ordering::SeqCst);
        if sig != 0 && !forwarded {
            // A terminal's Ctrl-C reached COMMAND already (same process group); SIGTERM
            // sent to relsign is passed on.
            if let Some(p) = service_pid(child.id()).and_then(rustix::process::Pid::from_raw) {
                let _ = rustix::process::kill_process(p, rustix::process::Signal::TERM);
            }
            forwarded = true;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if let Some(e) = died(running)? {
        reporter.warn(&e.to_string());
    }
    use std::os::unix::process::ExitStatusExt;
    Ok(Some(
        status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
    ))
}

/// Stop in reverse order: the stop signal, a wait, then SIGKILL.
fn stop_all(running: &mut [Running], reporter: &dyn crate::report::Reporter) {
    for r in running.iter_mut().rev() {
        let name = &r.spec.name;
        if let Some(s) = r.exited.or_else(|| r.child.try_wait().ok().flatten()) {
            reporter.info(&format!("{name} had already stopped ({})", describe(s)));
            continue;
        }
        let sig = signal(&r.spec.stop_signal).unwrap_or(rustix::process::Signal::TERM);
        let pid = r.pid.or_else(|| service_pid(r.child.id()));
        let t = Instant::now();
        if let Some(p) = pid.and_then(rustix::process::Pid::from_raw) {
            let _ = rustix::process::kill_process(p, sig);
        }
        let deadline = Duration::from_secs(r.spec.stop_timeout);
        let status = loop {
            match r.child.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) if t.elapsed() < deadline => std::thread::sleep(Duration::from_millis(50)),
                _ => break None,
            }
        };
        match status {
            Some(s) => reporter.info(&format!(
                "stopped {name} (SIG{}): {} after {:.1} s",
                r.spec.stop_signal.trim_start_matches("SIG"),
                describe(s),
                t.elapsed().as_secs_f64()
            )),
            None => {
                if let Some(p) = pid.and_then(rustix::process::Pid::from_raw) {
                    let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
                }
                let _ = r.child.wait();
                reporter.warn(&format!(
                    "{name} did not stop within {} s of SIG{}: killed",
                    r.spec.stop_timeout, r.spec.stop_signal
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(toml_text: &str) -> Vec<ServiceSpec> {
        #[derive(Deserialize)]
        struct W {
            services: Vec<ServiceSpec>,
        }
        toml::from_str::<W>(toml_text).unwrap().services
    }

    const PG: &str = r#"
[[services]]
name = "postgresql"
user = "postgres"
command = ["/usr/lib/postgresql/17/bin/postgres", "-D", "/var/lib/postgresql/17/main"]
first-start = [{ run = ["pg_createcluster", "17", "main"], creates = "/etc/postgresql/17/main" }]
ready = { tcp = 5432 }
stop-signal = "INT"
"#;

    #[test]
    fn parses_defaults_and_round_trips_through_the_label() {
        let s = svc(PG);
        validate(&s).unwrap();
        assert_eq!(s[0].first_start[0].user, "root");
        assert_eq!((s[0].ready_timeout, s[0].stop_timeout), (60, 10));
        assert_eq!(s[0].workdir, "/");
        let label = to_label(&s);
        let labels = BTreeMap::from([(LABEL.to_string(), label.clone())]);
        assert_eq!(from_labels(&labels).unwrap(), s);
        assert_eq!(to_label(&from_labels(&labels).unwrap()), label, "stable");
        assert!(from_labels(&BTreeMap::new()).unwrap().is_empty());
    }

    #[test]
    fn validation_names_the_field() {
        let bad = |edit: &dyn Fn(&mut ServiceSpec)| {
            let mut s = svc(PG);
            edit(&mut s[0]);
            validate(&s).unwrap_err()
        };
        assert_eq!(bad(&|s| s.name = "a b".into()).0, "services[0].name");
        assert_eq!(bad(&|s| s.user = String::new()).0, "services[0].user");
        assert_eq!(bad(&|s| s.command.clear()).0, "services[0].command");
        assert_eq!(
            bad(&|s| s.first_start[0].creates = Some("etc/x".into())).0,
            "services[0].first-start[0].creates"
        );
        assert_eq!(
            bad(&|s| s.first_start[0].run.clear()).0,
            "services[0].first-start[0].run"
        );
        let e = bad(&|s| s.ready.http = Some("http://localhost/".into()));
        assert_eq!(e.0, "services[0].ready");
        assert!(e.1.contains("exactly one"), "{e:?}");
        let e = bad(&|s| {
            s.ready = Ready {
                http: Some("http://example.org/".into()),
                ..Default::default()
            }
        });
        assert!(e.1.contains("only loopback"), "{e:?}");
        let e = bad(&|s| s.ready.expect = Some("x".into()));
        assert!(e.1.contains("expect goes with http"), "{e:?}");
        assert_eq!(bad(&|s| s.ready.tcp = Some(0)).0, "services[0].ready");
        assert_eq!(
            bad(&|s| s.stop_signal = "STOP".into()).0,
            "services[0].stop-signal"
        );
        assert_eq!(bad(&|s| s.ready_timeout = 0).0, "services[0].ready-timeout");
        assert_eq!(
            bad(&|s| s.logs = vec!["/var/../x".into()]).0,
            "services[0].logs[0]"
        );
        assert_eq!(
            bad(&|s| {
                s.env.insert("A-B".into(), "1".into());
            })
            .0,
            "services[0].env"
        );
        let mut two = svc(PG);
        two.push(two[0].clone());
        assert_eq!(validate(&two).unwrap_err().0, "services[1].name");
        // Unknown fields are refused (a typo is not silently ignored).
        let t = PG.replace("stop-signal", "stop-sgnal");
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct W {
            services: Vec<ServiceSpec>,
        }
        assert!(toml::from_str::<W>(&t).is_err());
    }

    #[test]
    fn http_urls_are_loopback_only() {
        let (a, h, p) = parse_http_url("http://localhost/").unwrap();
        assert_eq!(
            (a.to_string(), h.as_str(), p.as_str()),
            ("127.0.0.1:80".into(), "localhost", "/")
        );
        let (a, _, p) = parse_http_url("http://127.0.0.1:8080/interview?i=x").unwrap();
        assert_eq!((a.port(), p.as_str()), (8080, "/interview?i=x"));
        let (a, _, _) = parse_http_url("http://[::1]:81").unwrap();
        assert_eq!(a.to_string(), "[::1]:81");
        for bad in [
            "https://localhost/",
            "http://10.0.0.1/",
            "http://localhost:0/",
            "http://localhost:x/",
            "http://localhost/a b",
        ] {
            assert!(parse_http_url(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_status(b"HTTP/1.1 302 Found\r\n"), Some(302));
        assert_eq!(parse_status(b"SSH-2.0\r\n"), None);
    }

    #[test]
    fn redirects_are_followed_only_on_the_same_server() {
        let r =
            |loc: &str| format!("HTTP/1.1 302 Found\r\nServer: x\r\nLocation: {loc}\r\n\r\nbody");
        let p = |loc: &str, host: &str| redirect_path(r(loc).as_bytes(), host);
        assert_eq!(
            p("/interview?i=a:b.yml", "localhost").as_deref(),
            Some("/interview?i=a:b.yml")
        );
        assert_eq!(
            p("http://localhost/user/sign-in", "localhost").as_deref(),
            Some("/user/sign-in")
        );
        assert_eq!(
            p("http://LOCALHOST:8080", "localhost:8080").as_deref(),
            Some("/")
        );
        assert_eq!(p("http://localhost:8080/x", "localhost").as_deref(), None);
        assert_eq!(p("http://example.test/x", "localhost").as_deref(), None);
        assert_eq!(p("https://localhost/x", "localhost").as_deref(), None);
        assert_eq!(p("//example.test/x", "localhost").as_deref(), None);
        assert_eq!(
            redirect_path(b"HTTP/1.1 302 Found\r\nServer: x\r\n\r\n", "localhost"),
            None
        );
        assert_eq!(
            redirect_path(b"HTTP/1.1 302 Found\r\nLocation: /a", "localhost"),
            None
        );
    }

    #[test]
    fn binds_are_parsed_and_checked() {
        let b: HostBind = "/tmp:/relsign/tests".parse().unwrap();
        assert_eq!((b.dest.as_str(), b.writable), ("/relsign/tests", false));
        let b: HostBind = "/tmp:/out:rw".parse().unwrap();
        assert!(b.writable);
        for bad in [
            "/tmp",
            "/tmp:relative",
            "/tmp:/a/../etc",
            "/tmp:/",
            "/nonexistent-relsign:/x",
        ] {
            assert!(bad.parse::<HostBind>().is_err(), "{bad}");
        }
        let h = holder_args(Path::new("/r"), &["/tmp:/t".parse().unwrap()], &[]).join(" ");
        assert!(h.contains("--ro-bind /tmp /t --chdir"), "{h}");
    }

    #[test]
    fn missing_parents_of_binds_are_made_reachable() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("home/app")).unwrap();
        std::fs::write(root.path().join("file"), "").unwrap();
        let binds: Vec<HostBind> = [
            "/tmp:/home/jpyle/da/tests",
            "/tmp:/home/app/x",
            "/tmp:/file/y",
            "/tmp:/home/jpyle/other",
        ]
        .iter()
        .map(|b| b.parse().unwrap())
        .collect();
        let p = missing_parents(root.path(), &binds);
        assert_eq!(p, ["/home/jpyle", "/home/jpyle/da"]);
        let h = holder_args(root.path(), &binds, &p).join(" ");
        assert!(
            h.contains("--perms 0755 --dir /home/jpyle --perms 0755 --dir /home/jpyle/da --ro-bind /tmp /home/jpyle/da/tests"),
            "{h}"
        );
    }

    #[test]
    fn users_env_and_argv() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\npostgres:x:100:102:PostgreSQL administrator:/var/lib/postgresql:/bin/bash\n";
        let pg = find_user(passwd, "postgres").unwrap();
        assert_eq!(
            (pg.uid, pg.gid, pg.home.as_str()),
            (100, 102, "/var/lib/postgresql")
        );
        assert!(find_user(passwd, "redis").is_none());
        let env = process_env(
            &[
                ("PATH".into(), "/opt/venv/bin:/usr/bin".into()),
                ("HOME".into(), "/x".into()),
            ],
            &pg,
            &BTreeMap::from([("PGDATA".to_string(), "/d".to_string())]),
        );
        let get = |k: &str| env.iter().find(|(ek, _)| ek == k).map(|(_, v)| v.as_str());
        assert_eq!(get("PATH"), Some("/opt/venv/bin:/usr/bin"));
        assert_eq!(
            get("HOME"),
            Some("/var/lib/postgresql"),
            "the user's home wins"
        );
        assert_eq!(get("USER"), Some("postgres"));
        assert_eq!(get("PGDATA"), Some("/d"));
        let group =
            "ssl-cert:x:101:postgres\npostgres:x:102:\nother:x:7:app,postgres\nx:x:8:postgresql\n";
        assert_eq!(groups_of(group, &pg), vec![102, 101, 7]);
        let pg = User {
            groups: groups_of(group, &pg),
            ..pg
        };
        let a = enter_args(
            42,
            &pg,
            "/home/app",
            &["pg_isready".to_string(), "-q".to_string()],
        )
        .join(" ");
        assert_eq!(
            a,
            "__enter --pid=42 --uid=100 --gid=102 --groups=102,101,7 --cwd=/home/app -- pg_isready -q"
        );
        let keep = kept_caps();
        assert_eq!(keep.bits().count_ones() as usize, CAPS.len());
        assert!(!keep.contains(rustix::thread::CapabilitySet::SYS_ADMIN));
        assert!(!keep.contains(rustix::thread::CapabilitySet::MKNOD));
        let h = holder_args(Path::new("/r"), &[], &[]).join(" ");
        assert!(
            h.contains("--unshare-net")
                && !h.contains("--unshare-user")
                && !h.contains("--cap-add"),
            "{h}"
        );
        assert!(h.contains("--bind /r /"), "{h}");
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
    }
}
