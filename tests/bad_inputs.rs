//! Bad inputs get a clear error (exit 2, or 1 for integrity failures) that names the file,
//! field or digest, and leave no partial file in the store or the output directory.

mod common;
use common::*;
use relsign::digest::Sha256Hex;
use std::io::{Read, Write};
use std::path::Path;

const RECIPE: &str = r#"
[release]
name = "bad"
version = "1.0"
[python]
version = "3.13"
glibc = "2.41"
lock = "py.lock.toml"
[[package]]
name = "pkg"
path = "pkg"
[toolchain]
suite = "trixie"
packages = ["python3"]
lock = "deb.lock.toml"
"#;

fn files_under(dir: &Path) -> Vec<String> {
    let mut v = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                v.extend(files_under(&p));
            } else {
                v.push(p.display().to_string());
            }
        }
    }
    v
}

fn debian_lock(pkgs: &[(&str, &str, u64, &Sha256Hex)]) -> String {
    let mut s = String::from(
        "lock-version = 1\nsuite = \"trixie\"\narchitecture = \"amd64\"\ncomponents = [\"main\"]\nrequested = [\"python3\"]\ninrelease-sha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\n",
    );
    for (name, file, size, d) in pkgs {
        s.push_str(&format!(
            "\n[[package]]\nname = \"{name}\"\nversion = \"1.0\"\narchitecture = \"amd64\"\nfilename = \"{file}\"\nsize = {size}\nsha256 = \"{d}\"\n"
        ));
    }
    s
}

fn py_lock(pkgs: &[(&str, &str, &str, u64, &Sha256Hex)]) -> String {
    let mut s = String::from(
        "lock-version = \"1.0\"\ncreated-by = \"relsign\"\nrequires-python = \"==3.13.*\"\n",
    );
    for (name, version, file, size, d) in pkgs {
        s.push_str(&format!(
            "\n[[packages]]\nname = \"{name}\"\nversion = \"{version}\"\n\n[[packages.wheels]]\nname = \"{file}\"\nsize = {size}\nhashes = {{ sha256 = \"{d}\" }}\n"
        ));
    }
    s
}

#[test]
fn unknown_recipe_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = dir.path().join("r.toml");
    std::fs::write(
        &recipe,
        RECIPE.replace("suite = \"trixie\"", "suite = \"trixie\"\nsuiet = \"sid\""),
    )
    .unwrap();
    let out = relsign(&[
        "build",
        recipe.to_str().unwrap(),
        "--out",
        dir.path().join("out").to_str().unwrap(),
    ])
    .output()
    .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("r.toml") && err.contains("suiet"),
        "names the file and the key: {err}"
    );
    assert!(
        !dir.path().join("out").exists(),
        "no output directory for a refused recipe"
    );
}

/// A tiny HTTP server on 127.0.0.1 that serves fixed paths; stopped when dropped.
struct Server {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}
impl Server {
    fn start(routes: Vec<(String, Vec<u8>)>) -> Server {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        l.set_nonblocking(true).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s2 = stop.clone();
        let handle = std::thread::spawn(move || {
            while !s2.load(std::sync::atomic::Ordering::SeqCst) {
                match l.accept() {
                    Ok((mut c, _)) => {
                        c.set_nonblocking(false).unwrap();
                        let mut buf = [0u8; 4096];
                        let n = c.read(&mut buf).unwrap_or(0);
                        let req = String::from_utf8_lossy(&buf[..n]);
                        let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
                        let body = routes
                            .iter()
                            .find(|(p, _)| *p == path)
                            .map(|(_, b)| b.clone());
                        let resp = match body {
                            Some(b) => {
                                let mut r = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", b.len()).into_bytes();
                                r.extend(b);
                                r
                            }
                            None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
                        };
                        let _ = c.write_all(&resp);
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
                }
            }
        });
        Server {
            port,
            stop,
            handle: Some(handle),
        }
    }
}
impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[test]
fn tampered_download_is_refused_and_nothing_is_stored() {
    let good = b"the real wheel bytes".to_vec();
    let tampered = b"the evil wheel bytes".to_vec();
    let want = Sha256Hex::of(&good);
    let file = "tiny-1.0-py3-none-any.whl";
    let page = format!("<html><body><a href=\"../../files/{file}\">{file}</a></body></html>");
    let server = Server::start(vec![
        ("/simple/tiny/".into(), page.into_bytes()),
        (format!("/files/{file}"), tampered.clone()),
    ]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("r.toml"), RECIPE).unwrap();
    std::fs::write(dir.path().join("deb.lock.toml"), debian_lock(&[])).unwrap();
    std::fs::write(
        dir.path().join("py.lock.toml"),
        py_lock(&[("tiny", "1.0", file, good.len() as u64, &want)]),
    )
    .unwrap();
    let store = dir.path().join("store");
    let out = std::process::Command::new(bin())
        .args([
            "fetch",
            dir.path().join("r.toml").to_str().unwrap(),
            "--index-url",
            &format!("http://127.0.0.1:{}/simple", server.port),
        ])
        .env("RELSIGN_STORE", &store)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "an integrity failure exits 1: {err}"
    );
    assert!(err.contains(&format!("expected={want}")), "{err}");
    assert!(
        err.contains(&format!("got={}", Sha256Hex::of(&tampered))),
        "{err}"
    );
    assert!(err.contains(file), "names the file: {err}");
    assert!(
        files_under(&store).is_empty(),
        "nothing stored: {:?}",
        files_under(&store)
    );
}

