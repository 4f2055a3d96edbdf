//! `relsign diff`: packages from the CycloneDX SBOMs, image files per layer, `--fail-on`.

mod common;
use common::*;
use std::path::Path;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn an_upgrade_reads_as_a_changelog_and_fail_on_added_stops_it() {
    fetch_demo();
    let t = tempfile::tempdir().unwrap();
    // OLD: the demo release. NEW: the same recipe with one more file in the image.
    let recipes = t.path().join("recipes");
    relsign::fsutil::copy_tree(&root().join("recipes"), &recipes).unwrap();
    let old = t.path().join("old");
    run_ok(relsign(&[
        "build",
        s(&recipes.join("demo.toml")),
        "--out",
        s(&old),
    ]));
    run_ok(relsign(&["sbom", s(&old)]));
    let mut text = std::fs::read_to_string(recipes.join("demo.toml")).unwrap();
    text = text.replacen(
        "[[image.files]]",
        "[[image.files]]\nsrc = \"demo/pyproject.toml\"\ndest = \"/usr/share/doc/relsign-demo/pyproject.toml\"\n\n[[image.files]]",
        1,
    );
    std::fs::write(recipes.join("demo.toml"), text).unwrap();
    let new = t.path().join("new");
    run_ok(relsign(&[
        "build",
        s(&recipes.join("demo.toml")),
        "--out",
        s(&new),
    ]));
    run_ok(relsign(&["sbom", s(&new)]));

    let o = run_ok(relsign(&["diff", s(&old), s(&new)]));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("packages: no change"), "{out}");
    assert!(
        out.contains("image layer 3: 1 added, 0 removed, 0 changed")
            && out.contains("+ /usr/share/doc/relsign-demo/pyproject.toml"),
        "{out}"
    );
    assert!(
        out.contains("image layer 1: 0 added, 0 removed, 0 changed"),
        "{out}"
    );
    // --fail-on files: exit 1; --fail-on added: nothing was added, exit 0.
    let o = relsign(&["diff", s(&old), s(&new), "--fail-on", "files"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("1 files"), "{}", stderr(&o));
    run_ok(relsign(&["diff", s(&old), s(&new), "--fail-on", "added"]));

    // Packages: NEW's image SBOM with one Debian package upgraded, one removed, one added and
    // a Python package downgraded (an SBOM file is a valid target on its own).
    let sb = old.join("sbom/image.cdx.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&sb).unwrap()).unwrap();
    let comps = v["components"].as_array_mut().unwrap();
    let deb = |c: &serde_json::Value| c["purl"].as_str().unwrap_or("").starts_with("pkg:deb/");
    let py = |c: &serde_json::Value| c["purl"].as_str().unwrap_or("").starts_with("pkg:pypi/");
    let i = comps.iter().position(deb).unwrap();
    let upgraded = comps[i]["name"].as_str().unwrap().to_string();
    let was = comps[i]["version"].as_str().unwrap().to_string();
    comps[i]["version"] = format!("{was}+deb13u99").into();
    let j = comps.iter().rposition(deb).unwrap();
    let removed = comps.remove(j)["name"].as_str().unwrap().to_string();
    let mut added = comps[i].clone();
    added["name"] = "brand-new-dependency".into();
    added["purl"] = "pkg:deb/debian/brand-new-dependency@1.0?arch=amd64".into();
    added["version"] = "1.0".into();
    comps.push(added);
    let k = comps.iter().position(py).unwrap();
    let pyname = comps[k]["name"].as_str().unwrap().to_string();
    comps[k]["version"] = "0.0.1".into();
    let newsb = t.path().join("image-new.cdx.json");
    std::fs::write(&newsb, serde_json::to_vec(&v).unwrap()).unwrap();
    let o = relsign(&["diff", s(&sb), s(&newsb), "--fail-on", "added", "--json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let change = |name: &str| -> String {
        let norm = name.to_ascii_lowercase().replace('_', "-");
        j["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name || p["name"] == norm.as_str())
            .map(|p| p["change"].as_str().unwrap().to_string())
            .unwrap_or_default()
    };
    assert_eq!(change(&upgraded), "upgraded", "{j}");
    assert_eq!(change(&removed), "removed", "{j}");
    assert_eq!(change("brand-new-dependency"), "added", "{j}");
    assert_eq!(change(&pyname), "downgraded", "{j}");
    assert_eq!(j["failed"], serde_json::json!(["1 added"]));
    let o = run_ok(relsign(&["diff", s(&sb), s(&newsb)]));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("deb:\n") && out.contains("  + brand-new-dependency 1.0"),
        "{out}"
    );
    assert!(
        out.contains("1 added, 1 removed, 1 upgraded, 1 downgraded"),
        "{out}"
    );

    // Not an SBOM: a clear error naming the file.
    let o = relsign(&["diff", s(&old.join("release.json")), s(&newsb)])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("release.json: not a CycloneDX SBOM"),
        "{}",
        stderr(&o)
    );
    let o = relsign(&["diff", s(&old), s(&new), "--fail-on", "nonsense"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}
