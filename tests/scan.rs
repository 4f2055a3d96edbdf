//! `relsign scan` against a local OSV database (test-only records written here; the real OSV
//! exports are the same JSON records in a zip), on the signed demo release's SBOMs.

mod common;
use common::signed::shared_signed_demo;
use common::*;
use std::io::Write;
use std::path::Path;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The demo image's version of a Debian package, from its SBOM.
fn deb_version(rel: &Path, name: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(rel.join("sbom/image.cdx.json")).unwrap()).unwrap();
    let c = v["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name && c["purl"].as_str().unwrap().starts_with("pkg:deb/"))
        .unwrap();
    // Debian advisories are keyed by source: the SBOM says libc6 comes from glibc.
    assert_eq!(c["properties"][0]["name"], "relsign:debian:source", "{c}");
    assert_eq!(c["properties"][0]["value"], "glibc", "{c}");
    c["version"].as_str().unwrap().to_string()
}

#[test]
fn the_demo_against_a_local_osv_database() {
    let rel = &shared_signed_demo().release;
    let libc = deb_version(rel, "libc6");
    let t = tempfile::tempdir().unwrap();
    let records = [
        serde_json::json!({"modified": "2026-11-20T00:00:00Z", "id": "TEST-PY-0001", "summary": "click: test-only advisory",
            "affected": [{"package": {"ecosystem": "PyPI", "name": "Click"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "99.0"}]}]}],
            "database_specific": {"severity": "HIGH"}}),
        serde_json::json!({"modified": "2026-11-20T00:00:00Z", "id": "TEST-DEB-0002", "summary": "glibc: test-only advisory",
            "affected": [{"package": {"ecosystem": "Debian:13", "name": "glibc"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"},
            {"fixed": format!("{libc}+test1")}]}]}]}),
        serde_json::json!({"modified": "2026-11-20T00:00:00Z", "id": "TEST-DEB-0003", "summary": "another suite",
            "affected": [{"package": {"ecosystem": "Debian:12", "name": "glibc"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "9:9"}]}]}]}),
        serde_json::json!({"modified": "2026-11-20T00:00:00Z", "id": "TEST-PY-0004", "summary": "withdrawn",
            "withdrawn": "2026-01-01T00:00:00Z",
            "affected": [{"package": {"ecosystem": "PyPI", "name": "click"}, "versions": ["8.1.8"]}]}),
        serde_json::json!({"modified": "2026-11-20T00:00:00Z", "id": "TEST-PY-0005", "summary": "fixed long ago",
            "affected": [{"package": {"ecosystem": "PyPI", "name": "click"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "7.0"}]}]}]}),
    ];
    // As the OSV exports ship them: a zip of one JSON record per file.
    let db = t.path().join("osv.zip");
    let mut z = zip::ZipWriter::new(std::fs::File::create(&db).unwrap());
    for r in &records {
        z.start_file(
            format!("{}.json", r["id"].as_str().unwrap()),
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        z.write_all(&serde_json::to_vec(r).unwrap()).unwrap();
    }
    z.finish().unwrap();

    let o = relsign(&["scan", s(rel), "--db", s(&db), "--json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let ids: Vec<(&str, &str, &str)> = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["id"].as_str().unwrap(),
                f["package"].as_str().unwrap(),
                f["verdict"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ids,
        vec![
            ("TEST-PY-0001", "click", "fail"),
            ("TEST-DEB-0002", "libc6", "fail")
        ],
        "{j}"
    );
    assert!(
        stderr(&o).contains("2 finding(s) fail the policy"),
        "{}",
        stderr(&o)
    );

    // The recipe's locks, before any release: the Debian lock names no source package, so
    // each .deb's Source is read from the store and libc6 is matched as glibc, as in the SBOM.
    let findings = |o: &std::process::Output| -> Vec<String> {
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        j["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                format!(
                    "{} {}",
                    f["id"].as_str().unwrap(),
                    f["package"].as_str().unwrap()
                )
            })
            .collect()
    };
    let recipe = demo_recipe();
    let o = relsign(&["scan", s(&recipe), "--db", s(&db), "--json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(findings(&o), ["TEST-PY-0001 click", "TEST-DEB-0002 libc6"]);
    assert!(!stderr(&o).contains("not in the store"), "{}", stderr(&o));
    // With the .debs not fetched: matched by binary name (no glibc finding), and said so.
    let empty = tempfile::tempdir().unwrap();
    let o = relsign(&["scan", s(&recipe), "--db", s(&db), "--json"])
        .env("RELSIGN_STORE", empty.path())
        .output()
        .unwrap();
    assert_eq!(findings(&o), ["TEST-PY-0001 click"]);
    let lock = std::fs::read_to_string(root().join("recipes/demo.image.debian.lock.toml")).unwrap();
    let n = lock.matches("[[package]]").count();
    assert!(
        stderr(&o).contains(&format!(
            "{n} locked .deb(s) are not in the store: matched by their binary name"
        )) && stderr(&o).contains("run `relsign fetch"),
        "{}",
        stderr(&o)
    );
    // `relsign lock --record-sources` writes the sources into a copy of the locks (from the
    // store, offline, pins unchanged): then the scan needs no .deb, and finds glibc again.
    let copy = copy_demo_recipe(&t.path().join("recorded"));
    let lock_path = copy.with_file_name("demo.image.debian.lock.toml");
    let before = std::fs::read_to_string(&lock_path).unwrap();
    run_ok(relsign(&["lock", "--record-sources", s(&copy)]));
    let after = std::fs::read_to_string(&lock_path).unwrap();
    assert!(
        after.contains("sources = true") && after.contains("source-versions = true"),
        "{after}"
    );
    assert!(after.contains("source = \"glibc\""), "{after}");
    // libacl1 2.3.2-2+b1 is a binNMU of acl 2.3.2-2.
    assert!(after.contains("source-version = \"2.3.2-2\""), "{after}");
    let pins = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.starts_with("source") && !l.is_empty())
            .map(str::to_string)
            .collect()
    };
    assert_eq!(pins(&before), pins(&after), "only sources were added");
    let o = relsign(&["scan", s(&copy), "--db", s(&db), "--json"])
        .env("RELSIGN_STORE", empty.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(findings(&o), ["TEST-PY-0001 click", "TEST-DEB-0002 libc6"]);
    assert!(!stderr(&o).contains("not in the store"), "{}", stderr(&o));
    // Run again, it says so and changes nothing.
    let o = run_ok(relsign(&["lock", "--record-sources", s(&copy)]));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("already records its sources; unchanged"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(std::fs::read_to_string(&lock_path).unwrap(), after);
    // A .deb not in the store is an error naming it, and the lock is left as it was.
    let copy2 = copy_demo_recipe(&t.path().join("unfetched"));
    let o = relsign(&["lock", "--record-sources", s(&copy2)])
        .env("RELSIGN_STORE", empty.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains(".deb"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(copy2.with_file_name("demo.debian.lock.toml")).unwrap(),
        std::fs::read_to_string(root().join("recipes/demo.debian.lock.toml")).unwrap()
    );

    // Allow-listed with a reason until a future date: passes; expired: fails again.
    let allow = t.path().join("allow.toml");
    let write_allow = |expires: &str| {
        std::fs::write(
            &allow,
            format!(
                "[[allow]]\nid = \"TEST-PY-0001\"\npackage = \"click\"\nreason = \"test-only\"\nexpires = \"{expires}\"\n\n[[allow]]\nid = \"TEST-DEB-0002\"\npackage = \"libc6\"\nreason = \"test-only\"\nexpires = \"{expires}\"\n"
            ),
        )
        .unwrap()
    };
    write_allow("2999-01-01");
    let o = run_ok(relsign(&[
        "scan",
        s(rel),
        "--db",
        s(&db),
        "--allow",
        s(&allow),
    ]));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("allowed until 2999-01-01: test-only"), "{out}");
    write_allow("2001-01-01");
    let o = relsign(&["scan", s(rel), "--db", s(&db), "--allow", s(&allow)])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("the allow-list entry expired on 2001-01-01"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    // Report only; and the severity gate alone.
    run_ok(relsign(&[
        "scan",
        s(rel),
        "--db",
        s(&db),
        "--fail-on",
        "none",
    ]));
    let o = relsign(&[
        "scan",
        s(rel),
        "--db",
        s(&db),
        "--fail-on",
        "none",
        "--severity",
        "HIGH",
    ])
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("1 finding(s)"), "{}", stderr(&o));
    // A record with a duplicate key is refused, naming it.
    let bad = t.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("x.json"), r#"{"id":"A","id":"B"}"#).unwrap();
    let o = relsign(&["scan", s(rel), "--db", s(&bad)])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("duplicate key \"id\""),
        "{}",
        stderr(&o)
    );
}
