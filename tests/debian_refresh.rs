//! A moving Debian archive (issue 15), against a local mirror whose InRelease is signed with a
//! TEST-ONLY key made here with gpg: an expired Valid-Until is refused (and accepted with the
//! override), Conflicts steer the resolver or are reported, `relsign fetch` falls back to a
//! snapshot stand-in laid out by timestamp, and `relsign lock --refresh` moves only what
//! vanished. Mirrors are file:// directories or a small static HTTP server on 127.0.0.1 (GET
//! and HEAD, 404 for what is not there).

mod common;
use common::*;
use relsign::digest::Sha256Hex;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

// ---------------------------------------------------------------------------------------------
// A signing key and a signed suite.

/// A TEST-ONLY OpenPGP key in its own GNUPGHOME, and the keyring gpgv checks against. The
/// gpg-agent this starts is stopped when dropped.
struct ArchiveKey {
    home: PathBuf,
    keyring: PathBuf,
}

impl ArchiveKey {
    fn new(dir: &Path) -> ArchiveKey {
        require_tool("gpg");
        require_tool("gpgv");
        let home = dir.join("gnupg");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        let key = ArchiveKey {
            keyring: dir.join("archive-keyring.gpg"),
            home,
        };
        key.gpg(&[
            "--quick-generate-key",
            "relsign test archive (TEST ONLY) <archive@relsign.invalid>",
            "ed25519",
            "sign",
            "never",
        ]);
        let out = key.gpg(&["--export"]);
        assert!(!out.stdout.is_empty(), "gpg --export gave no key");
        std::fs::write(&key.keyring, &out.stdout).unwrap();
        key
    }

