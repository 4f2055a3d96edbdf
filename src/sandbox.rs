//! Run a step inside a rootfs with no network, under bubblewrap.
//!
//! Every namespace is unshared (`--unshare-all`: network, IPC, PID, UTS, cgroup, user where
//! possible), the environment is cleared and replaced by a fixed one (HOME, TZ=UTC,
//! LC_ALL=C.UTF-8, PATH, SOURCE_DATE_EPOCH), the rootfs and the store are mounted read-only,
//! and source/output live at fixed paths. If the sandbox cannot start, the step fails and says
//! why; there is no unsandboxed fallback.
//!
//! bwrap cannot set the umask; the steps relsign runs are Python drivers that set umask 022
//! as their first action (see `python/pep517_driver.py`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("the sandbox cannot start: bubblewrap (`bwrap`) is not installed; install the Debian package `bubblewrap`")]
    NoBwrap,
    #[error("the sandbox cannot start: {reason}")]
    CannotStart { reason: String },
    #[error("step `{step}` failed in the sandbox ({status}):\n{log}")]
    StepFailed {
        step: String,
        status: String,
        log: String,
    },
    #[error("running bwrap: {0}")]
    Io(#[source] std::io::Error),
}

/// A bind mount from the host into the sandbox.
#[derive(Debug, Clone)]
pub struct Bind {
    pub host: PathBuf,
    pub dest: String,
    pub writable: bool,
}

/// One step to run, as data.
#[derive(Debug, Clone)]
pub struct Step {
    /// A short name used in errors and logs.
    pub name: String,
    pub rootfs: PathBuf,
    pub binds: Vec<Bind>,
    /// Extra environment on top of the fixed one.
    pub env: Vec<(String, String)>,
    pub cwd: String,
    pub argv: Vec<String>,
    /// Run the step as this uid/gid in a user namespace (root when None).
    pub uid: Option<u32>,
    /// Run as the host's real root, with no user namespace (so every uid and gid exists and
    /// `chown` works) and every capability, over a writable rootfs: for `dpkg --install`
    /// running maintainer scripts, which create users and hand files to them. Needs relsign
    /// to run as root; network, IPC, PID, UTS and cgroup namespaces are still unshared.
    pub system: bool,
}