/// An `ar` archive (a .deb) with the given members.
fn ar(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut v = b"!<arch>\n".to_vec();
    for (name, data) in members {
        v.extend(
            format!(
                "{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
                name,
                0,
                0,
                0,
                "100644",
                data.len()
            )
            .as_bytes(),
        );
        v.extend(*data);
        if data.len() % 2 == 1 {
            v.push(b'\n');
        }
    }
    v
}

fn tar_gz(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    build(&mut b);
    let raw = b.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).unwrap();
    gz.finish().unwrap()
}

fn evil_deb(data_tar_gz: Vec<u8>) -> Vec<u8> {
    let control = tar_gz(|b| {
        let body = b"Package: evil\nVersion: 1.0\nArchitecture: amd64\nDescription: x\n";
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "./control", &body[..]).unwrap();
    });
    ar(&[
        ("debian-binary", b"2.0\n"),
        ("control.tar.gz", &control),
        ("data.tar.gz", &data_tar_gz),
    ])
}

fn raw_entry(
    b: &mut tar::Builder<Vec<u8>>,
    name: &str,
    kind: tar::EntryType,
    link: Option<&str>,
    body: &[u8],
) {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(body.len() as u64);
    h.set_mode(0o644);
    // Write the name bytes directly so that `..` and absolute names reach the archive.
    let gnu = h.as_gnu_mut().unwrap();
    gnu.name[..name.len()].copy_from_slice(name.as_bytes());
    if let Some(l) = link {
        gnu.linkname[..l.len()].copy_from_slice(l.as_bytes());
    }
    h.set_cksum();
    b.append(&h, body).unwrap();
}

fn run_with_evil_deb(data: Vec<u8>) -> (std::process::Output, tempfile::TempDir) {
    let deb = evil_deb(data);
    let d = Sha256Hex::of(&deb);
    let dir = tempfile::tempdir().unwrap();
    let store = relsign::store::Store::at(dir.path().join("store"));
    store
        .insert("evil.deb", Some(&d), None, &mut &deb[..])
        .unwrap();
    std::fs::write(dir.path().join("r.toml"), RECIPE).unwrap();
    std::fs::write(
        dir.path().join("deb.lock.toml"),
        debian_lock(&[(
            "evil",
            "pool/main/e/evil/evil_1.0_amd64.deb",
            deb.len() as u64,
            &d,
        )]),
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("pkg")).unwrap();
    let out = std::process::Command::new(bin())
        .args([
            "exec",
            dir.path().join("r.toml").to_str().unwrap(),
            "--",
            "/bin/true",
        ])
        .env("RELSIGN_STORE", store.root())
        .output()
        .unwrap();
    (out, dir)
}

#[test]
fn deb_with_dotdot_entry_is_refused() {
    let data = tar_gz(|b| {
        raw_entry(
            b,
            "./usr/../../../tmp/relsign-evil",
            tar::EntryType::Regular,
            None,
            b"pwned",
        )
    });
    let (out, _dir) = run_with_evil_deb(data);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("relsign-evil") && err.contains(".."),
        "names the entry and the reason: {err}"
    );
    assert!(!Path::new("/tmp/relsign-evil").exists());
}