    fn gpg(&self, args: &[&str]) -> Output {
        let out = Command::new("gpg")
            .env("GNUPGHOME", &self.home)
            .args([
                "--batch",
                "--no-tty",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
            ])
            .args(args)
            .output()
            .expect("run gpg");
        assert!(
            out.status.success(),
            "gpg {args:?} failed (gpg and gpg-agent are needed: `cargo xtask test` installs them): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// `Release` → `InRelease` (clearsigned, SHA256).
    fn clearsign(&self, release: &Path, inrelease: &Path) {
        let _ = std::fs::remove_file(inrelease);
        self.gpg(&[
            "--digest-algo",
            "SHA256",
            "--clearsign",
            "--output",
            inrelease.to_str().unwrap(),
            release.to_str().unwrap(),
        ]);
    }
}

impl Drop for ArchiveKey {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", &self.home)
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

/// One binary package of the test suite.
#[derive(Clone)]
struct Pkg {
    name: &'static str,
    version: &'static str,
    /// Extra control lines (`Depends: …`, `Conflicts: …`).
    fields: &'static str,
}

fn pkg(name: &'static str, version: &'static str, fields: &'static str) -> Pkg {
    Pkg {
        name,
        version,
        fields,
    }
}

impl Pkg {
    fn filename(&self) -> String {
        format!(
            "pool/main/{}/{}/{}_{}_amd64.deb",
            &self.name[..1],
            self.name,
            self.name,
            self.version.replace(':', "%3a")
        )
    }
    /// The stand-in .deb bytes (nothing here unpacks them).
    fn bytes(&self) -> Vec<u8> {
        format!(
            "{} {} amd64 (TEST ONLY stand-in .deb)\n",
            self.name, self.version
        )
        .into_bytes()
    }
    fn sha256(&self) -> Sha256Hex {
        Sha256Hex::of(&self.bytes())
    }
}

const SUITE: &str = "trixie";

/// Lay out `root` as a signed mirror of suite trixie, main, amd64: `pool/` holds `pool`, the
/// index lists `index`, `Date` and `Valid-Until` are as given (RFC 2822).
fn write_suite(
    root: &Path,
    key: &ArchiveKey,
    index: &[Pkg],
    pool: &[Pkg],
    date: &str,
    valid_until: Option<&str>,
) {
    let _ = std::fs::remove_dir_all(root.join("pool"));
    let _ = std::fs::remove_dir_all(root.join("dists"));
    for p in pool {
        let f = root.join(p.filename());
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, p.bytes()).unwrap();
    }
    let mut packages = String::new();
    for p in index {
        packages.push_str(&format!(
            "Package: {}\nVersion: {}\nArchitecture: amd64\n",
            p.name, p.version
        ));
        for l in p.fields.lines().filter(|l| !l.trim().is_empty()) {
            packages.push_str(l.trim());
            packages.push('\n');
        }
        packages.push_str(&format!(
            "Filename: {}\nSize: {}\nSHA256: {}\nDescription: test package\n\n",
            p.filename(),
            p.bytes().len(),
            p.sha256()
        ));
    }
    let dists = root.join("dists").join(SUITE);
    let bin = dists.join("main/binary-amd64");
    std::fs::create_dir_all(&bin).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(packages.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    std::fs::write(bin.join("Packages.gz"), &gz).unwrap();
    std::fs::write(bin.join("Packages"), &packages).unwrap();
    let mut release = format!(
        "Origin: relsign-test\nLabel: relsign-test (TEST ONLY)\nSuite: {SUITE}\nCodename: {SUITE}\nDate: {date}\n"
    );
    if let Some(v) = valid_until {
        release.push_str(&format!("Valid-Until: {v}\n"));
    }
    release.push_str("Architectures: amd64\nComponents: main\nSHA256:\n");
    for (rel, bytes) in [
        ("main/binary-amd64/Packages.gz", gz.as_slice()),
        ("main/binary-amd64/Packages", packages.as_bytes()),
    ] {
        release.push_str(&format!(
            " {} {} {rel}\n",
            Sha256Hex::of(bytes),
            bytes.len()
        ));
    }
    std::fs::write(dists.join("Release"), release).unwrap();
    key.clearsign(&dists.join("Release"), &dists.join("InRelease"));
}

/// A recipe in `dir` whose toolchain asks for `packages` from `mirror` (no Python pins).
fn write_recipe(
    dir: &Path,
    mirror: &str,
    keyring: &Path,
    packages: &[&str],
    extra: &str,
) -> PathBuf {
    std::fs::create_dir_all(dir.join("pkg")).unwrap();
    // An in-tree build backend that requires nothing: no build pins to lock from an index.
    std::fs::write(
        dir.join("pkg/pyproject.toml"),
        "[build-system]\nrequires = []\nbuild-backend = \"backend\"\nbackend-path = [\".\"]\n",
    )
    .unwrap();
    let list: Vec<String> = packages.iter().map(|p| format!("{p:?}")).collect();
    let text = format!(
        r#"[release]
name = "moving-archive"
version = "1.0"
[python]
version = "3.13"
glibc = "2.41"
lock = "pylock.toml"
index-urls = ["file:///nonexistent/simple"]
[[package]]
name = "pkg"
path = "pkg"
[toolchain]
suite = "{SUITE}"
packages = [{}]
lock = "deb.lock.toml"
mirrors = ["{mirror}"]
keyring = "{}"
{extra}
"#,
        list.join(", "),
        keyring.display()
    );
    let path = dir.join("recipe.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// relsign with a private store.
fn rs(store: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env("RELSIGN_STORE", store)
        .env_remove(relsign::snapshot::ENV)
        .output()
        .unwrap()
}

fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "failed: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    out
}

fn read_lock(path: &Path) -> relsign::lock::debian::DebianLock {
    relsign::lock::debian::DebianLock::read(path).unwrap()
}

fn version_of(lock: &relsign::lock::debian::DebianLock, name: &str) -> Option<String> {
    lock.packages
        .iter()
        .find(|p| p.name == name)
        .map(|p| p.version.clone())
}

// ---------------------------------------------------------------------------------------------
// A static file server on loopback: GET and HEAD, 404 for a missing file. Stops when dropped.

struct StaticServer {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    heads: Arc<std::sync::atomic::AtomicUsize>,
}

impl StaticServer {
    fn start(root: &Path) -> StaticServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let heads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (root, stop2, heads2) = (root.to_path_buf(), stop.clone(), heads.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut conn) = conn else { continue };
                let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(10)));
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                // Skip the headers.
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                        break;
                    }
                }
                let mut w = line.split_whitespace();
                let (method, path) = (w.next().unwrap_or(""), w.next().unwrap_or("/"));
                if method == "HEAD" {
                    heads2.fetch_add(1, Ordering::SeqCst);
                }
                let rel = path.trim_start_matches('/');
                let file = root.join(rel);
                let body = if rel.split('/').any(|c| c == "..") {
                    None
                } else {
                    std::fs::read(&file).ok().filter(|_| file.is_file())
                };
                let resp = match body {
                    Some(b) => {
                        let mut r = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            b.len()
                        )
                        .into_bytes();
                        if method != "HEAD" {
                            r.extend_from_slice(&b);
                        }
                        r
                    }
                    None => {
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_vec()
                    }
                };
                let _ = conn.write_all(&resp);
                let _ = conn.flush();
                let mut rest = Vec::new();
                let _ = conn.shutdown(std::net::Shutdown::Write);
                let _ = reader.read_to_end(&mut rest);
            }
        });
        StaticServer {
            port,
            stop,
            thread: Some(thread),
            heads,
        }
    }
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------

