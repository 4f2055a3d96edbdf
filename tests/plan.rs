//! `relsign build --plan`: the plan as data, decided from the recipe and its locks alone, with
//! every input named by digest; the same plan (and digest) from anywhere, and a different
//! digest when an input changes.

mod common;

use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn plan(recipe: &Path) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_relsign"))
        .args(["--json", "build", "--plan"])
        .arg(recipe)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "relsign build --plan {}: {}",
        recipe.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn sha256(p: &Path) -> String {
    hex(&Sha256::digest(std::fs::read(p).unwrap()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn the_plan_names_every_input_by_digest_and_builds_nothing() {
    let recipe = root().join("recipes/demo.toml");
    let p = plan(&recipe);
    assert_eq!(p["_type"], "https://relsign.dev/build-plan/v1");
    // The inputs are the recipe and its three locks, with the digests of their bytes.
    let inputs = p["inputs"].as_array().unwrap();
    let names: Vec<&str> = inputs.iter().map(|i| i["path"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "demo.toml",
            "demo.debian.lock.toml",
            "pylock.demo.toml",
            "demo.image.debian.lock.toml"
        ]
    );
    for i in inputs {
        let file = root().join("recipes").join(i["path"].as_str().unwrap());
        assert_eq!(i["sha256"], sha256(&file), "{}", file.display());
    }
    // The rootfs is the toolchain lock's .debs, each by digest.
    let lock = std::fs::read_to_string(root().join("recipes/demo.debian.lock.toml")).unwrap();
    let debs = p["rootfs"].as_array().unwrap();
    assert_eq!(debs.len(), lock.matches("[[package]]").count());
    for d in debs {
        assert!(lock.contains(d["sha256"].as_str().unwrap()), "{d}");
        assert!(d["file"].as_str().unwrap().ends_with(".deb"), "{d}");
    }
    // One package from its directory: sdist, then the wheel from it, in its own environment.
    let pkg = &p["packages"][0];
    assert_eq!(pkg["package"], "relsign-demo");
    assert_eq!(pkg["source"]["kind"], "dir");
    assert_eq!(
        pkg["steps"],
        serde_json::json!(["build_sdist", "build_wheel"])
    );
    assert_eq!(pkg["environment"]["backend"], "setuptools.build_meta");
    assert!(!pkg["environment"]["requirements"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(
        p["image"]["built_wheels"],
        serde_json::json!(["relsign-demo"])
    );
    // The digest is the SHA-256 of the plan's canonical JSON (without the digest itself).
    let mut body = p.clone();
    let digest = body.as_object_mut().unwrap().remove("digest").unwrap();
    let canonical = serde_json::to_vec(&body).unwrap();
    assert_eq!(
        digest,
        format!("sha256:{}", hex(&Sha256::digest(&canonical)))
    );
}

#[test]
fn the_same_inputs_give_the_same_plan_anywhere_and_a_changed_input_another() {
    let here = plan(&root().join("recipes/demo.toml"));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("elsewhere");
    demo_copy(&dir, "");
    let there = plan(&dir.join("demo.toml"));
    assert_eq!(here, there, "the plan depends on where the recipe is");
    // A changed lock (a comment is enough: the lock file is an input by digest) changes it.
    let lock = dir.join("pylock.demo.toml");
    let mut text = std::fs::read_to_string(&lock).unwrap();
    text.push_str("# changed\n");
    std::fs::write(&lock, text).unwrap();
    let changed = plan(&dir.join("demo.toml"));
    assert_ne!(here["digest"], changed["digest"]);
    assert_eq!(here["rootfs"], changed["rootfs"]);
}

/// The demo's recipe and locks copied into `dir` (its source directory linked), with `extra`
/// appended to the recipe.
fn demo_copy(dir: &Path, extra: &str) -> std::path::PathBuf {
    common::copy_demo_recipe(dir);
    std::os::unix::fs::symlink(root().join("recipes/demo"), dir.join("demo")).unwrap();
    let recipe = dir.join("demo.toml");
    let mut text = std::fs::read_to_string(&recipe).unwrap();
    text.push_str(extra);
    std::fs::write(&recipe, text).unwrap();
    recipe
}

fn relsign(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_relsign"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_release_plan_is_the_build_plan_then_the_stages_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    // The policy gates: a vulnerability database pinned by the vulndb lock, and a stable branch.
    let extra = "\n[vulnerabilities]\nlock = \"demo.vulndb.lock.toml\"\nfail-on = \"fixed\"\nseverity = \"HIGH\"\nmax-age-days = 7\n\n[[vulnerabilities.database]]\nname = \"PyPI\"\nlocations = [\"osv-PyPI.zip\"]\n";
    let recipe = demo_copy(&tmp.path().join("r"), extra);
    let text = std::fs::read_to_string(&recipe).unwrap();
    let text = text.replacen("[release]\n", "[release]\nstable = \"0.1\"\n", 1);
    std::fs::write(&recipe, text).unwrap();
    let db_sha = hex(&Sha256::digest(b"a database"));
    std::fs::write(
        tmp.path().join("r/demo.vulndb.lock.toml"),
        format!("lock-version = 1\n\n[[database]]\nname = \"PyPI\"\nfile = \"osv-PyPI.zip\"\nsha256 = \"{db_sha}\"\nsize = 10\ntaken = \"2026-12-01T00:00:00Z\"\nrecords = 3\n"),
    )
    .unwrap();
    let r = recipe.to_str().unwrap();
    let o = relsign(&[
        "--json",
        "release",
        r,
        "--plan",
        "--check-reproducible",
        "--key",
        "a.pem",
        "--key",
        "b.pem",
        "--log",
        "/srv/log",
        "--log-key",
        "log.pem",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let p: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(p["_type"], "https://relsign.dev/release-plan/v1");
    // The build part is `build --plan`'s plan, with its digest.
    let mut build = plan(&recipe);
    let build_digest = build.as_object_mut().unwrap().remove("digest").unwrap();
    assert_eq!(p["build"], build);
    assert_eq!(
        format!("sha256:{}", p["build_digest"].as_str().unwrap()),
        build_digest
    );
    // Then the stages, in the order they run.
    let stages: Vec<&str> = p["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(
        stages,
        [
            "check-reproducible",
            "gate",
            "sboms",
            "vulnerabilities",
            "stable",
            "sign",
            "log"
        ]
    );
    let s = &p["stages"];
    assert_eq!(s[1]["features"], "demo/features");
    assert_eq!(s[3]["databases"][0]["sha256"], db_sha.as_str());
    assert_eq!(s[3]["severity"], "HIGH");
    assert_eq!(s[4]["branch"], "0.1");
    assert_eq!(s[5]["keys"], 2);
    assert_eq!(s[6]["dir"], "/srv/log");
    // Its digest is the SHA-256 of its canonical JSON.
    let mut body = p.clone();
    let digest = body.as_object_mut().unwrap().remove("digest").unwrap();
    let canonical = serde_json::to_vec(&body).unwrap();
    assert_eq!(
        digest,
        format!("sha256:{}", hex(&Sha256::digest(&canonical)))
    );

    // Without the options, only the stages the recipe calls for; the text form names them.
    let o = relsign(&["release", r, "--plan"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    for want in [
        "release plan for relsign-demo 0.1.0 (sha256:",
        "gate: behave features demo/features in venv, image",
        &format!(
            "vulnerability gate: fail on fixed or severity HIGH, databases PyPI sha256:{db_sha}"
        ),
        "stable branch 0.1: compared with its last release in",
        "sign with the --key keys: provenance,",
    ] {
        assert!(text.contains(want), "{want:?} not in:\n{text}");
    }
    assert!(!text.contains("check reproducible") && !text.contains("log the signatures"));
}

#[test]
fn a_release_plan_needs_the_gate_and_a_readable_vulndb_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let recipe = demo_copy(&tmp.path().join("r"), "");
    let text = std::fs::read_to_string(&recipe).unwrap();
    let cut = text
        .find("[test]")
        .expect("the demo recipe has a [test] gate");
    let end = text[cut + 1..]
        .find("\n[")
        .map_or(text.len(), |e| cut + 1 + e);
    std::fs::write(&recipe, format!("{}{}", &text[..cut], &text[end..])).unwrap();
    let o = relsign(&["release", recipe.to_str().unwrap(), "--plan"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "{}: a signed release needs the [test] gate",
            recipe.display()
        )),
        "{err}"
    );
    // A [vulnerabilities] section whose lock is missing: named, before anything is built.
    let recipe = demo_copy(
        &tmp.path().join("v"),
        "\n[vulnerabilities]\nlock = \"demo.vulndb.lock.toml\"\nmax-age-days = 7\n\n[[vulnerabilities.database]]\nname = \"PyPI\"\n",
    );
    let o = relsign(&["release", recipe.to_str().unwrap(), "--plan"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("demo.vulndb.lock.toml")
            && err.contains("missing: run `relsign vulndb RECIPE`"),
        "{err}"
    );
}