#[test]
fn deb_with_escaping_symlink_is_refused() {
    let data = tar_gz(|b| {
        raw_entry(b, "./usr/", tar::EntryType::Directory, None, b"");
        raw_entry(
            b,
            "./usr/escape",
            tar::EntryType::Symlink,
            Some("../../../../../etc"),
            b"",
        );
        raw_entry(
            b,
            "./usr/escape/relsign-evil",
            tar::EntryType::Regular,
            None,
            b"pwned",
        );
    });
    let (out, _dir) = run_with_evil_deb(data);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("usr/escape"), "names the entry: {err}");
    assert!(!Path::new("/etc/relsign-evil").exists());
}

#[test]
fn missing_store_entry_is_named_with_the_fetch_hint() {
    let dir = tempfile::tempdir().unwrap();
    let d = Sha256Hex::of(b"not in the store");
    std::fs::write(dir.path().join("r.toml"), RECIPE).unwrap();
    std::fs::write(
        dir.path().join("deb.lock.toml"),
        debian_lock(&[(
            "python3",
            "pool/main/p/python3/python3_1.0_amd64.deb",
            16,
            &d,
        )]),
    )
    .unwrap();
    // An up-to-date Python lock for a recipe with no pins, whose package builds with an
    // in-tree backend that requires nothing (an empty build group).
    std::fs::create_dir_all(dir.path().join("pkg")).unwrap();
    std::fs::write(
        dir.path().join("pkg/pyproject.toml"),
        "[build-system]\nrequires = []\nbuild-backend = \"backend\"\nbackend-path = [\".\"]\n",
    )
    .unwrap();
    let recipe = relsign::recipe::Recipe::load(&dir.path().join("r.toml")).unwrap();
    let inputs = relsign::lock::python::Inputs::from_recipe(&recipe).unwrap();
    let store = relsign::store::Store::at(dir.path().join("store"));
    let builds =
        relsign::lock::builds::resolve_all(&recipe, &store, &inputs.build, &inputs.env).unwrap();
    let inputs = inputs.with_builds(builds);
    let tool = format!(
        "\n[tool.relsign]\ninputs-sha256 = \"{}\"\npython = \"3.13\"\nglibc = \"2.41\"\nmachine = \"x86_64\"\nruntime-pins = []\nbuild-pins = []\nincomplete = []\n",
        inputs.digest()
    );
    let py = dir.path().join("py.lock.toml");
    std::fs::write(&py, py_lock(&[]) + &tool).unwrap();
    let mut lock = relsign::lock::python::PyLock::read(&py).unwrap();
    lock.relsign.as_mut().unwrap().builds =
        inputs.builds.iter().map(|b| b.record.clone()).collect();
    lock.dependency_groups = inputs
        .builds
        .iter()
        .map(|b| b.record.group.clone())
        .collect();
    lock.write(&py).unwrap();
    let out_dir = dir.path().join("out");
    let out = std::process::Command::new(bin())
        .args([
            "build",
            dir.path().join("r.toml").to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ])
        .env("RELSIGN_STORE", dir.path().join("store"))
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("python3_1.0_amd64.deb") && err.contains(d.as_str()),
        "names the file and digest: {err}"
    );
    assert!(err.contains("relsign fetch"), "gives the hint: {err}");
    assert!(
        files_under(&out_dir).is_empty(),
        "no partial output: {:?}",
        files_under(&out_dir)
    );
}

