//! Issue 13's release policy end to end: the vulnerability database as a locked input
//! (`relsign vulndb` from a loopback HTTP server), the gate inside `relsign release` (a fixed
//! advisory fails it, an unexpired allow-list entry lets it pass, an expired one fails it
//! again), the signed vulnerability attestation checked by `relsign verify` and by
//! securesystemslib and the in-toto attestation models, and the stable-branch policy against
//! the branch's last release. Every OSV record here is TEST-ONLY, written by the test, about
//! packages and versions that are really in the demo's locks.

mod common;
use common::signed::{keys_and_policy, rs, shared_signed_demo};
use common::*;
use relsign::digest::Sha256Hex;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Output;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Copy the release `src` to `dst`, replace `edit.0` by `edit.1` in its `file`, and check
/// that `relsign verify` refuses the copy (exit 1) in the check named `check`; what it said.
fn refused_when_edited(
    src: &Path,
    dst: &Path,
    file: &str,
    edit: (&str, &str),
    policy: &Path,
    check: &str,
) -> String {
    relsign::fsutil::copy_tree(src, dst).unwrap();
    let f = dst.join(file);
    let before = std::fs::read_to_string(&f).unwrap();
    let edited = before.replace(edit.0, edit.1);
    assert_ne!(edited, before, "{} does not hold {:?}", f.display(), edit.0);
    std::fs::write(&f, edited).unwrap();
    let o = rs(&["verify", s(dst), "--policy", s(policy), "--no-state"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let said = text(&o);
    assert!(said.contains(&format!("check `{check}` failed")), "{said}");
    said
}

/// A zip of OSV records, one JSON file per record, as the OSV exports ship them.
fn osv_zip(records: &[serde_json::Value]) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for r in records {
        z.start_file(
            format!("{}.json", r["id"].as_str().unwrap()),
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        z.write_all(&serde_json::to_vec_pretty(r).unwrap()).unwrap();
    }
    z.finish().unwrap().into_inner()
}

fn rec(id: &str, summary: &str, affected: serde_json::Value) -> serde_json::Value {
    serde_json::json!({"schema_version": "1.6.0", "id": id, "modified": "2026-11-20T00:00:00Z",
        "published": "2026-11-01T00:00:00Z", "summary": summary, "affected": affected})
}

/// The click advisory with a fix (the demo pins click 8.1.8) and a Debian record without a
/// fixed version (reported, never failing under `fail-on = "fixed"`).
fn gate_records() -> Vec<serde_json::Value> {
    let mut click = rec(
        "TEST-PY-0001",
        "click: TEST-ONLY advisory",
        serde_json::json!([{"package": {"ecosystem": "PyPI", "name": "Click"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "8.1.9"}]}]}]),
    );
    click["database_specific"] = serde_json::json!({"severity": "HIGH"});
    vec![
        click,
        rec(
            "TEST-DEB-0003",
            "python3.13: TEST-ONLY advisory, last_affected only",
            serde_json::json!([{"package": {"ecosystem": "Debian:13", "name": "python3.13"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"},
                {"last_affected": "3.13.5-2+deb13u5"}]}]}]),
        ),
    ]
}

/// Every kind of record item 6 asks for: the gate's two, a Debian source package with
/// several binaries (openssl) whose events hold two ranges, a source version that is not its
/// binary's, a withdrawn record, one for another suite, one fixed before the installed
/// version.
fn all_records() -> Vec<serde_json::Value> {
    let mut v = gate_records();
    v.push(rec(
        "TEST-DEB-0002",
        "openssl: TEST-ONLY advisory in two ranges",
        serde_json::json!([{"package": {"ecosystem": "Debian:13", "name": "openssl"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.0-1"},
            {"introduced": "3.5.0-1"}, {"fixed": "3.5.7-1~deb13u3"}]}]}]),
    ));
    let mut w = rec(
        "TEST-PY-0004",
        "withdrawn",
        serde_json::json!([{"package": {"ecosystem": "PyPI", "name": "click"}, "versions": ["8.1.8"]}]),
    );
    w["withdrawn"] = "2026-11-21T00:00:00Z".into();
    v.push(w);
    v.push(rec(
        "TEST-DEB-0005",
        "glibc in another suite",
        serde_json::json!([{"package": {"ecosystem": "Debian:12", "name": "glibc"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "9.99-1"}]}]}]),
    ));
    // acl 2.3.2-2 built libacl1 2.3.2-2+b1 (a binNMU): Debian's records list source
    // versions, so the binary's own version is not among them.
    v.push(rec(
        "TEST-DEB-0007",
        "acl: TEST-ONLY advisory listing the affected source version",
        serde_json::json!([{"package": {"ecosystem": "Debian:13", "name": "acl"},
            "versions": ["2.3.2-2"]}]),
    ));
    v.push(rec(
        "TEST-PY-0006",
        "fixed long ago",
        serde_json::json!([{"package": {"ecosystem": "PyPI", "name": "click"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "7.0"}]}]}]),
    ));
    v
}