const DATE: &str = "Tue, 01 Dec 2026 00:00:00 UTC";
const TIMESTAMP: &str = "20261201T000000Z";
const LATER: &str = "Fri, 01 Jan 2027 12:30:00 UTC";
const LATER_TIMESTAMP: &str = "20270101T123000Z";

#[test]
fn expired_valid_until_is_refused_and_accepted_with_the_override() {
    let t = tempfile::tempdir().unwrap();
    let key = ArchiveKey::new(t.path());
    let mirror = t.path().join("mirror");
    let pkgs = [pkg("app", "1.0", "Depends: lib"), pkg("lib", "2.0", "")];
    let old_date = "Sun, 01 Nov 2020 00:00:00 UTC";
    let expired = "Tue, 01 Dec 2020 00:00:00 UTC";
    write_suite(&mirror, &key, &pkgs, &pkgs, old_date, Some(expired));
    let mirror_url = format!("file://{}", mirror.display());
    let dir = t.path().join("r");
    let recipe = write_recipe(&dir, &mirror_url, &key.keyring, &["app"], "");
    let store = t.path().join("store");

    let out = rs(&store, &["lock", recipe.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("{mirror_url}/dists/{SUITE}/InRelease"))
            && err.contains("Valid-Until")
            && err.contains(expired)
            && err.contains("2020-12-01T00:00:00Z")
            && err.contains("current time is 20")
            && err.contains("--allow-expired-release"),
        "names the URL, the field and both times: {err}"
    );
    assert!(!dir.join("deb.lock.toml").exists(), "no lock written");

    // The flag accepts it, says so, and the lock records the snapshot of the Date.
    let out = ok(rs(
        &store,
        &["lock", "--allow-expired-release", recipe.to_str().unwrap()],
    ));
    assert!(stderr(&out).contains("has passed"), "{}", stderr(&out));
    let lock = read_lock(&dir.join("deb.lock.toml"));
    assert_eq!(lock.snapshot.as_deref(), Some("20201101T000000Z"));
    assert_eq!(version_of(&lock, "lib").as_deref(), Some("2.0"));
    let text = std::fs::read_to_string(dir.join("deb.lock.toml")).unwrap();
    assert!(text.contains("snapshot = \"20201101T000000Z\""), "{text}");

    // So does the recipe key.
    std::fs::remove_file(dir.join("deb.lock.toml")).unwrap();
    let recipe = write_recipe(
        &dir,
        &mirror_url,
        &key.keyring,
        &["app"],
        "allow-expired-release = true",
    );
    ok(rs(&store, &["lock", recipe.to_str().unwrap()]));
    assert!(dir.join("deb.lock.toml").is_file());

    // A Valid-Until apt could not read is an error, whatever the override.
    write_suite(&mirror, &key, &pkgs, &pkgs, DATE, Some("next Tuesday"));
    let recipe = write_recipe(&dir, &mirror_url, &key.keyring, &["app"], "");
    let out = rs(
        &store,
        &["lock", "--allow-expired-release", recipe.to_str().unwrap()],
    );
    assert!(
        !out.status.success()
            && stderr(&out).contains("Valid-Until")
            && stderr(&out).contains("next Tuesday"),
        "an unreadable Valid-Until is an error: {}",
        stderr(&out)
    );
    // A Valid-Until in the future is fine without either.
    write_suite(
        &mirror,
        &key,
        &pkgs,
        &pkgs,
        DATE,
        Some("Fri, 01 Dec 2102 00:00:00 UTC"),
    );
    let out = ok(rs(&store, &["lock", recipe.to_str().unwrap()]));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("snapshot {TIMESTAMP}")),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // --help shows the flags with examples.
    let help = ok(rs(&store, &["lock", "--help"]));
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("--allow-expired-release") && help.contains("relsign lock --refresh"),
        "{help}"
    );
}

