//! `relsign publish` end to end against real servers on 127.0.0.1: two docker-registry
//! instances with htpasswd (the Docker Hub and Harbor roles), pypiserver with htpasswd, and a
//! static mirror served by a plain HTTP file server.

mod common;

use common::pyindex::PyIndex;
use common::signed::{keys_and_policy, rs, shared_signed_demo, signed_copy};
use common::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const USER: &str = "relsign";
const PASS: &str = "s3cret-publish-pass";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The servers a publish goes to.
struct Dests {
    hub: Registry,
    harbor: Registry,
    pypi: PyIndex,
    mirror: tempfile::TempDir,
}

impl Dests {
    fn start() -> Dests {
        let h = common::pyindex::htpasswd(USER, PASS);
        Dests {
            hub: Registry::start(Some(&h)),
            harbor: Registry::start(Some(&h)),
            pypi: PyIndex::pypiserver(USER, PASS),
            mirror: tempfile::tempdir().unwrap(),
        }
    }
    fn urls(&self) -> Vec<String> {
        vec![
            format!("pypi={}", self.pypi.upload_url()),
            format!("hub=http://{}/relsign/demo", self.hub.host()),
            format!("harbor=http://{}/relsign/demo", self.harbor.host()),
            format!("mirror={}", self.mirror.path().display()),
        ]
    }
    fn publish(&self, release: &Path, policy: &Path, extra: &[&str]) -> Command {
        let mut args = vec![
            "publish".to_string(),
            s(release).into(),
            "--policy".into(),
            s(policy).into(),
        ];
        for u in self.urls() {
            args.push("--url".into());
            args.push(u);
        }
        args.extend(extra.iter().map(|x| x.to_string()));
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut c = rs(&a);
        let cred = format!("{USER}:{PASS}");
        for n in ["PYPI", "HUB", "HARBOR"] {
            c.env(format!("RELSIGN_PUBLISH_{n}"), &cred);
        }
        c
    }
}

fn image_digest(release: &Path) -> String {
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(release.join("release.json")).unwrap()).unwrap();
    m["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "oci-image")
        .unwrap()["sha256"]
        .as_str()
        .unwrap()
        .to_string()
}

fn skopeo_inspect(reference: &str, raw: bool) -> serde_json::Value {
    require_tool("skopeo");
    let mut c = Command::new("skopeo");
    c.args([
        "inspect",
        "--tls-verify=false",
        "--creds",
        &format!("{USER}:{PASS}"),
    ]);
    if raw {
        c.arg("--raw");
    }
    c.arg(reference);
    let o = run_ok(c);
    serde_json::from_slice(&o.stdout).unwrap()
}

fn json_out(c: Command) -> serde_json::Value {
    let o = run_ok(c);
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)))
}

/// `relsign publish REL --policy POL` to the given destinations only (`--to NAME --url
/// NAME=URL` each), with `extra` arguments; every destination's credentials are USER:PASS.
fn publish_to(rel: &Path, policy: &Path, dests: &[(&str, String)], extra: &[&str]) -> Command {
    let mut args: Vec<String> = vec!["publish".into(), s(rel).into(), "--policy".into()];
    args.push(s(policy).into());
    for (name, url) in dests {
        args.extend(["--to".into(), name.to_string(), "--url".into()]);
        args.push(format!("{name}={url}"));
    }
    args.extend(extra.iter().map(|x| x.to_string()));
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut c = rs(&a);
    for (name, _) in dests {
        c.env(
            format!("RELSIGN_PUBLISH_{}", name.to_uppercase()),
            format!("{USER}:{PASS}"),
        );
    }
    c
}

