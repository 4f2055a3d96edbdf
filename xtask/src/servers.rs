//! Loopback servers the xtasks start and stop: `docker-registry` and pypiserver, each on a
//! free port of 127.0.0.1 with its data in its own directory, killed (by its child handle) and
//! removed when dropped.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    child: Child,
    pub port: u16,
    _dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self._dir);
    }
}

pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub fn wait_port(port: u16, what: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("{what} did not start on 127.0.0.1:{port}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

pub fn registry(work: &Path, n: usize) -> Result<Server> {
    let dir = work.join(format!("registry-{n}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let port = free_port()?;
    let cfg = dir.join("config.yml");
    std::fs::write(
        &cfg,
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.join("data").display()
        ),
    )?;
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting docker-registry (apt install docker-registry)")?;
    let s = Server {
        child,
        port,
        _dir: dir,
    };
    wait_port(port, "docker-registry")?;
    Ok(s)
}

pub fn pypiserver(venv: &Path, work: &Path, n: usize) -> Result<Server> {
    let dir = work.join(format!("pypiserver-{n}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("packages"))?;
    let port = free_port()?;
    // No authentication: both clients send the same (ignored) credentials.
    let child = Command::new(venv.join("bin/pypi-server"))
        .args(["run", "--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--disable-fallback", "-a", ".", "-P", "."])
        .arg(dir.join("packages"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting pypi-server from the xtask venv")?;
    let s = Server {
        child,
        port,
        _dir: dir,
    };
    wait_port(port, "pypi-server")?;
    Ok(s)
}