/// The demo recipe and what it needs, copied to `dir/recipes`, with `extra` appended to the
/// recipe. Returns the recipe's path.
fn demo_copy(dir: &Path, extra: &str) -> PathBuf {
    let src = root().join("recipes");
    let dst = dir.join("recipes");
    std::fs::create_dir_all(&dst).unwrap();
    relsign::fsutil::copy_tree(&src.join("demo"), &dst.join("demo")).unwrap();
    for f in [
        "pylock.demo.toml",
        "demo.debian.lock.toml",
        "demo.image.debian.lock.toml",
    ] {
        std::fs::copy(src.join(f), dst.join(f)).unwrap();
    }
    let recipe = dst.join("demo.toml");
    let mut text = std::fs::read_to_string(src.join("demo.toml")).unwrap();
    text.push_str(extra);
    std::fs::write(&recipe, text).unwrap();
    recipe
}

const VULNS: &str = "\n[vulnerabilities]\nlock = \"demo.vulndb.lock.toml\"\nfail-on = \"fixed\"\nmax-age-days = 7\n\n[[vulnerabilities.database]]\nname = \"PyPI\"\nlocations = [\"../osv-PyPI.zip\"]\n";

fn allow(expires: &str) -> String {
    format!("\n[[vulnerabilities.allow]]\nid = \"TEST-PY-0001\"\npackage = \"click\"\nreason = \"TEST-ONLY: the affected function is not used\"\nexpires = \"{expires}\"\n")
}

