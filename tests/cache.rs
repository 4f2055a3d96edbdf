//! The action cache: a second build with the same inputs takes every step from the store and
//! writes the same bytes; a changed recipe section rebuilds only the step that reads it; a
//! corrupt cached output is rebuilt, not used; `--no-cache` runs every step.

mod common;
use common::*;
use std::path::{Path, PathBuf};

/// The demo recipe, its locks and a copy of its source directory in `dir`; `nonce` is written
/// into a source file, so this copy's package has inputs no other build had (its first build
/// is cold).
fn demo_copy(dir: &Path, nonce: &str) -> PathBuf {
    let recipe = copy_demo_recipe(dir);
    relsign::fsutil::copy_tree(&root().join("recipes/demo"), &dir.join("demo")).unwrap();
    let cli = dir.join("demo/src/relsign_demo/cli.py");
    let mut text = std::fs::read_to_string(&cli).unwrap();
    text.push_str(&format!("\n# {nonce}\n"));
    std::fs::write(&cli, text).unwrap();
    recipe
}

fn build(recipe: &Path, out: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "build",
        recipe.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    out_text(&run_ok(relsign(&args)))
}

const PACKAGE_HIT: &str = "relsign-demo: sdist and wheel from the action cache";
const IMAGE_HIT: &str = "image relsign-demo: from the action cache";

#[test]
fn the_cache_reuses_exactly_what_the_same_inputs_made() {
    fetch_demo();
    let t = tempfile::tempdir().unwrap();
    let nonce = format!(
        "cache test {:?} {}",
        std::time::SystemTime::now(),
        std::process::id()
    );
    let recipe = demo_copy(&t.path().join("r"), &nonce);

    // Cold: every step runs.
    let a = t.path().join("a");
    let text = build(&recipe, &a, &[]);
    assert!(
        !text.contains(PACKAGE_HIT) && !text.contains(IMAGE_HIT),
        "{text}"
    );
    assert!(text.contains("assembling the build rootfs"), "{text}");

    // The same inputs again: every step from the cache, no rootfs, the same bytes.
    let b = t.path().join("b");
    let text = build(&recipe, &b, &[]);
    assert!(
        text.contains(PACKAGE_HIT) && text.contains(IMAGE_HIT),
        "{text}"
    );
    assert!(!text.contains("assembling the build rootfs"), "{text}");
    assert_eq!(artifact_digests(&a), artifact_digests(&b));
    assert_eq!(
        std::fs::read(a.join("release.json")).unwrap(),
        std::fs::read(b.join("release.json")).unwrap()
    );

    // --no-cache: every step runs again, and gives the same bytes.
    let c = t.path().join("c");
    let text = build(&recipe, &c, &["--no-cache"]);
    assert!(
        !text.contains(PACKAGE_HIT) && !text.contains(IMAGE_HIT),
        "{text}"
    );
    assert_eq!(artifact_digests(&a), artifact_digests(&c));

    // A changed image label: the package comes from the cache, the image is rebuilt.
    let text = std::fs::read_to_string(&recipe).unwrap();
    std::fs::write(
        &recipe,
        text.replace("\"relsign demo\"", "\"relsign demo, relabelled\""),
    )
    .unwrap();
    let d = t.path().join("d");
    let text = build(&recipe, &d, &[]);
    assert!(
        text.contains(PACKAGE_HIT) && !text.contains(IMAGE_HIT),
        "{text}"
    );
    let (before, after) = (artifact_digests(&a), artifact_digests(&d));
    assert_eq!(before[1..], after[1..], "sdist and wheel are the same");
    assert_eq!(before[0].0, "image");
    assert_ne!(before[0], after[0], "the image changed");

    // A corrupt cached wheel in the store: the package is rebuilt, not taken from the cache,
    // and the result is the same.
    let wheel = &after.iter().find(|(f, _)| f.ends_with(".whl")).unwrap().1;
    let entry = shared_store().join("sha256").join(&wheel[..2]).join(wheel);
    assert!(entry.is_file(), "the wheel is a store entry");
    std::fs::write(&entry, b"not the wheel").unwrap();
    let e = t.path().join("e");
    let text = build(&recipe, &e, &[]);
    assert!(
        !text.contains(PACKAGE_HIT) && text.contains(IMAGE_HIT),
        "{text}"
    );
    assert_eq!(artifact_digests(&d), artifact_digests(&e));
}