/// The captured result of a step that exited 0.
#[derive(Debug)]
pub struct Output {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// The fixed environment every step gets.
pub fn base_env() -> Vec<(String, String)> {
    [
        ("HOME", "/tmp/home"),
        ("TZ", "UTC"),
        ("LC_ALL", "C.UTF-8"),
        ("LANG", "C.UTF-8"),
        ("PATH", "/usr/local/bin:/usr/bin:/bin"),
        ("PYTHONHASHSEED", "0"),
        ("PYTHONDONTWRITEBYTECODE", "1"),
        ("PYTHONNOUSERSITE", "1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The bwrap argument list for a step (pure; unit-tested).
pub fn bwrap_args(step: &Step) -> Vec<String> {
    let mut a: Vec<String> = if step.system {
        [
            "--unshare-net",
            "--unshare-ipc",
            "--unshare-pid",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--cap-add",
            "ALL",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    } else {
        vec!["--unshare-all".into()]
    };
    a.extend([
        "--die-with-parent".into(),
        "--new-session".into(),
        "--clearenv".into(),
        "--hostname".into(),
        "relsign".into(),
        if step.system { "--bind" } else { "--ro-bind" }.into(),
        step.rootfs.display().to_string(),
        "/".into(),
        "--proc".into(),
        "/proc".into(),
        "--dev".into(),
        "/dev".into(),
        "--tmpfs".into(),
        "/tmp".into(),
        "--dir".into(),
        "/tmp/home".into(),
    ]);
    if let Some(uid) = step.uid {
        a.extend([
            "--unshare-user".into(),
            "--uid".into(),
            uid.to_string(),
            "--gid".into(),
            uid.to_string(),
        ]);
    }
    for b in &step.binds {
        a.push(if b.writable { "--bind" } else { "--ro-bind" }.into());
        a.push(b.host.display().to_string());
        a.push(b.dest.clone());
    }
    let mut env = base_env();
    for (k, v) in &step.env {
        env.retain(|(ek, _)| ek != k);
        env.push((k.clone(), v.clone()));
    }
    for (k, v) in env {
        a.extend(["--setenv".into(), k, v]);
    }
    a.extend(["--chdir".into(), step.cwd.clone(), "--".into()]);
    a.extend(step.argv.iter().cloned());
    a
}

/// What a step printed and how it exited (it may have failed).
#[derive(Debug)]
pub struct RawOutput {
    /// The step's exit code (None when killed by a signal).
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Run a step and capture its output, whatever its exit status. Only a sandbox that cannot
/// start is an error.
pub fn run_capture(step: &Step) -> Result<RawOutput, SandboxError> {
    if step.system && !rustix::process::geteuid().is_root() {
        return Err(SandboxError::CannotStart {
            reason: format!(
                "step `{}` runs maintainer scripts, which create users and give them files: it needs every uid, so relsign must run as root (or set the recipe's image.scripts = false)",
                step.name
            ),
        });
    }
    prepare_mount_points(step)?;
    let args = bwrap_args(step);
    let out = Command::new("bwrap")
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                SandboxError::NoBwrap
            } else {
                SandboxError::Io(e)
            }
        })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        // bwrap's own failures are prefixed "bwrap: " and happen before the step runs.
        if let Some(line) = stderr.lines().find(|l| l.starts_with("bwrap: ")) {
            return Err(SandboxError::CannotStart {
                reason: explain_bwrap(line),
            });
        }
    }
    Ok(RawOutput {
        code: out.status.code(),
        stdout: out.stdout,
        stderr: out.stderr,
    })
}

/// Run a step and capture its output. A non-zero exit is `StepFailed` with the log tail.
pub fn run(step: &Step) -> Result<Output, SandboxError> {
    let out = run_capture(step)?;
    if out.code == Some(0) {
        return Ok(Output {
            stdout: out.stdout,
            stderr: out.stderr,
        });
    }
    let mut log = String::from_utf8_lossy(&out.stdout).into_owned();
    log.push_str(&String::from_utf8_lossy(&out.stderr));
    let tail: Vec<&str> = log.lines().rev().take(60).collect();
    let log = tail.into_iter().rev().collect::<Vec<_>>().join("\n");
    let status = match out.code {
        Some(c) => format!("exit status {c}"),
        None => "killed by a signal".into(),
    };
    Err(SandboxError::StepFailed {
        step: step.name.clone(),
        status,
        log,
    })
}

/// The rootfs is mounted read-only, so bind-mount targets must exist in it beforehand.
fn prepare_mount_points(step: &Step) -> Result<(), SandboxError> {
    for b in &step.binds {
        let target = step.rootfs.join(b.dest.trim_start_matches('/'));
        if target.symlink_metadata().is_ok() {
            continue;
        }
        let res = if b.host.is_dir() {
            std::fs::create_dir_all(&target)
        } else {
            std::fs::create_dir_all(target.parent().unwrap_or(&step.rootfs))
                .and_then(|_| std::fs::write(&target, b""))
        };
        res.map_err(|e| SandboxError::CannotStart {
            reason: format!("creating mount point {}: {e}", target.display()),
        })?;
    }
    Ok(())
}

fn explain_bwrap(line: &str) -> String {
    let l = line.to_ascii_lowercase();
    let hint = if l.contains("namespace")
        || l.contains("operation not permitted")
        || l.contains("permission denied")
    {
        " (user namespaces may be disabled: check `sysctl kernel.unprivileged_userns_clone` and \
         `user.max_user_namespaces`, or run inside a container that allows them)"
    } else {
        ""
    };
    format!("{line}{hint}")
}

/// Check that a rootfs has the interpreter a step needs, with a clear error otherwise.
pub fn require_in_rootfs(rootfs: &Path, path: &str) -> Result<(), SandboxError> {
    let p = rootfs.join(path.trim_start_matches('/'));
    if p.exists() || p.symlink_metadata().is_ok() {
        Ok(())
    } else {
        Err(SandboxError::CannotStart {
            reason: format!(
                "{path} is missing from the rootfs {}; is it in the toolchain's packages?",
                rootfs.display()
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn args_clear_env_unshare_and_bind_readonly() {
        let s = Step {
            uid: None,
            system: false,
            name: "t".into(),
            rootfs: "/r".into(),
            binds: vec![Bind {
                host: "/store".into(),
                dest: "/store".into(),
                writable: false,
            }],
            env: vec![("TZ".into(), "Europe/Paris".into())],
            cwd: "/src".into(),
            argv: vec!["/usr/bin/python3".into()],
        };
        let a = bwrap_args(&s).join(" ");
        assert!(a.starts_with("--unshare-all --die-with-parent --new-session --clearenv"));
        assert!(a.contains("--ro-bind /store /store"));
        assert!(a.contains("--setenv TZ Europe/Paris") && !a.contains("--setenv TZ UTC"));
        assert!(a.ends_with("--chdir /src -- /usr/bin/python3"));
    }
}
