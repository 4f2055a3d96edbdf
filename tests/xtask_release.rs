//! `cargo xtask release`: a dry run, then a real release to loopback destinations (two
//! registries, pypiserver, a mirror), then `relsign verify` from each; a dirty tree stops the
//! release in preflight, before anything is built or published.

mod common;

use common::pyindex::PyIndex;
use common::signed::{keys_and_policy, rs, PASSPHRASE};
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const USER: &str = "maintainer";
const PASS: &str = "release-pass-xtask";

fn xtask_bin() -> PathBuf {
    let p = root().join("target/debug/xtask");
    assert!(
        p.is_file(),
        "{} is missing: run the tests through `cargo xtask test`, which builds it",
        p.display()
    );
    p
}

fn git(dir: &Path, args: &[&str]) {
    let mut c = Command::new("git");
    c.arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=relsign test",
            "-c",
            "user.email=test@relsign.invalid",
        ])
        .args(args);
    run_ok(c);
}

/// The demo recipe, its locks and source in a fresh git repository (a clean checkout).
fn checkout(dir: &Path) -> PathBuf {
    let rec = dir.join("recipes");
    std::fs::create_dir_all(&rec).unwrap();
    for f in [
        "demo.toml",
        "demo.debian.lock.toml",
        "demo.image.debian.lock.toml",
        "pylock.demo.toml",
    ] {
        std::fs::copy(root().join("recipes").join(f), rec.join(f)).unwrap();
    }
    relsign::fsutil::copy_tree(&root().join("recipes/demo"), &rec.join("demo")).unwrap();
    git(dir, &["init", "-q"]);
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", "demo"]);
    rec.join("demo.toml")
}

#[test]
fn xtask_release_dry_run_then_real_release_then_verify_everywhere() {
    require_tool("git");
    fetch_demo();
    let work = root().join("target/test-work/xtask-release");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let (policy, key) = keys_and_policy(&work.join("keys"));
    let recipe = checkout(&work.join("checkout"));
    let h = common::pyindex::htpasswd(USER, PASS);
    let (hub, harbor) = (Registry::start(Some(&h)), Registry::start(Some(&h)));
    let pypi = PyIndex::pypiserver(USER, PASS);
    let mirror = work.join("mirror");
    let urls = [
        format!("pypi={}", pypi.upload_url()),
        format!("hub=http://{}/relsign/demo", hub.host()),
        format!("harbor=http://{}/relsign/demo", harbor.host()),
        format!("mirror={}", mirror.display()),
    ];
    let xtask = |extra: &[&str]| -> Command {
        let mut c = Command::new(xtask_bin());
        c.args([
            "release",
            recipe.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ])
        .args(["--policy", policy.to_str().unwrap()])
        .args(["--out", work.join("out").to_str().unwrap()]);
        for u in &urls {
            c.args(["--url", u]);
        }
        c.args(extra)
            .env("RELSIGN_BIN", bin())
            .env("RELSIGN_STORE", shared_store())
            .env("RELSIGN_PASSPHRASE", PASSPHRASE)
            .env("RELSIGN_REGISTRY_CREDENTIALS", format!("{USER}:{PASS}"))
            .env_remove("RELSIGN_STATE");
        for n in ["PYPI", "HUB", "HARBOR"] {
            c.env(format!("RELSIGN_PUBLISH_{n}"), format!("{USER}:{PASS}"));
        }
        c
    };

    let o = run_ok(xtask(&["--dry-run"]));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        text.contains("dry run of relsign-demo 0.1.0 passed"),
        "{text}"
    );
    assert!(
        text.contains("plan: publish relsign-demo 0.1.0 to 4 destination(s)"),
        "{text}"
    );
    assert!(
        !mirror.join("releases").exists(),
        "a dry run publishes nothing"
    );

    let o = run_ok(xtask(&[]));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(text.contains("released relsign-demo 0.1.0"), "{text}");
    assert!(
        text.contains(
            "published and verified from: pypi (pypi), hub (oci), harbor (oci), mirror (mirror)"
        ),
        "{text}"
    );
    let se = stderr(&o);
    assert!(
        !se.contains(PASS) && !text.contains(PASS),
        "no credentials in output"
    );

    // verify again, by hand, from each destination.
    let out = work.join("out");
    let mrel = mirror.join("releases/relsign-demo/0.1.0");
    run_ok(rs(&[
        "verify",
        mrel.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
        "--no-state",
    ]));
    for reg in [&hub, &harbor] {
        let mut c = rs(&[
            "verify",
            &format!("docker://http://{}/relsign/demo:0.1.0", reg.host()),
            "--policy",
            policy.to_str().unwrap(),
            "--no-state",
        ]);
        c.env("RELSIGN_REGISTRY_CREDENTIALS", format!("{USER}:{PASS}"));
        run_ok(c);
    }
    assert!(out.join("release.json").is_file());
    // diff and scan read a published release too: the two registries serve the same one, and
    // an empty OSV database finds nothing in it.
    let refs: Vec<String> = [&hub, &harbor]
        .iter()
        .map(|reg| format!("docker://http://{}/relsign/demo:0.1.0", reg.host()))
        .collect();
    let mut c = rs(&[
        "diff",
        &refs[0],
        &refs[1],
        "--fail-on",
        "added,removed,upgraded,downgraded,files",
    ]);
    c.env("RELSIGN_REGISTRY_CREDENTIALS", format!("{USER}:{PASS}"));
    let o = run_ok(c);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("packages: no change") && text.contains("0 image file(s) changed"),
        "{text}"
    );
    let empty_db = work.join("osv-empty");
    std::fs::create_dir_all(&empty_db).unwrap();
    let mut c = rs(&["scan", &refs[0], "--db", empty_db.to_str().unwrap()]);
    c.env("RELSIGN_REGISTRY_CREDENTIALS", format!("{USER}:{PASS}"));
    let o = run_ok(c);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("no known vulnerability"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );

    // A dirty tree stops the release in preflight.
    let src = recipe.parent().unwrap().join("demo/README.md");
    std::fs::write(&src, "changed\n").unwrap();
    let o = xtask(&["--dry-run"]).output().unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("is not clean"), "{}", stderr(&o));
}