/// A loopback HTTP server answering every GET with `body` (200), until dropped.
struct Serve {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Serve {
    fn start(body: Vec<u8>) -> Serve {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let st = stop.clone();
        std::thread::spawn(move || {
            for c in l.incoming() {
                if st.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let Ok(mut c) = c else { continue };
                let mut buf = [0u8; 4096];
                let _ = c.read(&mut buf);
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = c.write_all(head.as_bytes());
                let _ = c.write_all(&body);
            }
        });
        Serve { port, stop }
    }
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/osv/PyPI.zip", self.port)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn read_lock(recipe: &Path) -> toml::Table {
    let p = relsign::fsutil::parent_dir(recipe).join("demo.vulndb.lock.toml");
    std::fs::read_to_string(p).unwrap().parse().unwrap()
}

#[test]
fn vulndb_pins_an_export_from_a_loopback_server_and_bad_input_exits_2() {
    let t = tempfile::tempdir().unwrap();
    let (_policy, key) = keys_and_policy(&t.path().join("k"));
    let recipe = demo_copy(t.path(), VULNS);
    let lock_path = t.path().join("recipes/demo.vulndb.lock.toml");
    let good = osv_zip(&all_records());
    let srv = Serve::start(good.clone());
    let before = relsign::time::now();
    let o = run_ok(relsign(&[
        "vulndb",
        s(&recipe),
        "--from",
        &format!("PyPI={}", srv.url()),
    ]));
    let after = relsign::time::now();
    let lock = read_lock(&recipe);
    let db = &lock["database"].as_array().unwrap()[0];
    let sha = Sha256Hex::of(&good);
    assert_eq!(db["name"].as_str(), Some("PyPI"));
    assert_eq!(db["sha256"].as_str(), Some(sha.as_str()));
    assert_eq!(db["size"].as_integer(), Some(good.len() as i64));
    assert_eq!(db["records"].as_integer(), Some(all_records().len() as i64));
    let taken = relsign::time::parse(db["taken"].as_str().unwrap()).unwrap();
    assert!(
        before <= taken && taken <= after,
        "{taken} not in {before}..{after}"
    );
    assert!(text(&o).contains(&format!("sha256:{sha}")), "{}", text(&o));
    // Kept in the store under its digest.
    let stored = relsign::store::Store::at(shared_store())
        .get(&sha, "osv-PyPI.zip")
        .unwrap();
    assert_eq!(std::fs::read(stored).unwrap(), good);
    let pinned = std::fs::read(&lock_path).unwrap();

    // A corrupt zip, a record that is not OSV, a duplicate key: exit 2, the reason named, the
    // lock untouched.
    let mut not_osv = rec("TEST-BAD-1", "x", serde_json::json!([]));
    not_osv.as_object_mut().unwrap().remove("modified");
    let bad_range = rec(
        "TEST-BAD-2",
        "x",
        serde_json::json!([{"package": {"ecosystem": "PyPI", "name": "click"},
            "ranges": [{"type": "ECOSYSTEM", "events": "0"}]}]),
    );
    let dup_zip = {
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        z.start_file("TEST-BAD-3.json", zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(b"{\"id\": \"TEST-BAD-3\", \"id\": \"x\"}")
            .unwrap();
        z.finish().unwrap().into_inner()
    };
    for (body, want) in [
        (
            b"PK\x03\x04 not a zip at all".to_vec(),
            "/osv/PyPI.zip: osv-PyPI.zip: invalid Zip archive",
        ),
        (
            osv_zip(&[not_osv]),
            "TEST-BAD-1.json: TEST-BAD-1: not an OSV record: no string `modified`",
        ),
        (
            osv_zip(&[bad_range]),
            "TEST-BAD-2.json: TEST-BAD-2: affected[0].ranges[0]: needs a type and events",
        ),
        (dup_zip, "duplicate key \"id\""),
    ] {
        let bad = Serve::start(body);
        let o = relsign(&[
            "vulndb",
            s(&recipe),
            "--from",
            &format!("PyPI={}", bad.url()),
        ])
        .output()
        .unwrap();
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains(want), "{want}:\n{}", text(&o));
        assert!(text(&o).contains(&bad.url()), "{}", text(&o));
        assert_eq!(std::fs::read(&lock_path).unwrap(), pinned);
    }

    // A database older than the recipe's limit: the release stops before building, exit 2,
    // naming the lock, the field and the limit; nothing is built or signed.
    let old = relsign::time::format(relsign::time::now() - 30 * 86_400);
    let stale = String::from_utf8(pinned.clone())
        .unwrap()
        .replace(db["taken"].as_str().unwrap(), &old);
    std::fs::write(&lock_path, stale).unwrap();
    let out = t.path().join("out");
    let o = rs(&["release", s(&recipe), "--out", s(&out), "--key", s(&key)])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    for want in [
        "demo.vulndb.lock.toml: database[0].taken:",
        "30 day(s) ago: older than the recipe's vulnerabilities.max-age-days = 7",
    ] {
        assert!(text(&o).contains(want), "{want}:\n{}", text(&o));
    }
    assert!(!out.join("attestations").exists());

    // A lock naming a corrupt zip (in the store by its digest): exit 2, naming the database.
    let junk = b"PK\x05\x06 corrupt".to_vec();
    let (jsha, _) = relsign::store::Store::at(shared_store())
        .insert("junk", None, None, &mut &junk[..])
        .unwrap();
    let corrupt = String::from_utf8(pinned)
        .unwrap()
        .replace(sha.as_str(), jsha.as_str())
        .replace(
            &format!("size = {}", good.len()),
            &format!("size = {}", junk.len()),
        );
    std::fs::write(&lock_path, corrupt).unwrap();
    let o = rs(&["release", s(&recipe), "--out", s(&out), "--key", s(&key)])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let want = format!("database[0]: PyPI (osv-PyPI.zip, sha256:{jsha})");
    assert!(text(&o).contains(&want), "{want}:\n{}", text(&o));
    assert!(!out.join("attestations").exists());
}

#[test]
fn the_demo_against_every_kind_of_record_gives_the_exact_findings() {
    let rel = &shared_signed_demo().release;
    let t = tempfile::tempdir().unwrap();
    let db = t.path().join("osv.zip");
    let bytes = osv_zip(&all_records());
    std::fs::write(&db, &bytes).unwrap();
    let o = relsign(&["scan", s(rel), "--db", s(&db), "--json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        j["databases"][0]["sha256"].as_str(),
        Some(Sha256Hex::of(&bytes).as_str())
    );
    let got = finding_lines(&j);
    // openssl's three binaries by their source; python3.13's four by theirs (last_affected:
    // no fix, reported); click fixed in 8.1.9; nothing from the withdrawn record, the other
    // suite or the advisory fixed before 8.1.8.
    let py = "3.13.5-2+deb13u5";
    let ssl = "3.5.7-1~deb13u2";
    let want: Vec<String> = [
        "TEST-PY-0001 click 8.1.8 8.1.9 fail".to_string(),
        "TEST-DEB-0007 libacl1 2.3.2-2+b1 - reported".to_string(),
        format!("TEST-DEB-0003 libpython3.13-minimal {py} - reported"),
        format!("TEST-DEB-0003 libpython3.13-stdlib {py} - reported"),
        format!("TEST-DEB-0002 libssl3t64 {ssl} 3.5.7-1~deb13u3 fail"),
        format!("TEST-DEB-0002 openssl {ssl} 3.5.7-1~deb13u3 fail"),
        format!("TEST-DEB-0002 openssl-provider-legacy {ssl} 3.5.7-1~deb13u3 fail"),
        format!("TEST-DEB-0003 python3.13 {py} - reported"),
        format!("TEST-DEB-0003 python3.13-minimal {py} - reported"),
    ]
    .into();
    assert_eq!(got, want, "{j}");
    // The range was compared with the source's version, and the finding says so.
    let acl = &j["findings"][1];
    assert_eq!(acl["source_version"].as_str(), Some("2.3.2-2"), "{acl}");
}

/// One finding of `relsign scan --json` as `ID PACKAGE INSTALLED FIXED VERDICT`.
fn finding_lines(j: &serde_json::Value) -> Vec<String> {
    j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {} {} {} {}",
                f["id"].as_str().unwrap(),
                f["package"].as_str().unwrap(),
                f["installed"].as_str().unwrap(),
                f["fixed"].as_str().unwrap_or("-"),
                f["verdict"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn scan_without_db_is_the_recipes_gate_on_its_locked_database() {
    let t = tempfile::tempdir().unwrap();
    // A store of its own: the database is tampered with below.
    let store = t.path().join("store");
    let zip = osv_zip(&gate_records());
    let db_sha = Sha256Hex::of(&zip);
    let srv = Serve::start(zip.clone());
    let recipe = demo_copy(t.path(), VULNS);
    let lock = t.path().join("recipes/demo.vulndb.lock.toml");
    let scan = |recipe: &Path, extra: &[&str]| {
        let mut args = vec!["scan", s(recipe)];
        args.extend(extra);
        relsign(&args)
            .env("RELSIGN_STORE", &store)
            .output()
            .unwrap()
    };

    // No database locked yet, or no [vulnerabilities] section: exit 2, naming the recipe and
    // the fix.
    let o = scan(&recipe, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let want = format!(
        "{r}: vulnerabilities.lock: {l} is missing: run `relsign vulndb {r}` to take and lock the recipe's databases, or give --db ZIP-OR-DIR",
        r = recipe.display(),
        l = lock.display()
    );
    assert!(text(&o).contains(&want), "{want}\n{}", text(&o));
    let plain = demo_copy(&t.path().join("plain"), "");
    let o = scan(&plain, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let want = format!(
        "{r}: no [vulnerabilities] section, so no locked vulnerability database (add one: README, \"Vulnerability gate\"): run `relsign vulndb {r}`",
        r = plain.display()
    );
    assert!(text(&o).contains(&want), "{want}\n{}", text(&o));
    // The --db policy flags do not loosen the recipe's policy.
    let o = scan(&recipe, &["--fail-on", "none"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--db <ZIP-OR-DIR>"), "{}", text(&o));

    let mut vulndb = relsign(&[
        "vulndb",
        s(&recipe),
        "--from",
        &format!("PyPI={}", srv.url()),
    ]);
    vulndb.env("RELSIGN_STORE", &store);
    run_ok(vulndb);
    let taken = read_lock(&recipe)["database"][0]["taken"]
        .as_str()
        .unwrap()
        .to_string();

    // click 8.1.8 has a fixed advisory: the recipe's policy fails it, exit 1, and the report
    // names the database and what to do. From the locks, Debian packages go by their own
    // name: python3.13 (last_affected only, reported).
    let o = scan(&recipe, &["--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["result"], "FAILED");
    assert_eq!(j["ok"], false);
    assert_eq!(j["recipe"].as_str(), Some(s(&recipe)));
    assert_eq!(j["lock"].as_str(), Some(s(&lock)));
    assert_eq!(j["policy"]["fail-on"], "fixed");
    assert_eq!(j["policy"]["max-age-days"], 7);
    let d = &j["databases"][0];
    assert_eq!(j["databases"].as_array().unwrap().len(), 1);
    assert_eq!(d["name"], "PyPI");
    assert_eq!(d["file"], "osv-PyPI.zip");
    assert_eq!(d["sha256"].as_str(), Some(db_sha.as_str()));
    assert_eq!(d["taken"].as_str(), Some(taken.as_str()));
    assert_eq!(j["records"], 2);
    let want = [
        "TEST-PY-0001 click 8.1.8 8.1.9 fail",
        "TEST-DEB-0003 python3.13 3.13.5-2+deb13u5 - reported",
    ];
    assert_eq!(finding_lines(&j), want, "{j}");
    let o = scan(&recipe, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    for want in [
        format!("PyPI osv-PyPI.zip sha256:{db_sha} taken {taken}"),
        format!(
            "policy: [vulnerabilities] of {}: fail-on fixed, severity -, 0 allow-list entries",
            recipe.display()
        ),
        "move click (pypi) from 8.1.8 to 8.1.9 or later [TEST-PY-0001]".to_string(),
    ] {
        assert!(text(&o).contains(&want), "{want}\n{}", text(&o));
    }

    // An unexpired allow-list entry: exit 0, the finding allowed; an expired one: exit 1.
    let with_allow = |expires: &str| {
        let base = std::fs::read_to_string(root().join("recipes/demo.toml")).unwrap();
        std::fs::write(&recipe, format!("{base}{VULNS}{}", allow(expires))).unwrap();
    };
    with_allow("2999-01-01");
    let o = scan(&recipe, &["--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["result"], "PASSED");
    assert_eq!(
        finding_lines(&j),
        [
            "TEST-PY-0001 click 8.1.8 8.1.9 allowed",
            "TEST-DEB-0003 python3.13 3.13.5-2+deb13u5 - reported",
        ],
        "{j}"
    );
    with_allow("2001-01-01");
    let o = scan(&recipe, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("the allow-list entry expired on 2001-01-01"),
        "{}",
        text(&o)
    );

    // A database older than max-age-days is refused, naming the lock, field and limit.
    let pinned = std::fs::read_to_string(&lock).unwrap();
    let old = relsign::time::format(relsign::time::now() - 30 * 86_400);
    std::fs::write(&lock, pinned.replace(&taken, &old)).unwrap();
    let o = scan(&recipe, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let want = format!(
        "{}: database[0].taken: PyPI was taken {old}, 30 day(s) ago: older than the recipe's vulnerabilities.max-age-days = 7",
        lock.display()
    );
    assert!(text(&o).contains(&want), "{want}\n{}", text(&o));
    std::fs::write(&lock, &pinned).unwrap();

    // The database's bytes in the store changed: refused by digest (exit 1), nothing judged.
    let entry = relsign::store::Store::at(store.clone()).path_for(&db_sha);
    let mut perms = std::fs::metadata(&entry).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&entry, perms).unwrap();
    let tampered = osv_zip(&all_records()[2..3]);
    std::fs::write(&entry, &tampered).unwrap();
    let o = scan(&recipe, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let want = format!(
        "{}: database[0]: PyPI (osv-PyPI.zip): store entry {} is corrupt: expected={db_sha}, got={}",
        lock.display(),
        entry.display(),
        Sha256Hex::of(&tampered)
    );
    assert!(text(&o).contains(&want), "{want}\n{}", text(&o));
    assert!(!text(&o).contains("TEST-"), "{}", text(&o));
}

/// Build the demo (as a copy with `extra` in its recipe) with `relsign release`.
fn release(dir: &Path, recipe: &Path, key: &Path, name: &str) -> (PathBuf, Output) {
    let out = dir.join(name);
    let o = rs(&["release", s(recipe), "--out", s(&out), "--key", s(key)])
        .output()
        .unwrap();
    (out, o)
}

fn provenance(rel: &Path) -> serde_json::Value {
    let env: serde_json::Value = serde_json::from_slice(
        &std::fs::read(rel.join("attestations/provenance.dsse.json")).unwrap(),
    )
    .unwrap();
    use base64::Engine;
    let p = base64::engine::general_purpose::STANDARD
        .decode(env["payload"].as_str().unwrap())
        .unwrap();
    serde_json::from_slice(&p).unwrap()
}

#[test]
fn a_fixed_advisory_fails_the_release_gate_and_an_unexpired_allow_entry_lets_it_pass() {
    fetch_demo();
    let t = tempfile::tempdir().unwrap();
    let (policy, key) = keys_and_policy(&t.path().join("k"));
    let zip = osv_zip(&gate_records());
    let db_sha = Sha256Hex::of(&zip);
    std::fs::write(t.path().join("osv-PyPI.zip"), &zip).unwrap();
    let recipe = demo_copy(t.path(), VULNS);
    run_ok(relsign(&["vulndb", s(&recipe)]));

    // click 8.1.8 has a fixed advisory: nothing is signed, and the message says what to do.
    let (out, o) = release(t.path(), &recipe, &key, "failing");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let want = "move click (pypi) from 8.1.8 to 8.1.9 or later [TEST-PY-0001]";
    assert!(text(&o).contains(want), "{}", text(&o));
    assert!(out.join(relsign::reldir::NOT_A_RELEASE).is_file());
    assert!(!out.join("attestations").exists());
    let o = rs(&["sign", s(&out), "--key", s(&key)]).output().unwrap();
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));

    // An expired allow-list entry fails as well, and says so.
    let expired = demo_copy(
        &t.path().join("expired"),
        &format!("{VULNS}{}", allow("2001-01-01")),
    );
    std::fs::copy(
        t.path().join("recipes/demo.vulndb.lock.toml"),
        t.path().join("expired/recipes/demo.vulndb.lock.toml"),
    )
    .unwrap();
    let (out, o) = release(t.path(), &expired, &key, "expired");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("the allow-list entry expired on 2001-01-01"),
        "{}",
        text(&o)
    );
    assert!(!out.join("attestations").exists());

    // With an unexpired entry the release is signed; verify checks the attestation.
    std::fs::write(
        &recipe,
        format!(
            "{}{}",
            std::fs::read_to_string(&recipe).unwrap(),
            allow("2999-01-01")
        ),
    )
    .unwrap();
    let (out, o) = release(t.path(), &recipe, &key, "passing");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = run_ok(rs(&[
        "verify",
        s(&out),
        "--policy",
        s(&policy),
        "--no-state",
    ]));
    let want = format!(
        "ok           vulnerabilities: the vulnerability gate passed, signed, about every artifact: 5 finding(s) (1 allowed, 4 reported, none failing) against osv-PyPI.zip sha256:{db_sha} (as the provenance names them); scan/vulnerabilities.json matches"
    );
    assert!(text(&o).contains(&want), "{want}\n{}", text(&o));
    // The release directory scanned without --db: its recipe copy's policy against the
    // databases its gate report names, from the store.
    let o = rs(&["scan", s(&out), "--json"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["result"], "PASSED");
    assert_eq!(j["recipe"].as_str(), Some(s(&out.join("inputs/demo.toml"))));
    assert_eq!(
        j["lock"].as_str(),
        Some(s(&out.join("scan/vulnerabilities.json")))
    );
    assert_eq!(j["databases"][0]["sha256"].as_str(), Some(db_sha.as_str()));
    let verdicts: Vec<&str> = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(
        verdicts,
        ["allowed", "reported", "reported", "reported", "reported"],
        "{j}"
    );
    // Published to a registry and verified from there: the attestation, its bundle and the
    // report travel with the image.
    let reg = Registry::start(None);
    run_ok(rs(&[
        "publish",
        s(&out),
        "--recipe",
        s(&recipe),
        "--to",
        "hub",
        "--url",
        &format!("hub=http://{}/relsign/demo", reg.host()),
        "--policy",
        s(&policy),
    ]));
    let o = run_ok(rs(&[
        "verify",
        &format!("docker://http://{}/relsign/demo:0.1.0", reg.host()),
        "--policy",
        s(&policy),
        "--no-state",
    ]));
    assert!(
        text(&o).contains(&format!("against osv-PyPI.zip sha256:{db_sha} (as the provenance names them); scan/vulnerabilities.json matches")),
        "{}",
        text(&o)
    );
    // The policy reports are byproducts of the provenance, not inputs: rebuild still works.
    let o = run_ok(relsign(&["rebuild", s(&out)]));
    assert!(
        text(&o).contains("relsign-demo 0.1.0: every digest matches"),
        "{}",
        text(&o)
    );
    // The provenance names the database by digest and says the gate is required.
    let p = provenance(&out);
    let ext = &p["predicate"]["buildDefinition"]["externalParameters"]["vulnerabilities"];
    assert_eq!(ext["required"], true);
    assert_eq!(ext["databases"][0]["digest"]["sha256"], db_sha.as_str());
    let deps = p["predicate"]["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .unwrap();
    assert!(deps
        .iter()
        .any(|d| d["name"] == "osv-PyPI.zip" && d["digest"]["sha256"] == db_sha.as_str()));

    // securesystemslib and the in-toto models, outside relsign, accept the attestation.
    let py = venv().join("bin/python");
    let o = run_ok({
        let mut c = std::process::Command::new(py);
        c.arg(root().join("tests/py/vulns_attestation.py"))
            .arg(&out)
            .arg(format!("{}", key.with_extension("pub").display()));
        c
    });
    for want in [
        "ok: securesystemslib verified attestations/vulns.dsse.json with 1 key(s)",
        "ok: in-toto attestation models validated the vulns statement (3 subjects)",
        "ok: the predicate has the vulns v0.1 fields; 5 result(s); the report's sha256 matches",
    ] {
        assert!(text(&o).contains(want), "{want}:\n{}", text(&o));
    }

    // Tampering: another report, or no attestation at all, is refused.
    let bad = t.path().join("tampered");
    refused_when_edited(
        &out,
        &bad,
        relsign::vulns::REPORT_FILE,
        ("\"fail-on\":\"fixed\"", "\"fail-on\":\"none\""),
        &policy,
        "vulnerabilities",
    );
    relsign::fsutil::copy_tree(&out, &bad.with_extension("b")).unwrap();
    // The envelope and its bundle gone: the provenance still says the gate is required.
    let att = bad.with_extension("b").join("attestations");
    let mut removed = 0;
    for e in std::fs::read_dir(&att).unwrap() {
        let p = e.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("vulns.")
        {
            std::fs::remove_file(p).unwrap();
            removed += 1;
        }
    }
    assert_eq!(removed, 2);
    let o = rs(&[
        "verify",
        s(&bad.with_extension("b")),
        "--policy",
        s(&policy),
        "--no-state",
    ])
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("attestations/vulns.dsse.json: missing"),
        "{}",
        text(&o)
    );
}

/// Put the demo copy at `version` with `deps` as its runtime dependencies, relocked offline
/// from a vendor export of the demo's locked files.
fn demo_at(dir: &Path, version: &str, deps: &str, extra: &str) -> PathBuf {
    let recipe = demo_copy(dir, extra);
    let r = dir.join("recipes");
    let edit = |p: &Path, from: &str, to: &str| {
        let t = std::fs::read_to_string(p).unwrap();
        assert!(t.contains(from), "{} has no {from:?}", p.display());
        std::fs::write(p, t.replace(from, to)).unwrap();
    };
    edit(
        &recipe,
        "version = \"0.1.0\"",
        &format!("version = \"{version}\""),
    );
    edit(
        &r.join("demo/pyproject.toml"),
        "version = \"0.1.0\"",
        &format!("version = \"{version}\""),
    );
    edit(
        &r.join("demo/pyproject.toml"),
        "dependencies = [\"click==8.1.8\"]",
        &format!("dependencies = [{deps}]"),
    );
    edit(
        &r.join("demo/src/relsign_demo/__init__.py"),
        "\"0.1.0\"",
        &format!("\"{version}\""),
    );
    edit(
        &r.join("demo/features/cli.feature"),
        "version 0.1.0",
        &format!("version {version}"),
    );
    let vendor = dir.join("vendor");
    run_ok(relsign(&[
        "fetch",
        s(&demo_recipe()),
        "--export",
        s(&vendor),
    ]));
    run_ok(relsign(&[
        "lock",
        "--python-only",
        s(&recipe),
        "--index-url",
        &format!("file://{}/simple", vendor.display()),
    ]));
    recipe
}

#[test]
fn the_stable_branch_refuses_an_added_dependency_and_diff_shows_it() {
    fetch_demo();
    let t = tempfile::tempdir().unwrap();
    let (policy, key) = keys_and_policy(&t.path().join("k"));
    // 0.1.0: the branch's first release is its baseline.
    let recipe = demo_copy(&t.path().join("a"), "");
    let text_a = std::fs::read_to_string(&recipe).unwrap().replacen(
        "version = \"0.1.0\"\n",
        "version = \"0.1.0\"\nstable = \"0.1\"\nstable-releases = [\"../../releases\"]\n",
        1,
    );
    std::fs::write(&recipe, text_a).unwrap();
    std::fs::create_dir_all(t.path().join("releases")).unwrap();
    let base = t.path().join("releases/0.1.0");
    let o = rs(&["release", s(&recipe), "--out", s(&base), "--key", s(&key)])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains(
            "stable branch 0.1: no earlier release found: this release is the branch's baseline"
        ),
        "{}",
        text(&o)
    );
    let o = run_ok(rs(&[
        "verify",
        s(&base),
        "--policy",
        s(&policy),
        "--no-state",
    ]));
    assert!(
        text(&o).contains("stable branch: scan/stable.json matches the provenance: branch \"0.1\", baseline none (the branch's first release)"),
        "{}",
        text(&o)
    );

    // Another stable.json than the signed one is refused.
    let said = refused_when_edited(
        &base,
        &t.path().join("tampered"),
        relsign::stable::REPORT_FILE,
        ("\"branch\":\"0.1\"", "\"branch\":\"0.2\""),
        &policy,
        "stable branch",
    );
    let f = t.path().join("tampered").join(relsign::stable::REPORT_FILE);
    assert!(
        said.contains(&format!(
            "{}: sha256 expected={} (provenance byproduct), got={}",
            f.display(),
            Sha256Hex::of(&std::fs::read(base.join(relsign::stable::REPORT_FILE)).unwrap()),
            Sha256Hex::of(&std::fs::read(&f).unwrap())
        )),
        "{said}"
    );

    // 0.1.1 adds six: diff names it, and the branch's policy refuses the release.
    let b = t.path().join("b");
    let recipe = demo_at(&b, "0.1.1", "\"click==8.1.8\", \"six==1.17.0\"", "");
    let text_b = std::fs::read_to_string(&recipe).unwrap().replacen(
        "version = \"0.1.1\"\n",
        "version = \"0.1.1\"\nstable = \"0.1\"\n",
        1,
    );
    std::fs::write(&recipe, text_b).unwrap();
    let new = t.path().join("new");
    let o = rs(&[
        "release",
        s(&recipe),
        "--out",
        s(&new),
        "--key",
        s(&key),
        "--stable-releases",
        s(&t.path().join("releases")),
    ])
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    for want in [
        "stable branch 0.1: compared with 0.1.0",
        "the stable-branch policy (0.1) failed (scan/stable.json)",
        "  six (pypi): a new dependency: a stable branch adds none [0.1.0: absent; now: 1.17.0]",
    ] {
        assert!(text(&o).contains(want), "{want}:\n{}", text(&o));
    }
    // six is the only offence: the demo's own version change is not one.
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(new.join("scan/stable.json")).unwrap()).unwrap();
    let names: Vec<&str> = report["offences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["six"], "{report}");
    assert!(new.join(relsign::reldir::NOT_A_RELEASE).is_file());
    assert!(!new.join("attestations").exists());
    let o = relsign(&["diff", s(&base), s(&new), "--fail-on", "added"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("six"), "{}", text(&o));
    assert!(text(&o).contains("1.17.0"), "{}", text(&o));
}
