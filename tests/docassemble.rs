//! The real user's recipe: its locks are current (offline check), and every pin of the three
//! packages' pyproject.toml is in the recipe's requirements. (Building it, about three minutes
//! on a warm store and several hundred megabytes of inputs, is shown in the README and is run
//! by hand: `relsign fetch` + `relsign build recipes/docassemble.toml`.)

mod common;

use common::*;

#[test]
fn docassemble_locks_are_current() {
    let r = root().join("recipes/docassemble.toml");
    let o = run_ok(relsign(&["lock", "--check", r.to_str().unwrap()]));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("locks are up to date"), "{text}");
    let lock = std::fs::read_to_string(root().join("recipes/pylock.docassemble.toml")).unwrap();
    let reqs =
        std::fs::read_to_string(root().join("recipes/docassemble/requirements.txt")).unwrap();
    let pins: Vec<&str> = reqs
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains("=="))
        .collect();
    assert_eq!(
        pins.len(),
        248,
        "the third-party pins of docassemble 1.10.5"
    );
    for p in pins {
        let (name, version) = p.split_once("==").unwrap();
        let norm = relsign::python::requirements::normalize_name(name);
        assert!(
            lock.contains(&format!("name = \"{norm}\"\nversion = \"{version}\"")),
            "{p} is locked"
        );
    }
}