/// Outcomes of every step of a `publish --json` report, per destination.
fn outcomes(report: &serde_json::Value) -> BTreeMap<String, Vec<String>> {
    report["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["name"].as_str().unwrap().to_string(),
                d["steps"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s["outcome"].as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect()
}

/// `pip install --require-hashes --no-deps` of the demo wheel from `index` into a temp target.
fn pip_install_from(index: &str, release: &Path) {
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(release.join("release.json")).unwrap()).unwrap();
    let wheel = m["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "wheel")
        .unwrap()
        .clone();
    let sdist = m["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "sdist")
        .unwrap()
        .clone();
    let t = tempfile::tempdir().unwrap();
    let req = t.path().join("req.txt");
    std::fs::write(
        &req,
        format!(
            "relsign-demo==0.1.0 --hash=sha256:{} --hash=sha256:{}\n",
            wheel["sha256"].as_str().unwrap(),
            sdist["sha256"].as_str().unwrap()
        ),
    )
    .unwrap();
    let mut c = Command::new(venv().join("bin/python"));
    c.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--require-hashes",
        "--only-binary",
        ":all:",
    ])
    .args(["--index-url", index, "--target"])
    .arg(t.path().join("site"))
    .arg("-r")
    .arg(&req)
    .env("PIP_CONFIG_FILE", "/dev/null")
    .env_remove("PIP_FIND_LINKS");
    run_ok(c);
    assert!(
        t.path().join("site/relsign_demo/__init__.py").is_file()
            || t.path().join("site/relsign_demo").is_dir()
    );
}

/// The verification runs beside the first blob uploads: a release that does not verify gets no
/// name anywhere. No manifest or tag in either registry, nothing on the index, nothing in the
/// mirror; the error is the verification's, exit 1. (Blobs may have gone up: content-addressed,
/// named by nothing.)
#[test]
fn a_release_that_does_not_verify_is_given_no_name_anywhere() {
    let (_t, rel) = signed_copy();
    let other = tempfile::tempdir().unwrap();
    // A policy of other keys: the release's signatures count for nothing.
    let (policy, _) = keys_and_policy(other.path());
    let d = Dests::start();
    let digest = image_digest(&rel);
    let o = d.publish(&rel, &policy, &[]).output().unwrap();
    let text = out_text(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(
        text.contains("the release does not verify, nothing is published: check `provenance signature` failed"),
        "{text}"
    );
    for reg in [&d.hub, &d.harbor] {
        assert_eq!(reg_get(reg, &format!("manifests/sha256:{digest}")), None);
        assert_eq!(reg_get(reg, "manifests/0.1.0"), None);
        assert_eq!(reg_get(reg, &format!("manifests/sha256-{digest}")), None);
        let tags = reg_get(reg, "tags/list").map(|b| String::from_utf8_lossy(&b).into_owned());
        assert!(
            tags.as_deref().is_none_or(|t| !t.contains("0.1.0")),
            "{tags:?}"
        );
    }
    let uploaded: Vec<_> = std::fs::read_dir(d.pypi.packages_dir())
        .map(|r| r.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(uploaded.is_empty(), "uploaded to the index: {uploaded:?}");
    let mirrored: Vec<_> = std::fs::read_dir(d.mirror.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(mirrored.is_empty(), "written to the mirror: {mirrored:?}");
}

/// The plan is made before the verification's verdict (which runs beside the first blob
/// uploads), so what it parses is parsed as untrusted: a release.json with a duplicate key stops
/// the publish before anything is sent, naming the file and the key.
#[test]
fn a_release_json_with_a_duplicate_key_stops_the_publish_before_anything_is_sent() {
    let (_t, rel) = signed_copy();
    let path = rel.join("release.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let tampered = text.replacen('{', "{\"name\":\"evil\",", 1);
    assert_ne!(text, tampered);
    std::fs::write(&path, tampered).unwrap();
    let reg = Registry::start(None);
    let url = format!("http://{}/relsign/demo", reg.host());
    let o = publish_to(&rel, &shared_signed_demo().policy, &[("hub", url)], &[])
        .output()
        .unwrap();
    let text = out_text(&o);
    assert!(!o.status.success(), "{text}");
    assert!(
        text.contains("release.json") && text.contains("duplicate key \"name\""),
        "{text}"
    );
    let catalog = http()
        .get(format!("http://{}/v2/_catalog", reg.host()))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(!catalog.contains("relsign/demo"), "{catalog}");
}

#[test]
fn publish_to_registries_index_and_mirror_then_again_is_a_no_op() {
    let signed = shared_signed_demo();
    let (_t, rel) = signed_copy();
    let d = Dests::start();
    let digest = image_digest(&rel);

    // Dry run: the plan, nothing sent.
    let o = run_ok(d.publish(&rel, &signed.policy, &["--dry-run"]));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        text.contains("plan: publish relsign-demo 0.1.0 to 4 destination(s)"),
        "{text}"
    );
    assert!(
        !d.mirror.path().join("simple").exists(),
        "a dry run writes nothing"
    );

    let report = json_out(d.publish(&rel, &signed.policy, &["--json"]));
    assert_eq!(report["ok"], true, "{report}");
    for dest in report["destinations"].as_array().unwrap() {
        assert!(dest["read_back"].is_string(), "{dest}");
    }
    // Both registries serve the built manifest digest, by tag.
    for reg in [&d.hub, &d.harbor] {
        let v = skopeo_inspect(
            &format!("docker://{}/relsign/demo:0.1.0", reg.host()),
            false,
        );
        assert_eq!(v["Digest"], format!("sha256:{digest}"), "{v}");
        // docker-registry 2.8 has no referrers API: the signatures are found through the
        // sha256-<hex> tag fallback, an image index of referrer manifests.
        let idx = skopeo_inspect(
            &format!("docker://{}/relsign/demo:sha256-{digest}", reg.host()),
            true,
        );
        let types: Vec<&str> = idx["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["artifactType"].as_str().unwrap())
            .collect();
        assert!(
            types.contains(&"application/vnd.dev.sigstore.bundle.v0.3+json"),
            "{idx}"
        );
        assert!(
            types.contains(&"application/vnd.relsign.release.v1+json"),
            "{idx}"
        );
        // verify by reference: the image and its referrers, pulled.
        let mut c = rs(&[
            "verify",
            &format!("docker://http://{}/relsign/demo:0.1.0", reg.host()),
            "--policy",
            s(&signed.policy),
            "--no-state",
        ]);
        c.env("RELSIGN_REGISTRY_CREDENTIALS", format!("{USER}:{PASS}"));
        let o = run_ok(c);
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.contains("verified relsign-demo 0.1.0"), "{text}");
    }
    // An auditor rebuilds from the registry alone: the image and its referrers (release.json,
    // attestations, inputs/) are pulled, rebuilt, and the image digest compared.
    let mut c = rs(&[
        "rebuild",
        &format!("docker://{}/relsign/demo:0.1.0", d.hub.host()),
        "--json",
    ]);
    c.env("RELSIGN_REGISTRY_CREDENTIALS", format!("{USER}:{PASS}"));
    let rb = json_out(c);
    assert_eq!(rb["reproducible"], true, "{rb}");
    // pip installs from the index and from the mirror (served by a plain file server).
    pip_install_from(&d.pypi.simple_url(), &rel);
    let fs = FileServer::start(d.mirror.path());
    pip_install_from(&format!("http://127.0.0.1:{}/simple/", fs.port), &rel);
    // verify works from the mirror, with the policy it carries and with ours.
    let mrel = d.mirror.path().join("releases/relsign-demo/0.1.0");
    for pol in [d.mirror.path().join("keys"), signed.policy.clone()] {
        run_ok(rs(&["verify", s(&mrel), "--policy", s(&pol), "--no-state"]));
    }
    // No credentials anywhere in what publish printed or wrote.
    let all = serde_json::to_string(&report).unwrap();
    assert!(!all.contains(PASS));
    let journal = std::fs::read_to_string(rel.join(".relsign-publish/journal.jsonl")).unwrap();
    assert!(!journal.contains(PASS));

    // Again: everything is in the journal.
    let again = json_out(d.publish(&rel, &signed.policy, &["--json"]));
    for (dest, o) in outcomes(&again) {
        assert!(o.iter().all(|x| x == "journaled"), "{dest}: {o:?}");
    }
    // Without the journal: the destinations already have every blob and file.
    std::fs::remove_file(rel.join(".relsign-publish/journal.jsonl")).unwrap();
    let fresh = json_out(d.publish(&rel, &signed.policy, &["--json"]));
    for dest in fresh["destinations"].as_array().unwrap() {
        for st in dest["steps"].as_array().unwrap() {
            let kind = st["action"].as_str().unwrap_or_default();
            if ["blob", "upload", "copy", "manifest", "tag"].contains(&kind) {
                assert_eq!(st["outcome"], "present", "{}: {st}", dest["name"]);
            }
        }
    }
}

// ---- invariants a reader relies on, checked after every kill ------------------------------

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().build().unwrap()
}

const ACCEPT: &str =
    "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

fn reg_get(reg: &Registry, path: &str) -> Option<Vec<u8>> {
    let r = http()
        .get(format!("http://{}/v2/relsign/demo/{path}", reg.host()))
        .basic_auth(USER, Some(PASS))
        .header("Accept", ACCEPT)
        .send()
        .unwrap();
    if r.status().as_u16() == 404 {
        return None;
    }
    assert!(r.status().is_success(), "GET {path}: {}", r.status());
    Some(r.bytes().unwrap().to_vec())
}

fn reg_has_blob(reg: &Registry, digest: &str) -> bool {
    http()
        .head(format!(
            "http://{}/v2/relsign/demo/blobs/{digest}",
            reg.host()
        ))
        .basic_auth(USER, Some(PASS))
        .send()
        .unwrap()
        .status()
        .is_success()
}

fn tags(reg: &Registry) -> Vec<String> {
    let Some(b) = reg_get(reg, "tags/list") else {
        return vec![];
    };
    let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
    let mut t: Vec<String> = v["tags"]
        .as_array()
        .map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    t.sort();
    t
}

/// Every manifest a tag reaches exists, with all its blobs (and an index's manifests too).
fn check_manifest_complete(reg: &Registry, reference: &str, why: &str) {
    let bytes = reg_get(reg, &format!("manifests/{reference}"))
        .unwrap_or_else(|| panic!("{why}: manifest {reference} is missing"));
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    if let Some(ms) = v["manifests"].as_array() {
        for m in ms {
            check_manifest_complete(reg, m["digest"].as_str().unwrap(), why);
        }
        return;
    }
    for b in std::iter::once(&v["config"]).chain(v["layers"].as_array().unwrap()) {
        let d = b["digest"].as_str().unwrap();
        assert!(
            reg_has_blob(reg, d),
            "{why}: blob {d} of {reference} is missing"
        );
    }
}

fn check_registry(reg: &Registry) {
    for t in tags(reg) {
        check_manifest_complete(reg, &t, &format!("tag {t}"));
    }
}

fn sha_hex(b: &[u8]) -> String {
    relsign::digest::Sha256Hex::of(b).to_string()
}

/// Every link of the PEP 503 project page is served, with the sha256 its fragment names.
fn check_index_page(
    page_url: &str,
    fetch: &dyn Fn(&str) -> Option<Vec<u8>>,
) -> Vec<(String, String)> {
    let Some(html) = fetch(page_url) else {
        return vec![];
    };
    let html = String::from_utf8(html).unwrap();
    let mut out = Vec::new();
    for link in relsign::python::simple::parse_project_page(&html, page_url) {
        let sha = link
            .sha256
            .as_ref()
            .expect("a #sha256= fragment")
            .to_string();
        let bytes = fetch(&link.url)
            .unwrap_or_else(|| panic!("{page_url} links {} which is missing", link.url));
        assert_eq!(sha_hex(&bytes), sha, "{page_url}: {}", link.url);
        out.push((link.filename.clone(), sha));
    }
    out.sort();
    out
}

fn http_fetch(url: &str) -> Option<Vec<u8>> {
    let r = http().get(url).send().unwrap();
    if r.status().as_u16() == 404 {
        return None;
    }
    assert!(r.status().is_success(), "GET {url}: {}", r.status());
    Some(r.bytes().unwrap().to_vec())
}

fn file_fetch(url: &str) -> Option<Vec<u8>> {
    let p = url.strip_prefix("file://").unwrap();
    std::fs::read(p).ok()
}

/// Everything a reader can see points at content that is there.
fn check_invariants(d: &Dests) {
    check_registry(&d.hub);
    check_registry(&d.harbor);
    check_index_page(
        &format!("{}relsign-demo/", d.pypi.simple_url()),
        &http_fetch,
    );
    let page = format!(
        "file://{}/simple/relsign-demo/index.html",
        d.mirror.path().display()
    );
    check_index_page(&page, &file_fetch);
    let root = d.mirror.path().join("simple/index.html");
    if root.is_file() {
        assert!(d
            .mirror
            .path()
            .join("simple/relsign-demo/index.html")
            .is_file());
    }
    let rel = d.mirror.path().join("releases/relsign-demo/0.1.0");
    if rel.join("release.json").is_file() {
        // release.json is written last of the release's files: everything it names is there.
        common::artifact_digests(&rel);
    }
}

/// What a reader of each destination sees, for comparing two publishes.
fn state(d: &Dests) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for (name, reg) in [("hub", &d.hub), ("harbor", &d.harbor)] {
        for t in tags(reg) {
            let b = reg_get(reg, &format!("manifests/{t}")).unwrap();
            m.insert(format!("{name} tag {t}"), sha_hex(&b));
        }
    }
    for (f, sha) in check_index_page(
        &format!("{}relsign-demo/", d.pypi.simple_url()),
        &http_fetch,
    ) {
        m.insert(format!("pypi {f}"), sha);
    }
    let mut files = Vec::new();
    walk(d.mirror.path(), d.mirror.path(), &mut files);
    for (rel, sha) in files {
        m.insert(format!("mirror {rel}"), sha);
    }
    let mut stored: Vec<String> = std::fs::read_dir(d.pypi.packages_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    stored.sort();
    m.insert("pypi stored files".into(), stored.join(" "));
    m
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(root, &p, out);
        } else {
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            out.push((rel, sha_hex(&std::fs::read(&p).unwrap())));
        }
    }
}

#[test]
fn killed_at_many_points_then_resumed_equals_a_clean_publish() {
    use std::os::unix::process::ExitStatusExt;
    let signed = shared_signed_demo();
    let (_t, rel) = signed_copy();
    let a = Dests::start();
    // SIGKILL after the n-th step of a run (its side effect done, not yet journaled), then
    // run again; each run resumes from the journal.
    let points = [1, 2, 3, 4, 5, 7, 9, 12, 15, 19, 24, 30, 40, 55, 75, 100];
    let mut kills = 0;
    let mut finished = false;
    let journal = rel.join(".relsign-publish/journal.jsonl");
    let records = || {
        std::fs::read_to_string(&journal)
            .map(|t| t.lines().filter(|l| l.ends_with('}')).count())
            .unwrap_or(0)
    };
    for k in points {
        let before = records();
        let mut c = a.publish(&rel, &signed.policy, &["--quiet"]);
        c.env("RELSIGN_PUBLISH_KILL_AFTER", k.to_string());
        let o = c.output().unwrap();
        if o.status.success() {
            finished = true;
            break;
        }
        assert_eq!(
            o.status.signal(),
            Some(9),
            "killed by SIGKILL: {}",
            stderr(&o)
        );
        // Every step finished before the kill is journaled, those of the concurrent blob and
        // signature groups included: only the k-th (done, not yet recorded) is lost.
        assert_eq!(
            records() - before,
            k - 1,
            "journaled before the kill at step {k}"
        );
        kills += 1;
        check_invariants(&a);
    }
    if !finished {
        run_ok(a.publish(&rel, &signed.policy, &["--quiet"]));
    }
    check_invariants(&a);
    assert!(kills >= 10, "only {kills} kill points");

    let (_t2, rel2) = signed_copy();
    let b = Dests::start();
    run_ok(b.publish(&rel2, &signed.policy, &["--quiet"]));
    let (sa, sb) = (state(&a), state(&b));
    // The mirror and index states name the servers' own ports nowhere: equal maps.
    assert_eq!(
        sa, sb,
        "a killed-and-resumed publish differs from a clean one"
    );
    assert!(
        sa.keys().any(|k| k.starts_with("hub tag sha256-")),
        "{sa:?}"
    );
}

// ---- a faulty network, token auth, conflicts ----------------------------------------------

#[test]
fn publish_through_a_faulty_network_completes() {
    use common::proxy::{Faults, Proxy};
    let signed = shared_signed_demo();
    let (_t, rel) = signed_copy();
    let d = Dests::start();
    let hub = Proxy::start(d.hub.port, Faults::thirty_percent(), None, 7);
    let pypi = Proxy::start(d.pypi.port, Faults::thirty_percent(), None, 11);
    let mut args: Vec<String> = vec![
        "publish".into(),
        s(&rel).into(),
        "--policy".into(),
        s(&signed.policy).into(),
        "--to".into(),
        "hub".into(),
        "--to".into(),
        "pypi".into(),
        "--url".into(),
        format!("hub=http://{}/relsign/demo", hub.host()),
        "--url".into(),
        format!("pypi=http://{}/", pypi.host()),
    ];
    args.push("--json".into());
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut c = rs(&a);
    for n in ["PYPI", "HUB"] {
        c.env(format!("RELSIGN_PUBLISH_{n}"), format!("{USER}:{PASS}"));
    }
    // Small chunks: the image layer goes up in many PATCHes, some of them lost.
    c.env("RELSIGN_OCI_CHUNK_SIZE", (4 << 20).to_string());
    let report = json_out(c);
    assert_eq!(report["ok"], true, "{report}");
    for (name, p) in [("registry", &hub), ("pypiserver", &pypi)] {
        let k = &p.counters;
        eprintln!(
            "{name}: {} requests, {} dropped before, {} dropped after forwarding, {} 429, {} 5xx",
            k.get(&k.requests),
            k.get(&k.dropped_before),
            k.get(&k.dropped_after),
            k.get(&k.too_many),
            k.get(&k.server_errors)
        );
        assert!(p.faults_injected() >= 3, "{name}: faults were injected");
    }
    let v = skopeo_inspect(
        &format!("docker://{}/relsign/demo:0.1.0", d.hub.host()),
        false,
    );
    assert_eq!(v["Digest"], format!("sha256:{}", image_digest(&rel)));
    check_invariants(&d);
    let mut stored: Vec<String> = std::fs::read_dir(d.pypi.packages_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    stored.sort();
    assert_eq!(
        stored,
        [
            "relsign_demo-0.1.0-py3-none-any.whl",
            "relsign_demo-0.1.0.tar.gz"
        ],
        "each file once"
    );
}

#[test]
fn bearer_tokens_that_expire_mid_push_are_fetched_again() {
    use common::proxy::{Faults, Proxy, TokenGate};
    let signed = shared_signed_demo();
    let (_t, rel) = signed_copy();
    let backend = Registry::start(None);
    let gate = TokenGate {
        user: USER.into(),
        pass: PASS.into(),
        requests_per_token: 6,
    };
    let p = Proxy::start(backend.port, Faults::default(), Some(gate), 1);
    let hub = [("hub", format!("http://{}/relsign/demo", p.host()))];
    let mut c = publish_to(&rel, &signed.policy, &hub, &[]);
    c.env("RELSIGN_OCI_CHUNK_SIZE", (2 << 20).to_string());
    let o = run_ok(c);
    let k = &p.counters;
    eprintln!(
        "token gate: {} tokens issued, {} expired tokens presented, {} 401s",
        k.get(&k.tokens_issued),
        k.get(&k.tokens_expired),
        k.get(&k.unauthorized)
    );
    assert!(k.get(&k.tokens_issued) >= 5, "tokens were fetched again");
    assert!(
        k.get(&k.tokens_expired) >= 3,
        "tokens expired in the middle of the push"
    );
    assert!(!stderr(&o).contains(PASS));
    // Through the gate, verify by reference works too (pull scope with the same credentials).
    let mut c = rs(&[
        "verify",
        &format!("docker://{}/relsign/demo:0.1.0", p.host()),
        "--policy",
        s(&signed.policy),
        "--no-state",
    ]);
    c.env("RELSIGN_REGISTRY_CREDENTIALS", format!("{USER}:{PASS}"));
    run_ok(c);
    // The backend (no auth) holds the built digest.
    require_tool("skopeo");
    let mut c = Command::new("skopeo");
    c.args(["inspect", "--tls-verify=false"])
        .arg(format!("docker://{}/relsign/demo:0.1.0", backend.host()));
    let v: serde_json::Value = serde_json::from_slice(&run_ok(c).stdout).unwrap();
    assert_eq!(v["Digest"], format!("sha256:{}", image_digest(&rel)));
    // A wrong password at the token endpoint: a clear error, exit 2, no secret shown.
    let journal = rel.join(".relsign-publish/other-journal.jsonl");
    let mut c = publish_to(&rel, &signed.policy, &hub, &["--journal", s(&journal)]);
    c.env("RELSIGN_PUBLISH_HUB", format!("{USER}:wrong-password-xyz"));
    let o = c.output().unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(
        e.contains("authentication failed") || e.contains("token endpoint"),
        "{e}"
    );
    assert!(!e.contains("wrong-password-xyz"), "{e}");
}

/// Two destinations on the same registry (say docker.io/docassemble/x and a second name for
/// it): the second gets every blob by a cross-repository mount, not a second upload, and is a
/// complete, verifiable image.
#[test]
fn a_second_repository_on_the_same_registry_mounts_the_blobs() {
    let signed = shared_signed_demo();
    let (_t, rel) = signed_copy();
    let h = common::pyindex::htpasswd(USER, PASS);
    let reg = Registry::start(Some(&h));
    let digest = image_digest(&rel);
    let dests = [
        ("hub", format!("http://{}/relsign/demo", reg.host())),
        ("harbor", format!("http://{}/fallback/demo", reg.host())),
    ];
    let cred = format!("{USER}:{PASS}");
    let report = json_out(publish_to(&rel, &signed.policy, &dests, &["--json"]));
    assert_eq!(report["ok"], true, "{report}");
    let by_dest = |name: &str| -> Vec<(String, String)> {
        report["destinations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == name)
            .unwrap()["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["action"].as_str().unwrap().to_string(),
                    s["outcome"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let blobs = |name: &str| -> Vec<String> {
        by_dest(name)
            .into_iter()
            .filter(|(a, _)| a == "blob")
            .map(|(_, o)| o)
            .collect()
    };
    let (first, second) = (blobs("hub"), blobs("harbor"));
    assert!(!first.is_empty());
    assert!(first.iter().all(|o| o == "done"), "{first:?}");
    assert!(second.iter().all(|o| o == "mounted"), "{second:?}");
    assert_eq!(first.len(), second.len());
    // The mounted repository serves the image by tag, and verifies by reference.
    let v = skopeo_inspect(
        &format!("docker://{}/fallback/demo:0.1.0", reg.host()),
        false,
    );
    assert_eq!(v["Digest"], format!("sha256:{digest}"), "{v}");
    let mut c = rs(&[
        "verify",
        &format!("docker://http://{}/fallback/demo:0.1.0", reg.host()),
        "--policy",
        s(&signed.policy),
        "--no-state",
    ]);
    c.env("RELSIGN_REGISTRY_CREDENTIALS", &cred);
    run_ok(c);
}

#[test]
fn same_name_other_bytes_is_refused_with_exit_1() {
    let signed = shared_signed_demo();
    let (_t, rel) = signed_copy();
    let d = Dests::start();
    // Someone uploaded a different file under the wheel's name.
    let t = tempfile::tempdir().unwrap();
    let wheel = "relsign_demo-0.1.0-py3-none-any.whl";
    let fake = t.path().join(wheel);
    // A valid wheel with other content: one module changed.
    {
        let f = std::fs::File::open(rel.join(wheel)).unwrap();
        let mut z = zip::ZipArchive::new(f).unwrap();
        let out = std::fs::File::create(&fake).unwrap();
        let mut w = zip::ZipWriter::new(out);
        for i in 0..z.len() {
            let mut e = z.by_index(i).unwrap();
            let name = e.name().unwrap().to_string();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            if name.ends_with("cli.py") {
                data.extend_from_slice(b"\n# not the released bytes\n");
            }
            w.start_file::<_, ()>(name, zip::write::SimpleFileOptions::default())
                .unwrap();
            std::io::Write::write_all(&mut w, &data).unwrap();
        }
        w.finish().unwrap();
    }
    let mut c = Command::new(venv().join("bin/twine"));
    c.args(["upload", "--disable-progress-bar", "--non-interactive"])
        .args([
            "--repository-url",
            &d.pypi.upload_url(),
            "-u",
            USER,
            "-p",
            PASS,
        ])
        .arg(&fake);
    run_ok(c);
    let mut c = d.publish(&rel, &signed.policy, &["--to", "pypi"]);
    c.env_remove("RUST_BACKTRACE");
    let o = c.output().unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.contains(&format!("{wheel} already exists with other bytes")),
        "{e}"
    );
    assert!(e.contains("expected=") && e.contains("got="), "{e}");
    assert!(e.contains("resume with: relsign publish"), "{e}");

    // A mirror holding another release.json under the same version.
    let m = d.mirror.path().join("releases/relsign-demo/0.1.0");
    std::fs::create_dir_all(&m).unwrap();
    std::fs::write(m.join("release.json"), b"{\"not\":\"ours\"}").unwrap();
    let o = d
        .publish(&rel, &signed.policy, &["--to", "mirror"])
        .output()
        .unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("release.json exists with other bytes"), "{e}");
}

#[test]
fn devpi_non_volatile_index_upload_then_no_op() {
    let signed = shared_signed_demo();
    let (t, rel) = signed_copy();
    let devpi = common::pyindex::Devpi::start(USER, PASS);
    // The destinations come from a recipe of the maintainer's (devpi's simple index is at
    // <index>/+simple/, named explicitly).
    let demo = std::fs::read_to_string(demo_recipe()).unwrap();
    let mut text = demo[..demo.find("[[publish]]").unwrap()].to_string();
    text.push_str(&format!(
        "[[publish]]\nname = \"devpi\"\nkind = \"pypi\"\nurl = \"{}\"\nindex-url = \"{}\"\n",
        devpi.upload_url(),
        devpi.simple_url()
    ));
    let recipe = t.path().join("publish-devpi.toml");
    std::fs::write(&recipe, text).unwrap();
    let run = || {
        let mut c = rs(&[
            "publish",
            s(&rel),
            "--recipe",
            s(&recipe),
            "--policy",
            s(&signed.policy),
            "--journal",
            s(&t.path().join(format!("j-{}.jsonl", rand_suffix()))),
            "--json",
        ]);
        c.env("RELSIGN_PUBLISH_DEVPI", format!("{USER}:{PASS}"));
        json_out(c)
    };
    let first = run();
    assert_eq!(first["ok"], true, "{first}");
    assert!(
        outcomes(&first)["devpi"].iter().all(|o| o == "done"),
        "{first}"
    );
    // A fresh journal: devpi already has both files, nothing is uploaded again.
    let second = run();
    assert!(
        outcomes(&second)["devpi"].iter().all(|o| o == "present"),
        "{second}"
    );
    pip_install_from(&devpi.simple_url(), &rel);
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}
