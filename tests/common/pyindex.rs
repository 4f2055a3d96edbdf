//! A PyPI-style index for the tests: pypiserver from the test venv on 127.0.0.1 with a free
//! port, an htpasswd (bcrypt) for uploads, `--disable-fallback`, packages in a temp dir.
//! Stopped (by PID) when dropped.

use super::*;

/// An htpasswd line with a bcrypt hash (the test venv's bcrypt; docker-registry and
/// pypiserver both read it).
pub fn htpasswd(user: &str, pass: &str) -> String {
    let py = venv().join("bin/python");
    let o = Command::new(&py)
        .args([
            "-c",
            "import bcrypt,sys; print(sys.argv[1] + ':' + bcrypt.hashpw(sys.argv[2].encode(), bcrypt.gensalt(rounds=5)).decode())",
            user,
            pass,
        ])
        .output()
        .expect("run the test venv's python");
    assert!(
        o.status.success(),
        "bcrypt is missing from the test venv ({}): run `cargo xtask test`: {}",
        py.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

pub struct PyIndex {
    pub port: u16,
    child: std::process::Child,
    dir: tempfile::TempDir,
}

impl PyIndex {
    /// pypiserver requiring `user`/`pass` for uploads (downloads are open).
    pub fn pypiserver(user: &str, pass: &str) -> PyIndex {
        let server = venv().join("bin/pypi-server");
        assert!(
            server.is_file(),
            "pypiserver is missing from the test venv ({}): run `cargo xtask test`",
            server.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let ht = dir.path().join("htpasswd");
        std::fs::write(&ht, htpasswd(user, pass)).unwrap();
        std::fs::create_dir_all(dir.path().join("packages")).unwrap();
        let port = free_port();
        let child = Command::new(server)
            .args(["run", "--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--disable-fallback", "-a", "update", "-P"])
            .arg(&ht)
            .arg(dir.path().join("packages"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start pypi-server");
        let idx = PyIndex { port, child, dir };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "pypi-server did not start on 127.0.0.1:{port}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        idx
    }

    pub fn upload_url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    pub fn simple_url(&self) -> String {
        format!("http://127.0.0.1:{}/simple/", self.port)
    }

    pub fn packages_dir(&self) -> PathBuf {
        self.dir.path().join("packages")
    }
}

impl Drop for PyIndex {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// devpi-server (from the test venv) on 127.0.0.1 with a user and a non-volatile index
/// (`volatile=False`: a file once uploaded can never be replaced), set up with devpi-client.
pub struct Devpi {
    pub port: u16,
    pub user: String,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Devpi {
    pub fn start(user: &str, pass: &str) -> Devpi {
        let bin = venv().join("bin");
        assert!(
            bin.join("devpi-server").is_file() && bin.join("devpi").is_file(),
            "devpi-server/devpi-client are missing from the test venv ({}): run `cargo xtask test`",
            bin.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let server_dir = dir.path().join("server");
        run_ok({
            let mut c = Command::new(bin.join("devpi-init"));
            c.arg("--serverdir")
                .arg(&server_dir)
                .args(["--root-passwd", "root-TEST-ONLY"]);
            c
        });
        let port = free_port();
        let child = Command::new(bin.join("devpi-server"))
            .arg("--serverdir")
            .arg(&server_dir)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start devpi-server");
        let d = Devpi {
            port,
            user: user.to_string(),
            child,
            _dir: dir,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "devpi-server did not start on 127.0.0.1:{port}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let client_dir = d._dir.path().join("client");
        let devpi = |args: &[&str]| {
            let mut c = Command::new(bin.join("devpi"));
            c.args(args).env("DEVPI_CLIENTDIR", &client_dir);
            run_ok(c);
        };
        devpi(&["use", &format!("http://127.0.0.1:{port}")]);
        devpi(&["login", "root", "--password", "root-TEST-ONLY"]);
        devpi(&["user", "-c", user, &format!("password={pass}")]);
        devpi(&["login", user, "--password", pass]);
        devpi(&["index", "-c", "dev", "volatile=False", "bases="]);
        d
    }

    pub fn upload_url(&self) -> String {
        format!("http://127.0.0.1:{}/{}/dev/", self.port, self.user)
    }

    pub fn simple_url(&self) -> String {
        format!("http://127.0.0.1:{}/{}/dev/+simple/", self.port, self.user)
    }
}

impl Drop for Devpi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