/// Every subcommand's --help shows examples, one per line (clap would otherwise reflow the
/// doc comment into one paragraph).
#[test]
fn every_command_help_has_examples_one_per_line() {
    for cmd in [
        "key generate",
        "key show",
        "policy init",
        "policy add-key",
        "policy remove-key",
        "policy revoke",
        "policy set",
        "policy sign",
        "policy show",
        "sign",
        "verify",
        "publish",
        "destinations",
        "lock",
        "fetch",
        "build",
        "release",
        "test",
        "rebuild",
        "sbom",
        "compare",
        "run",
        "exec",
    ] {
        let mut args: Vec<&str> = cmd.split(' ').collect();
        args.push("--help");
        let o = relsign(&args).output().unwrap();
        assert!(o.status.success(), "{cmd} --help: {}", stderr(&o));
        let text = String::from_utf8_lossy(&o.stdout);
        let at = text
            .find("Examples:")
            .unwrap_or_else(|| panic!("{cmd} --help has no examples:\n{text}"));
        let first = text[at..].lines().nth(1).unwrap_or_default();
        assert!(
            first.starts_with("  relsign "),
            "{cmd} --help: the first example is not on its own line: {first:?}"
        );
    }
    let o = relsign(&["--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("\n  relsign verify "), "{text}");
}

/// `[[publish]]` entries and `--url` overrides that cannot be right are refused up front, with
/// the key and the reason: a mirror given as a web address (it would have been written to a
/// local folder named `https:`), credentials in a URL, an empty URL, a bad `env:` name.
#[test]
fn bad_destinations_are_named_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string(root().join("recipes/demo.toml")).unwrap();
    let base = base.split("[[publish]]").next().unwrap().to_string();
    let cases = [
        (
            "[[publish]]\nname = \"m\"\nkind = \"mirror\"\nurl = \"https://mirror.example/pub\"\n",
            "publish[0].url",
            "a mirror is a local directory",
        ),
        (
            "[[publish]]\nname = \"p\"\nkind = \"pypi\"\nurl = \"https://u:pw@idx.example/legacy/\"\n",
            "publish[0].url",
            "must not carry credentials",
        ),
        (
            "[[publish]]\nname = \"p\"\nkind = \"pypi\"\nurl = \"https://idx.example/legacy/\"\nindex-url = \"https://bob:pw@idx.example/simple/\"\n",
            "publish[0].index-url",
            "must not carry credentials",
        ),
        (
            "[[publish]]\nname = \"h\"\nkind = \"oci\"\nurl = \"\"\n",
            "publish[0].url",
            "is empty",
        ),
        (
            "[[publish]]\nname = \"h\"\nkind = \"oci\"\nurl = \"ftp://h.example/x/y\"\n",
            "publish[0].url",
            "a registry repository is host[:port]/path",
        ),
        (
            "[[publish]]\nname = \"h\"\nkind = \"oci\"\nurl = \"h.example/x/y\"\ncredentials = \"env:\"\n",
            "publish[0].credentials",
            "must be `env:VAR` or `file:PATH`",
        ),
    ];
    for (i, (entry, key, why)) in cases.iter().enumerate() {
        let recipe = dir.path().join(format!("bad-dest-{i}.toml"));
        std::fs::write(&recipe, format!("{base}{entry}")).unwrap();
        let o = relsign(&["destinations", recipe.to_str().unwrap()])
            .output()
            .unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{entry}: {err}");
        assert!(
            err.contains(key) && err.contains(why),
            "{entry}: names {key} and says {why:?}: {err}"
        );
        assert!(!err.contains(":pw@") && !err.contains("pw@"), "{err}");
    }
    // The same checks for a --url override.
    let o = relsign(&[
        "destinations",
        root().join("recipes/demo.toml").to_str().unwrap(),
        "--url",
        "mirror=https://mirror.example/pub",
    ])
    .output()
    .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--url mirror=") && err.contains("a mirror is a local directory"),
        "{err}"
    );
    let o = relsign(&[
        "destinations",
        root().join("recipes/demo.toml").to_str().unwrap(),
        "--url",
        "hub=http://u:secret-pw@127.0.0.1:5000/x/y",
    ])
    .output()
    .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("must not carry credentials"), "{err}");
    assert!(!err.contains("secret-pw"), "{err}");
    // A relative mirror path in the recipe is relative to the recipe's directory.
    let o = run_ok(relsign(&[
        "--json",
        "destinations",
        root().join("recipes/demo.toml").to_str().unwrap(),
    ]));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let mirror = v["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "mirror")
        .unwrap()["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        Path::new(&mirror),
        root().join("recipes/../target/demo/mirror"),
        "{v}"
    );
    drop(dir);
}

/// Output into a closed pipe (`relsign … | head -1`) is not a crash: no panic, and the exit
/// code is the command's own. `--json` prints one document even when the command then fails.
#[test]
fn a_closed_stdout_is_no_panic_and_json_is_one_document() {
    use std::process::Stdio;
    let mut c = relsign(&[
        "destinations",
        root().join("recipes/demo.toml").to_str().unwrap(),
    ]);
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    drop(child.stdout.take()); // the reader goes away before anything is written
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(o.status.code(), Some(0), "{err}");

    // compare of two different files: a report, then exit 1; stdout is one JSON document.
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
    std::fs::write(&a, "{\"x\": 1}").unwrap();
    std::fs::write(&b, "{\"x\": 2}").unwrap();
    let o = relsign(&[
        "--json",
        "compare",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)));
    assert_eq!(v["identical"], false, "{v}");
}