#[test]
fn conflicts_are_steered_away_from_or_reported() {
    let t = tempfile::tempdir().unwrap();
    let key = ArchiveKey::new(t.path());
    let mirror = t.path().join("mirror");
    let pkgs = [
        pkg("guard", "1.0", "Conflicts: alpha"),
        pkg("app", "1.0", "Depends: alpha | beta, mta"),
        pkg("alpha", "1.0", ""),
        pkg("beta", "1.0", ""),
        // exim Conflicts with the virtual package it provides (the "replaces" idiom): no
        // conflict with itself. postfix Breaks an older guard only.
        pkg("exim", "4.9", "Provides: mta\nConflicts: mta"),
        pkg("postfix", "3.7", "Provides: mta\nBreaks: guard (<< 1.0)"),
        pkg("strict", "1.0", "Breaks: exim, postfix"),
    ];
    write_suite(&mirror, &key, &pkgs, &pkgs, DATE, None);
    let mirror_url = format!("file://{}", mirror.display());
    let dir = t.path().join("r");
    let store = t.path().join("store");

    // guard Conflicts with alpha: app's `alpha | beta` takes beta.
    let recipe = write_recipe(&dir, &mirror_url, &key.keyring, &["guard", "app"], "");
    let out = ok(rs(&store, &["lock", recipe.to_str().unwrap()]));
    let lock = read_lock(&dir.join("deb.lock.toml"));
    let names: Vec<&str> = lock.packages.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        vec!["app", "beta", "exim", "guard"],
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("passed over alpha 1.0 (guard 1.0 Conflicts: alpha)"),
        "{}",
        stderr(&out)
    );

    // strict Breaks every mail transport: app cannot be installed, and the error names the
    // packages and the relation.
    let recipe = write_recipe(&dir, &mirror_url, &key.keyring, &["strict", "app"], "");
    let out = rs(&store, &["lock", recipe.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("exim 4.9 and strict 1.0 cannot be installed together")
            && err.contains("strict 1.0 Breaks: exim")
            && err.contains("postfix 3.7 (strict 1.0 Breaks: postfix)")
            && err.contains("app 1.0 needs `mta`"),
        "{err}"
    );

    // Two requested packages in conflict.
    let recipe = write_recipe(&dir, &mirror_url, &key.keyring, &["guard", "alpha"], "");
    let out = rs(&store, &["lock", recipe.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(
        err.contains("alpha 1.0 and guard 1.0 cannot be installed together: guard 1.0 Conflicts: alpha (the recipe needs `alpha`"),
        "{err}"
    );
}

/// The suite before and after the archive moved: lib 1.0 has left (pool and index) for 1.1 and
/// 1.2; other 1.0 is still in the pool although the index now has 2.0 too.
fn before() -> Vec<Pkg> {
    vec![
        pkg("app", "1.0", "Depends: lib (>= 1.0), other"),
        pkg("lib", "1.0", ""),
        pkg("other", "1.0", ""),
    ]
}
fn after_index() -> Vec<Pkg> {
    vec![
        pkg("app", "1.0", "Depends: lib (>= 1.0), other"),
        pkg("lib", "1.2", ""),
        pkg("lib", "1.1", ""),
        pkg("other", "1.0", ""),
        pkg("other", "2.0", ""),
    ]
}
fn after_pool() -> Vec<Pkg> {
    after_index()
}

#[test]
fn fetch_falls_back_to_a_snapshot_when_the_mirror_lost_a_package() {
    let t = tempfile::tempdir().unwrap();
    let key = ArchiveKey::new(t.path());
    let mirror = t.path().join("mirror");
    write_suite(&mirror, &key, &before(), &before(), DATE, None);
    // The snapshot stand-in: the archive as it was at each timestamp, served over HTTP.
    let snap = t.path().join("snapshots");
    relsign::fsutil::copy_tree(&mirror, &snap.join(TIMESTAMP)).unwrap();
    let snap_server = StaticServer::start(&snap);
    let pattern = format!("{}/{{timestamp}}/", snap_server.url());

    let dir = t.path().join("r");
    let mirror_url = format!("file://{}", mirror.display());
    let recipe = write_recipe(&dir, &mirror_url, &key.keyring, &["app"], "");
    ok(rs(
        &t.path().join("store0"),
        &["lock", recipe.to_str().unwrap()],
    ));
    let lock = read_lock(&dir.join("deb.lock.toml"));
    assert_eq!(lock.snapshot.as_deref(), Some(TIMESTAMP));

    // The archive moves on: lib 1.0 is gone from the mirror.
    write_suite(&mirror, &key, &after_index(), &after_pool(), LATER, None);
    let lib = before()[1].clone();
    assert!(!mirror.join(lib.filename()).exists());

    // Without a snapshot pattern: the error names the package and every place tried.
    let store = t.path().join("store1");
    let out = rs(&store, &["fetch", recipe.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("lib 1.0 (amd64)")
            && err.contains(&format!("{mirror_url}/{}", lib.filename()))
            && err.contains("toolchain.snapshot-urls")
            && err.contains("RELSIGN_DEBIAN_SNAPSHOT"),
        "{err}"
    );

    // --debian-snapshot: the mirror first, then the snapshot at the lock's timestamp.
    let out = ok(rs(
        &store,
        &[
            "fetch",
            recipe.to_str().unwrap(),
            "--debian-snapshot",
            &pattern,
        ],
    ));
    assert!(
        stderr(&out).contains(&format!(
            "from the snapshot {}/{TIMESTAMP}/",
            snap_server.url()
        )),
        "{}",
        stderr(&out)
    );
    let s = relsign::store::Store::at(&store);
    for p in &lock.packages {
        assert!(
            s.has_verified(&p.sha256).unwrap(),
            "{} in the store",
            p.name
        );
    }

    // The environment variable and the recipe key do the same.
    let store = t.path().join("store2");
    let out = Command::new(bin())
        .args(["fetch", recipe.to_str().unwrap()])
        .env("RELSIGN_STORE", &store)
        .env(relsign::snapshot::ENV, &pattern)
        .output()
        .unwrap();
    ok(out);
    let store = t.path().join("store3");
    let with_key = write_recipe(
        &dir,
        &mirror_url,
        &key.keyring,
        &["app"],
        &format!(
            "snapshot-urls = [\"file://{}/{{timestamp}}\"]",
            snap.display()
        ),
    );
    ok(rs(&store, &["fetch", with_key.to_str().unwrap()]));

    // A snapshot that does not have it either: both places are named.
    let store = t.path().join("store4");
    let empty = format!(
        "file://{}/{{timestamp}}/",
        t.path().join("empty-snap").display()
    );
    let out = rs(
        &store,
        &[
            "fetch",
            recipe.to_str().unwrap(),
            "--debian-snapshot",
            &empty,
        ],
    );
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{mirror_url}/{}", lib.filename()))
            && err.contains(&format!(
                "{}/{TIMESTAMP}/{}",
                t.path().join("empty-snap").display(),
                lib.filename()
            )),
        "{err}"
    );
    // A pattern without {timestamp} is refused, naming where it came from.
    let out = rs(
        &store,
        &[
            "fetch",
            recipe.to_str().unwrap(),
            "--debian-snapshot",
            "http://127.0.0.1:9/x/",
        ],
    );
    assert!(
        stderr(&out).contains("--debian-snapshot") && stderr(&out).contains("{timestamp}"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn lock_refresh_moves_only_what_vanished_and_prints_the_diff() {
    let t = tempfile::tempdir().unwrap();
    let key = ArchiveKey::new(t.path());
    let mirror = t.path().join("mirror");
    write_suite(&mirror, &key, &before(), &before(), DATE, None);
    let server = StaticServer::start(&mirror);
    let dir = t.path().join("r");
    let recipe = write_recipe(&dir, &server.url(), &key.keyring, &["app"], "");
    let store = t.path().join("store");
    ok(rs(&store, &["lock", recipe.to_str().unwrap()]));
    let lock_path = dir.join("deb.lock.toml");
    let old = read_lock(&lock_path);
    let old_text = std::fs::read_to_string(&lock_path).unwrap();

    // Nothing vanished: the lock is left alone (and the mirror was asked with HEAD).
    let out = ok(rs(&store, &["lock", "--refresh", recipe.to_str().unwrap()]));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("unchanged"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(std::fs::read_to_string(&lock_path).unwrap(), old_text);
    assert!(server.heads.load(Ordering::SeqCst) >= 3);

    // The archive moves on: lib 1.0 vanished; 1.1 and 1.2 are offered; other 1.0 is still
    // served though 2.0 is out.
    write_suite(&mirror, &key, &after_index(), &after_pool(), LATER, None);
    let copy = t.path().join("r-json");
    relsign::fsutil::copy_tree(&dir, &copy).unwrap();

    let out = ok(rs(&store, &["lock", "--refresh", recipe.to_str().unwrap()]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("- lib 1.0\n+ lib 1.1\n"),
        "prints the diff: {stdout}"
    );
    assert!(
        !stdout.contains("other") && !stdout.contains("app"),
        "{stdout}"
    );
    let new = read_lock(&lock_path);
    let lib11 = pkg("lib", "1.1", "");
    let lib = new.packages.iter().find(|p| p.name == "lib").unwrap();
    assert_eq!(
        (lib.version.as_str(), &lib.filename, &lib.sha256),
        ("1.1", &lib11.filename(), &lib11.sha256())
    );
    for name in ["app", "other"] {
        assert_eq!(
            new.packages.iter().find(|p| p.name == name),
            old.packages.iter().find(|p| p.name == name),
            "{name} is kept exactly"
        );
    }
    assert_eq!(new.snapshot.as_deref(), Some(LATER_TIMESTAMP));
    assert_ne!(new.inrelease_sha256, old.inrelease_sha256);
    // And it fetches from the mirror again.
    ok(rs(&store, &["fetch", recipe.to_str().unwrap()]));

    // --json, on a copy of the old lock.
    let recipe_copy = copy.join("recipe.toml");
    let out = ok(rs(
        &store,
        &["lock", "--refresh", "--json", recipe_copy.to_str().unwrap()],
    ));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], true);
    let locks = v["debian_locks"].as_array().unwrap();
    assert_eq!(locks.len(), 1);
    assert_eq!(locks[0]["changed"], true);
    assert_eq!(
        locks[0]["moved"],
        serde_json::json!([{"name": "lib", "from": "1.0", "to": "1.1"}])
    );
    assert_eq!(locks[0]["snapshot"], LATER_TIMESTAMP);

    // The closure is checked again: when the only update breaks a kept package's dependency,
    // the lock is refused and left as it was.
    let broken = t.path().join("r-broken");
    std::fs::create_dir_all(&broken).unwrap();
    let recipe_b = write_recipe(&broken, &server.url(), &key.keyring, &["app"], "");
    let strict = vec![
        pkg("app", "1.0", "Depends: lib (<< 1.1), other"),
        pkg("lib", "1.0", ""),
        pkg("other", "1.0", ""),
    ];
    write_suite(&mirror, &key, &strict, &strict, DATE, None);
    ok(rs(&store, &["lock", recipe_b.to_str().unwrap()]));
    let moved_on = vec![
        pkg("app", "1.0", "Depends: lib (<< 1.1), other"),
        pkg("lib", "1.1", ""),
        pkg("other", "1.0", ""),
    ];
    write_suite(&mirror, &key, &moved_on, &moved_on, LATER, None);
    let before_text = std::fs::read_to_string(broken.join("deb.lock.toml")).unwrap();
    let out = rs(&store, &["lock", "--refresh", recipe_b.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("lib 1.0 -> 1.1")
            && err.contains("app 1.0 needs `lib (<< 1.1)`")
            && err.contains("relsign lock"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(broken.join("deb.lock.toml")).unwrap(),
        before_text
    );

    // A vanished package with no version >= the locked one.
    let gone = vec![
        pkg("app", "1.0", "Depends: lib (<< 1.1), other"),
        pkg("lib", "0.9", ""),
        pkg("other", "1.0", ""),
    ];
    write_suite(&mirror, &key, &gone, &gone, LATER, None);
    let out = rs(&store, &["lock", "--refresh", recipe_b.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(
        err.contains("lib 1.0 has vanished") && err.contains("0.9 (amd64)"),
        "{err}"
    );
}
