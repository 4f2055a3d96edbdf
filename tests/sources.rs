//! Package sources other than a directory: an sdist pinned by sha256 (fetched from an index)
//! and a git commit (fetched into the git cache), both built offline afterwards.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;

/// A copy of the demo recipe directory whose package source is `source` (TOML inline table
/// fields), without the image and the gate (they are not what this test is about).
fn recipe_with_source(dir: &Path, source: &str) -> std::path::PathBuf {
    relsign::fsutil::copy_tree(&root().join("recipes"), dir).unwrap();
    let text = std::fs::read_to_string(dir.join("demo.toml")).unwrap();
    let cut = text.find("\n# The demo image").unwrap_or(text.len());
    let text = text[..cut].replace("path = \"demo\"", source);
    let text = match (
        text.find("\n# The release gate:"),
        text.find("\n[toolchain]"),
    ) {
        (Some(a), Some(b)) => format!("{}{}", &text[..a], &text[b..]),
        _ => text,
    };
    assert!(text.contains(source), "{text}");
    let p = dir.join("demo.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// The copied demo lock with the package's build record read again from the recipe's new
/// source (the record names its source: a lock made from the directory does not describe a
/// build from an sdist or a git commit); what `relsign lock --python-only` writes, without
/// asking an index again. The source must be in `store` (fetched) first.
fn relock_builds(recipe: &Path, store: &Path) {
    let r = relsign::recipe::Recipe::load(recipe).unwrap();
    let path = r.python_lock_path();
    let mut lock = relsign::lock::python::PyLock::read(&path).unwrap();
    let inputs = relsign::lock::python::Inputs::from_recipe(&r).unwrap();
    let store = relsign::store::Store::at(store.to_path_buf());
    let builds =
        relsign::lock::builds::resolve_all(&r, &store, &inputs.build, &inputs.env).unwrap();
    let inputs = inputs.with_builds(builds);
    let tool = lock.relsign.as_mut().unwrap();
    tool.inputs_sha256 = Some(inputs.digest());
    tool.builds = inputs.builds.iter().map(|b| b.record.clone()).collect();
    lock.write(&path).unwrap();
}

fn build_in(recipe: &Path, out: &Path) -> serde_json::Value {
    run_ok(relsign(&[
        "build",
        recipe.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    serde_json::from_slice(&std::fs::read(out.join("release.json")).unwrap()).unwrap()
}

#[test]
fn an_sdist_source_pinned_by_sha256_rebuilds_to_the_same_sdist() {
    fetch_demo();
    let work = tempfile::tempdir().unwrap();
    // First, the demo's own sdist, built from the directory.
    let first = work.path().join("first");
    let m1 = build_in(&demo_recipe(), &first);
    let sdist = m1["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "sdist")
        .unwrap();
    let (file, sha) = (
        sdist["file"].as_str().unwrap(),
        sdist["sha256"].as_str().unwrap(),
    );
    // A one-project PEP 503 index on disk that serves it.
    let index = work.path().join("index");
    std::fs::create_dir_all(index.join("simple/relsign-demo")).unwrap();
    std::fs::copy(first.join(file), index.join(file)).unwrap();
    std::fs::write(
        index.join("simple/relsign-demo/index.html"),
        format!("<a href=\"../../{file}#sha256={sha}\">{file}</a>"),
    )
    .unwrap();
    // A recipe whose source is that sdist, pinned by sha256.
    let recipe = recipe_with_source(
        &work.path().join("recipes"),
        &format!("sdist = {{ file = \"{file}\", sha256 = \"{sha}\" }}"),
    );
    let url = format!("file://{}/simple", index.display());
    run_ok(relsign(&[
        "fetch",
        recipe.to_str().unwrap(),
        "--index-url",
        &url,
    ]));
    relock_builds(&recipe, &shared_store());
    let m2 = build_in(&recipe, &work.path().join("second"));
    // SOURCE_DATE_EPOCH comes from the sdist's newest member: the wheel built from the sdist
    // source is the wheel built from the directory, and the release's sdist is the pinned
    // sdist itself (remaking it would change SOURCES.txt).
    assert_eq!(m2["sources"][0]["kind"], "sdist");
    assert_eq!(m2["sources"][0]["digest"], sha);
    assert_eq!(m2["source_date_epoch"], m1["source_date_epoch"]);
    let digest_of = |m: &serde_json::Value, kind: &str| -> String {
        m["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["kind"] == kind)
            .unwrap()["sha256"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(digest_of(&m1, "wheel"), digest_of(&m2, "wheel"));
    assert_eq!(digest_of(&m2, "sdist"), sha);
    // And the sdist-sourced build is itself reproducible.
    let m3 = build_in(&recipe, &work.path().join("third"));
    assert_eq!(digest_of(&m2, "sdist"), digest_of(&m3, "sdist"));
    assert_eq!(digest_of(&m2, "wheel"), digest_of(&m3, "wheel"));
    // A wrong pin: the index's digest for that file differs, nothing is downloaded, and the
    // error names both digests.
    let bad = recipe_with_source(
        &work.path().join("recipes-bad"),
        &format!(
            "sdist = {{ file = \"{file}\", sha256 = \"{}\" }}",
            "0".repeat(64)
        ),
    );
    let o = relsign(&["fetch", bad.to_str().unwrap(), "--index-url", &url])
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_ne!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!("the index says sha256:{sha}"))
            && err.contains(&format!("the lock says sha256:{}", "0".repeat(64))),
        "{err}"
    );
}

#[test]
fn a_git_source_at_a_commit_is_fetched_then_built_offline() {
    fetch_demo();
    require_tool("git");
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    relsign::fsutil::copy_tree(&root().join("recipes/demo"), &repo.join("pkg")).unwrap();
    let git = |args: &[&str]| {
        run_ok({
            let mut c = Command::new("git");
            c.arg("-C")
                .arg(&repo)
                .args(args)
                .env("GIT_AUTHOR_DATE", "2024-01-02T03:04:05Z")
                .env("GIT_COMMITTER_DATE", "2024-01-02T03:04:05Z")
                .env("GIT_AUTHOR_NAME", "t")
                .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
                .env("GIT_COMMITTER_NAME", "t")
                .env("GIT_COMMITTER_EMAIL", "t@example.invalid");
            c
        })
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "demo"]);
    let commit = String::from_utf8(git(&["rev-parse", "HEAD"]).stdout)
        .unwrap()
        .trim()
        .to_string();
    let recipe = recipe_with_source(
        &work.path().join("recipes"),
        &format!(
            "git = {{ url = \"{}\", commit = \"{commit}\", subdir = \"pkg\" }}",
            repo.display()
        ),
    );
    // The lock, made with the commit fetched into a store of its own.
    let pre = work.path().join("store-pre");
    run_ok({
        let mut c = relsign(&["fetch", recipe.to_str().unwrap()]);
        c.env("RELSIGN_STORE", &pre);
        c
    });
    relock_builds(&recipe, &pre);
    // The build before fetch names what is missing.
    let o = relsign(&[
        "build",
        recipe.to_str().unwrap(),
        "--out",
        work.path().join("out0").to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("relsign fetch"), "{}", stderr(&o));
    run_ok(relsign(&["fetch", recipe.to_str().unwrap()]));
    let m = build_in(&recipe, &work.path().join("out"));
    assert_eq!(m["sources"][0]["kind"], "git");
    assert_eq!(m["sources"][0]["digest"], commit.as_str());
    assert_eq!(m["source_date_epoch"], 1_704_164_645u64, "the commit time");
    assert_eq!(m["artifacts"].as_array().unwrap().len(), 2);
}
