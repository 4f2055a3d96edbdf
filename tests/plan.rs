//! `relsign build --plan`: the plan as data, decided from the recipe and its locks alone, with
//! every input named by digest; the same plan (and digest) from anywhere, and a different
//! digest when an input changes.

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
    std::fs::create_dir_all(&dir).unwrap();
    for f in [
        "demo.toml",
        "demo.debian.lock.toml",
        "pylock.demo.toml",
        "demo.image.debian.lock.toml",
    ] {
        std::fs::copy(root().join("recipes").join(f), dir.join(f)).unwrap();
    }
    std::os::unix::fs::symlink(root().join("recipes/demo"), dir.join("demo")).unwrap();
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
