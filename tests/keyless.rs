//! Keyless signing end to end (issue 14, item 6): the signed demo release signed keyless
//! against local stand-ins of Fulcio and Rekor (npm's `@sigstore/mock` wrapped in
//! tests/js/sigstore_standin.mjs, on loopback) with an OIDC token this test makes, then
//! verified by `relsign verify` (a policy naming the identity and the stand-ins' trusted root)
//! and by sigstore-js (tests/js/sigstore_verify_keyless.mjs, the same trusted root and
//! identity); altered bundles are refused by both, a wrong identity too.
//!
//! node and the JS packages (`cargo xtask test` installs them into target/js) are required:
//! their absence fails the test, naming what is missing.

mod common;
use common::signed::{rs, shared_signed_demo, signed_copy};
use common::*;
use relsign::dsse::{b64, b64_decode};
use serde_json::Value;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const ISSUER: &str = "https://issuer.relsign.test";
const SUBJECT: &str = "release-bot@relsign.test";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A directory holding copies of the test scripts beside a link to the installed packages
/// (ESM resolves packages from the script's directory; the installed tree is not written).
/// Made once per test binary: the tests run in parallel.
fn js_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(make_js_dir).clone()
}

fn make_js_dir() -> PathBuf {
    require_tool("node");
    let js = std::env::var_os("RELSIGN_TEST_JS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/js"));
    for pkg in ["@sigstore/mock", "@sigstore/verify", "@sigstore/bundle"] {
        assert!(
            js.join("node_modules")
                .join(pkg)
                .join("package.json")
                .is_file(),
            "{pkg} is missing from {}: run `cargo xtask test`, which installs it",
            js.display()
        );
    }
    let dir = root().join("target/keyless-js");
    std::fs::create_dir_all(&dir).unwrap();
    let link = dir.join("node_modules");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(js.join("node_modules"), &link).unwrap();
    std::fs::write(dir.join("package.json"), "{\"type\": \"module\"}\n").unwrap();
    for f in [
        "sigstore_standin.mjs",
        "sigstore_verify_keyless.mjs",
        "pep740_index.mjs",
    ] {
        std::fs::copy(root().join("tests/js").join(f), dir.join(f)).unwrap();
    }
    dir
}

/// The Fulcio and Rekor stand-in: one node process on 127.0.0.1, stopped by PID when dropped.
struct StandIn {
    child: Child,
    url: String,
    trusted_root: PathBuf,
}

/// Start `node SCRIPT ARGS…` and read its "listening URL" line.
fn start_node(js: &Path, script: &str, args: &[&Path]) -> (Child, String) {
    let mut child = Command::new("node")
        .arg(js.join(script))
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn node");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    match line.trim().strip_prefix("listening ") {
        Some(u) if u.starts_with("http://127.0.0.1:") => (child, u.to_string()),
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{script} did not start: {line:?}");
        }
    }
}

impl StandIn {
    fn start(js: &Path, out: &Path) -> StandIn {
        let trusted_root = out.join("trusted_root.json");
        let (child, url) = start_node(js, "sigstore_standin.mjs", &[&trusted_root]);
        StandIn {
            child,
            url,
            trusted_root,
        }
    }
}

/// The PEP 740 index stand-in (tests/js/pep740_index.mjs), stopped by PID when dropped.
struct Pep740Index {
    child: Child,
    url: String,
}

impl Pep740Index {
    fn start(js: &Path, trusted_root: &Path) -> Pep740Index {
        let (child, url) = start_node(
            js,
            "pep740_index.mjs",
            &[trusted_root, Path::new(ISSUER), Path::new(SUBJECT)],
        );
        Pep740Index { child, url }
    }

    fn report(&self) -> Value {
        let body = reqwest::blocking::get(format!("{}/report", self.url))
            .unwrap()
            .bytes()
            .unwrap();
        serde_json::from_slice(&body).unwrap()
    }
}

impl Drop for Pep740Index {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn publish(release: &Path, policy: &Path, index: &str) -> Command {
    let mut c = rs(&[
        "publish",
        s(release),
        "--policy",
        s(policy),
        "--to",
        "pypi",
        "--url",
        &format!("pypi={index}/"),
    ]);
    c.env("RELSIGN_PUBLISH_PYPI", "uploader:test-only-secret");
    c
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An OIDC identity token as an issuer would mint it (claims: iss, sub, aud, exp). The
/// stand-in decodes the claims without checking the signature (Fulcio's job), so it is
/// unsigned (`alg: none`).
fn token(iss: &str, sub: &str) -> String {
    use base64::Engine as _;
    let e = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.",
        e(serde_json::json!({"alg": "none", "typ": "JWT"})),
        e(serde_json::json!({"iss": iss, "sub": sub, "aud": "sigstore", "exp": 4102444800u64}))
    )
}

fn sigstore_js(js: &Path, root_file: &Path, subject: &str, bundles: &[PathBuf]) -> Output {
    Command::new("node")
        .arg(js.join("sigstore_verify_keyless.mjs"))
        .arg(root_file)
        .arg(ISSUER)
        .arg(subject)
        .args(bundles)
        .output()
        .expect("spawn node")
}

/// Every keyless bundle of a release: the provenance's and the artifacts' in
/// attestations/keyless/, the named statements' in attestations/keyless/statements/.
fn keyless_bundles(release: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for d in ["attestations/keyless", "attestations/keyless/statements"] {
        for e in std::fs::read_dir(release.join(d)).unwrap() {
            let p = e.unwrap().path();
            if p.is_file() {
                v.push(p);
            }
        }
    }
    v.sort();
    v
}

/// A copy of the policy of the shared signed demo with a keyless identity added and signed.
fn policy_with_identity(dir: &Path, subject: &str, trusted_root: &Path) -> PathBuf {
    policy_with(dir, ISSUER, subject, trusted_root)
}

fn policy_with(dir: &Path, issuer: &str, subject: &str, trusted_root: &Path) -> PathBuf {
    policy_with_flags(dir, issuer, subject, trusted_root, &[])
}

fn policy_with_flags(
    dir: &Path,
    issuer: &str,
    subject: &str,
    trusted_root: &Path,
    flags: &[&str],
) -> PathBuf {
    let signed = shared_signed_demo();
    let p = dir.join(format!(
        "policy-{}-{}{}",
        issuer.len(),
        subject.replace('@', "-at-"),
        flags.concat()
    ));
    relsign::fsutil::copy_tree(&signed.policy, &p).unwrap();
    let root_key = signed.key.parent().unwrap().join("root.key");
    run_ok(rs(&[
        "policy",
        "add-identity",
        s(&p),
        "--issuer",
        issuer,
        "--subject",
        subject,
        "--trusted-root",
        s(trusted_root),
    ]
    .into_iter()
    .chain(flags.iter().copied())
    .collect::<Vec<_>>()));
    run_ok(rs(&["policy", "sign", s(&p), "--key", s(&root_key)]));
    p
}

fn verify(release: &Path, policy: &Path) -> Command {
    rs(&["verify", s(release), "--policy", s(policy), "--no-state"])
}

/// The flags that sign keyless against a stand-in with the token in `tok`.
fn keyless_flags<'a>(tok: &'a Path, url: &'a str) -> [&'a str; 6] {
    [
        "--token-file",
        s(tok),
        "--fulcio-url",
        url,
        "--rekor-url",
        url,
    ]
}

/// A policy naming another identity refuses the release's keyless bundles.
fn refused_by_another_identity(work: &Path, standin: &StandIn, release: &Path) {
    let other = policy_with_identity(work, "someone-else@relsign.test", &standin.trusted_root);
    let text = refused(verify(release, &other), "keyless");
    assert!(
        text.contains("is not a keyless identity of the policy"),
        "{text}"
    );
}

/// Rewrite the JSON of `file` with `edit`.
fn edit_json(file: &Path, edit: impl FnOnce(&mut Value)) {
    let mut v: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(file, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

/// Flip one bit of the byte at `at` (from the end when negative) of the base64 field at `ptr`.
fn flip(v: &mut Value, ptr: &str, at: isize) {
    let f = v.pointer_mut(ptr).unwrap_or_else(|| panic!("{ptr}"));
    let mut b = b64_decode(f.as_str().unwrap()).unwrap();
    let i = if at < 0 {
        (b.len() as isize + at) as usize
    } else {
        at as usize
    };
    b[i] ^= 0x01;
    *f = Value::String(b64(&b));
}

/// One altered copy of the keyless-signed release: relsign refuses it naming `relsign_says`
/// (check `check`), and sigstore-js refuses the altered bundle too.
struct Tamper {
    name: &'static str,
    bundle: &'static str,
    edit: fn(&mut Value),
    check: &'static str,
    relsign_says: &'static str,
}

const PROV: &str = "provenance.sigstore.json";
const WHEEL: &str = "relsign_demo-0.1.0-py3-none-any.whl.sigstore.json";

fn tampers() -> Vec<Tamper> {
    vec![
        Tamper {
            name: "a flipped bit in the DSSE signature",
            bundle: PROV,
            edit: |v| flip(v, "/dsseEnvelope/signatures/0/sig", 10),
            check: "keyless",
            relsign_says: "the DSSE signature over the PAE",
        },
        Tamper {
            name: "a flipped bit in the payload",
            bundle: PROV,
            edit: |v| flip(v, "/dsseEnvelope/payload", 40),
            check: "keyless",
            relsign_says: "the DSSE signature over the PAE",
        },
        Tamper {
            name: "a flipped bit in the certificate's signature",
            bundle: PROV,
            edit: |v| flip(v, "/verificationMaterial/certificate/rawBytes", -3),
            check: "keyless",
            relsign_says: "certificate: ",
        },
        Tamper {
            name: "a flipped bit in the artifact bundle's signature",
            bundle: WHEEL,
            edit: |v| flip(v, "/dsseEnvelope/signatures/0/sig", 12),
            check: "keyless",
            relsign_says: "the DSSE signature over the PAE",
        },
        Tamper {
            name: "the tlog entry removed",
            bundle: PROV,
            edit: |v| v["verificationMaterial"]["tlogEntries"] = Value::Array(vec![]),
            check: "keyless",
            relsign_says: "tlogEntries: expected exactly one entry",
        },
        Tamper {
            name: "the tlog entry's body altered",
            bundle: PROV,
            edit: |v| {
                flip(
                    v,
                    "/verificationMaterial/tlogEntries/0/canonicalizedBody",
                    30,
                )
            },
            check: "keyless",
            relsign_says: "transparency log: ",
        },
        Tamper {
            name: "the tlog entry's integrated time moved",
            bundle: PROV,
            edit: |v| {
                let e = &mut v["verificationMaterial"]["tlogEntries"][0];
                let t: i64 = e["integratedTime"].as_str().unwrap().parse().unwrap();
                e["integratedTime"] = Value::String((t - 3600).to_string());
            },
            check: "keyless",
            relsign_says: "signed entry timestamp: the signature does not verify",
        },
        Tamper {
            name: "the tlog entry's inclusion promise altered",
            bundle: PROV,
            edit: |v| {
                flip(
                    v,
                    "/verificationMaterial/tlogEntries/0/inclusionPromise/signedEntryTimestamp",
                    -5,
                )
            },
            check: "keyless",
            relsign_says: "signed entry timestamp",
        },
    ]
}

#[test]
fn keyless_demo_release_signed_and_verified() {
    let js = js_dir();
    let work = tempfile::tempdir().unwrap();
    let standin = StandIn::start(&js, work.path());
    let signed = shared_signed_demo();
    let (_t, release) = signed_copy();

    // Sign keyless: a certificate for the token's identity; ten bundles and log entries (the
    // provenance, the sdist and the wheel, and the seven statements: test result, six SBOMs).
    let tok = work.path().join("token.jwt");
    std::fs::write(&tok, token(ISSUER, SUBJECT)).unwrap();
    let o = run_ok(rs(&["sign-keyless", s(&release)]
        .into_iter()
        .chain(keyless_flags(&tok, &standin.url))
        .collect::<Vec<_>>()));
    let text = out_text(&o);
    assert!(
        text.contains(&format!(
            "signed keyless as {SUBJECT} (issuer {ISSUER}): 10 bundle(s)"
        )),
        "{text}"
    );
    let bundles = keyless_bundles(&release);
    let names: Vec<String> = bundles
        .iter()
        .map(|p| {
            p.strip_prefix(release.join("attestations/keyless"))
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(names.len(), 10, "{names:?}");
    assert_eq!(
        names[..3],
        [PROV, WHEEL, "relsign_demo-0.1.0.tar.gz.sigstore.json"],
    );
    assert!(
        names.contains(&"statements/test-result.sigstore.json".to_string()),
        "{names:?}"
    );

    // relsign verify accepts it with a policy naming the identity and the trusted root.
    let policy = policy_with_identity(work.path(), SUBJECT, &standin.trusted_root);
    let text = out_text(&run_ok(verify(&release, &policy)));
    assert!(
        text.contains(&format!(
            "keyless: 10 bundle(s) (the provenance, 2 file artifact(s), 7 statement(s)) signed by {SUBJECT} (issuer {ISSUER})"
        )),
        "{text}"
    );
    // Keys and identity both count toward the threshold.
    assert!(text.contains("provenance: 2 of threshold 1"), "{text}");
    assert!(text.contains("ok           unsigned files"), "{text}");

    // sigstore-js accepts the three bundles with the same root and identity...
    let o = sigstore_js(&js, &standin.trusted_root, SUBJECT, &bundles);
    assert!(o.status.success(), "sigstore-js: {}", out_text(&o));
    assert!(
        out_text(&o).contains(&format!(
            "ok: sigstore-js verified 10 keyless bundle(s) by {SUBJECT}"
        )),
        "{}",
        out_text(&o)
    );
    // ...and refuses another identity, as relsign does with a policy naming another one.
    let o = sigstore_js(
        &js,
        &standin.trusted_root,
        "someone-else@relsign.test",
        &bundles,
    );
    assert_eq!(o.status.code(), Some(1), "{}", out_text(&o));
    assert!(
        out_text(&o).contains("certificate identity error"),
        "{}",
        out_text(&o)
    );
    refused_by_another_identity(work.path(), &standin, &release);
    // The same subject from another issuer is another identity.
    let other_issuer = policy_with(
        work.path(),
        "https://other-issuer.relsign.test",
        SUBJECT,
        &standin.trusted_root,
    );
    let text = refused(verify(&release, &other_issuer), "keyless");
    assert!(
        text.contains(&format!(
            "identity {SUBJECT} (issuer {ISSUER}) is not a keyless identity of the policy"
        )),
        "{text}"
    );

    // A key-only release: refused by a policy that requires keyless signatures, accepted by
    // one where they only count (`--not-required`).
    let (_k, keyed) = signed_copy();
    let text = refused(verify(&keyed, &policy), "keyless");
    assert!(
        text.contains("provenance.sigstore.json: missing (the policy requires keyless signatures)"),
        "{text}"
    );
    let counts_only = policy_with_flags(
        work.path(),
        ISSUER,
        SUBJECT,
        &standin.trusted_root,
        &["--not-required"],
    );
    let text = out_text(&run_ok(verify(&keyed, &counts_only)));
    assert!(text.contains("provenance: 1 of threshold 1"), "{text}");
    let text = out_text(&run_ok(verify(&release, &counts_only)));
    assert!(text.contains("provenance: 2 of threshold 1"), "{text}");

    // The release's own policy (no keyless section) does not bind the keyless bundles: in
    // strict mode they are files no signature covers.
    let text = refused(verify(&release, &signed.policy), "unsigned files");
    assert!(
        text.contains("attestations/keyless/provenance.sigstore.json"),
        "{text}"
    );

    // Altered bundles: refused by both verifiers.
    for t in tampers() {
        let dir = work.path().join("tampered");
        let _ = std::fs::remove_dir_all(&dir);
        relsign::fsutil::copy_tree(&release, &dir).unwrap();
        let file = dir.join("attestations/keyless").join(t.bundle);
        edit_json(&file, t.edit);
        let text = refused(verify(&dir, &policy), t.check);
        assert!(
            text.contains(t.relsign_says),
            "{}: relsign should say {:?}:\n{text}",
            t.name,
            t.relsign_says
        );
        let o = sigstore_js(&js, &standin.trusted_root, SUBJECT, &[file]);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{}: sigstore-js accepted it:\n{}",
            t.name,
            out_text(&o)
        );
        assert!(
            out_text(&o).contains(&format!("refused: {}", t.bundle)),
            "{}: {}",
            t.name,
            out_text(&o)
        );
    }

    // The certificate's SCT: with a trusted root whose CT log is another log (the Rekor key in
    // its place), both refuse it; and the SCT's signature binds its time and the certificate.
    sct_checks(&js, &standin, &release, work.path());

    // What only relsign can judge: which statement a bundle signs, and that each is there.
    let dir = work.path().join("swapped");
    relsign::fsutil::copy_tree(&release, &dir).unwrap();
    let kd = dir.join("attestations/keyless");
    std::fs::copy(
        kd.join("relsign_demo-0.1.0.tar.gz.sigstore.json"),
        kd.join(WHEEL),
    )
    .unwrap();
    let text = refused(verify(&dir, &policy), "keyless");
    assert!(
        text.contains("names relsign_demo-0.1.0.tar.gz sha256:"),
        "{text}"
    );
    std::fs::remove_file(kd.join(WHEEL)).unwrap();
    let text = refused(verify(&dir, &policy), "keyless");
    assert!(
        text.contains("missing (the policy requires keyless signatures)"),
        "{text}"
    );

    pep740_uploads(&js, &standin, &release, &policy);

    // A certificate from another Fulcio (a second stand-in with its own CA and log) is
    // refused against the first one's trusted root, by both.
    let work2 = tempfile::tempdir().unwrap();
    let other_standin = StandIn::start(&js, work2.path());
    let dir = work.path().join("other-ca");
    relsign::fsutil::copy_tree(&release, &dir).unwrap();
    run_ok(rs(&["sign-keyless", s(&dir)]
        .into_iter()
        .chain(keyless_flags(&tok, &other_standin.url))
        .collect::<Vec<_>>()));
    let text = refused(verify(&dir, &policy), "keyless");
    assert!(
        text.contains("it is not issued by a certificate authority of the trusted root"),
        "{text}"
    );
    let o = sigstore_js(&js, &standin.trusted_root, SUBJECT, &keyless_bundles(&dir));
    assert_eq!(o.status.code(), Some(1), "{}", out_text(&o));
    drop(other_standin);
    drop(standin);
}

/// The embedded SCT, judged by both verifiers through the trusted root's CT logs, and by
/// relsign's SCT check directly on one certificate (a flipped signature bit, a moved timestamp,
/// another issuer key are refused).
fn sct_checks(js: &Path, standin: &StandIn, release: &Path, work: &Path) {
    let mut root: Value =
        serde_json::from_slice(&std::fs::read(&standin.trusted_root).unwrap()).unwrap();
    let rekor = root["tlogs"][0].clone();
    root["ctlogs"][0]["publicKey"] = rekor["publicKey"].clone();
    root["ctlogs"][0]["logId"] = rekor["logId"].clone();
    let other_root = work.join("trusted_root-other-ctlog.json");
    std::fs::write(&other_root, serde_json::to_vec(&root).unwrap()).unwrap();
    let policy = policy_with_identity(&work.join("other-ctlog"), SUBJECT, &other_root);
    let text = refused(verify(release, &policy), "keyless");
    assert!(
        text.contains("no SCT verifies with a CT log of the trusted root (SCT[0]: its log is not a CT log of the trusted root)"),
        "{text}"
    );
    let bundle = release.join("attestations/keyless").join(PROV);
    let o = sigstore_js(js, &other_root, SUBJECT, std::slice::from_ref(&bundle));
    assert_eq!(o.status.code(), Some(1), "{}", out_text(&o));

    use relsign::keyless::{bundle::KeylessBundle, cert::Cert, root::TrustedRoot, sct};
    let b = KeylessBundle::from_json(&std::fs::read(&bundle).unwrap()).unwrap();
    let leaf = Cert::from_der(&b.cert_der).unwrap();
    let root = TrustedRoot::from_json(&std::fs::read(&standin.trusted_root).unwrap()).unwrap();
    let ca = &root.cas[0][0];
    assert_eq!(
        sct::verify_embedded(&leaf, ca, &root.ctlogs).unwrap().len(),
        1
    );
    let (scts, pre) = sct::precert(&leaf, ca).unwrap();
    let log = &root.ctlogs[0];
    scts[0].verify(&pre, log).unwrap();
    let mut flipped = scts[0].clone();
    let n = flipped.signature.len();
    flipped.signature[n - 3] ^= 1;
    assert!(flipped.verify(&pre, log).is_err());
    let mut moved = scts[0].clone();
    moved.timestamp += 1;
    assert!(moved.verify(&pre, log).is_err());
    let mut other_tbs = pre.clone();
    let n = other_tbs.len();
    other_tbs[n - 40] ^= 1;
    assert!(scts[0].verify(&other_tbs, log).is_err());
    // The precertificate names the issuer by its key: the leaf itself as issuer is refused.
    let (_, wrong) = sct::precert(&leaf, &leaf).unwrap();
    assert!(scts[0].verify(&wrong, log).is_err());
}

/// A keyless-only release: `relsign release --keyless` with no key. No envelope carries a key
/// signature; the keyless bundles alone meet the thresholds of a policy that names the
/// identity, for the provenance, each file artifact and each named statement. sigstore-js
/// accepts every bundle. A policy without the identity refuses the release, and a statement
/// whose keyless bundle is missing or signs another statement is refused by its check.
#[test]
fn keyless_only_release() {
    let js = js_dir();
    let work = tempfile::tempdir().unwrap();
    let standin = StandIn::start(&js, work.path());
    // This release runs beside the shared signed demo's (the other test), on one store.
    fetch_demo();
    let tok = work.path().join("token.jwt");
    std::fs::write(&tok, token(ISSUER, SUBJECT)).unwrap();
    let release = work.path().join("release");
    let recipe = demo_recipe();
    let o = run_ok(rs(&[
        "release",
        s(&recipe),
        "--out",
        s(&release),
        "--keyless",
    ]
    .into_iter()
    .chain(keyless_flags(&tok, &standin.url))
    .collect::<Vec<_>>()));
    let text = out_text(&o);
    let env: Value = serde_json::from_slice(
        &std::fs::read(release.join("attestations/provenance.dsse.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(env["signatures"], Value::Array(vec![]), "{text}");
    let bundles = keyless_bundles(&release);
    assert_eq!(bundles.len(), 10, "{bundles:?}\n{text}");
    for f in std::fs::read_dir(release.join("attestations")).unwrap() {
        let name = f.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            !name.ends_with(".sigstore.json"),
            "a key's bundle in a keyless-only release: {name}"
        );
    }

    let policy = policy_with_identity(work.path(), SUBJECT, &standin.trusted_root);
    let text = out_text(&run_ok(verify(&release, &policy)));
    for want in [
        format!("0 valid signature(s) over the PAE by release keys, and a keyless one by {SUBJECT} (issuer {ISSUER})"),
        "provenance: 1 of threshold 1".to_string(),
        "each file signed by ≥ 1 release key(s) or keyless identities".to_string(),
        "keyless: 10 bundle(s) (the provenance, 2 file artifact(s), 7 statement(s))".to_string(),
        "ok           unsigned files".to_string(),
    ] {
        assert!(text.contains(&want), "{want}:\n{text}");
    }
    let o = sigstore_js(&js, &standin.trusted_root, SUBJECT, &bundles);
    assert!(o.status.success(), "sigstore-js: {}", out_text(&o));

    // The policy of the keys alone trusts no signature of this release.
    let signed = shared_signed_demo();
    let text = refused(verify(&release, &signed.policy), "provenance signature");
    assert!(
        text.contains("no valid signature by a release key of the policy"),
        "{text}"
    );
    // Another identity: its bundles are refused before anything counts.
    refused_by_another_identity(work.path(), &standin, &release);

    // A statement without its keyless bundle falls short of its threshold.
    let dir = work.path().join("no-test-result-bundle");
    relsign::fsutil::copy_tree(&release, &dir).unwrap();
    std::fs::remove_file(dir.join("attestations/keyless/statements/test-result.sigstore.json"))
        .unwrap();
    let text = refused(verify(&dir, &policy), "test result");
    assert!(
        text.contains("0 valid signature(s) by release keys or keyless identities, threshold 1"),
        "{text}"
    );
    // A statement's keyless bundle moved onto another statement is refused by that check.
    let dir = work.path().join("swapped-statement-bundle");
    relsign::fsutil::copy_tree(&release, &dir).unwrap();
    let st = dir.join("attestations/keyless/statements");
    std::fs::copy(
        st.join("sbom-relsign_demo-0.1.0.tar.gz.cdx.sigstore.json"),
        st.join("sbom-relsign_demo-0.1.0.tar.gz.spdx.sigstore.json"),
    )
    .unwrap();
    let text = refused(verify(&dir, &policy), "sbom");
    assert!(text.contains("signs a statement other than"), "{text}");
    // The provenance's keyless bundle removed: nothing signs the release any more.
    let dir = work.path().join("no-provenance-bundle");
    relsign::fsutil::copy_tree(&release, &dir).unwrap();
    std::fs::remove_file(dir.join("attestations/keyless").join(PROV)).unwrap();
    let text = refused(verify(&dir, &policy), "provenance signature");
    assert!(
        text.contains("no valid signature by a release key or a keyless identity of the policy"),
        "{text}"
    );
    drop(standin);
}

/// PEP 740: `relsign publish` sends each distribution's attestation in the upload's
/// `attestations` field; the index stand-in verifies it (sigstore-js, the trusted root, the
/// identity, the statement naming the uploaded file and its SHA-256) before it stores the
/// file, and refuses an upload without one or with a wrong one.
fn pep740_uploads(js: &Path, standin: &StandIn, release: &Path, policy: &Path) {
    let index = Pep740Index::start(js, &standin.trusted_root);
    let (_t, rel) = {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("release");
        relsign::fsutil::copy_tree(release, &d).unwrap();
        (t, d)
    };
    let text = out_text(&run_ok(publish(&rel, policy, &index.url)));
    let r = index.report();
    assert_eq!(r["refused"], Value::Array(vec![]), "{r}\n{text}");
    let mut verified: Vec<(String, String)> = r["verified"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            assert_eq!(v["subject"], SUBJECT);
            (
                v["file"].as_str().unwrap().to_string(),
                v["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    verified.sort();
    let want: Vec<(String, String)> = artifact_digests(&rel)
        .into_iter()
        .filter(|(f, _)| f.ends_with(".whl") || f.ends_with(".tar.gz"))
        .collect();
    assert_eq!(verified, want, "{text}");
    assert_eq!(want.len(), 2);

    // The stand-in does check: an upload without attestations (the release signed with keys
    // only) is refused, and so are attestations that do not fit the file or do not verify.
    let (_t2, keyed) = signed_copy();
    let index2 = Pep740Index::start(js, &standin.trusted_root);
    let o = publish(&keyed, &shared_signed_demo().policy, &index2.url)
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0), "{}", out_text(&o));
    assert!(
        out_text(&o).contains("no attestations field"),
        "{}",
        out_text(&o)
    );
    let wheel = rel.join("relsign_demo-0.1.0-py3-none-any.whl");
    let att = |bundle: &str| -> Value {
        let b = relsign::keyless::bundle::KeylessBundle::from_json(
            &std::fs::read(rel.join("attestations/keyless").join(bundle)).unwrap(),
        )
        .unwrap();
        relsign::keyless::pep740::attestation(&b)
    };
    let mut flipped = att(WHEEL);
    flip(&mut flipped, "/envelope/signature", 8);
    for (what, a, says) in [
        (
            "the sdist's attestation",
            att("relsign_demo-0.1.0.tar.gz.sigstore.json"),
            "subject relsign_demo-0.1.0.tar.gz",
        ),
        (
            "a flipped signature bit",
            flipped,
            "tlog entry signature mismatch",
        ),
    ] {
        let (status, body) = raw_upload(&index.url, &wheel, &Value::Array(vec![a]));
        assert_eq!(status, 400, "{what}: {body}");
        assert!(body.contains(says), "{what}: {body}");
    }
    assert_eq!(index.report()["refused"].as_array().unwrap().len(), 2);
    assert_eq!(index2.report()["verified"], Value::Array(vec![]));
}

/// POST `file` to the index with the given `attestations`, the way the upload API takes it.
fn raw_upload(url: &str, file: &Path, attestations: &Value) -> (u16, String) {
    let bytes = std::fs::read(file).unwrap();
    let name = file.file_name().unwrap().to_str().unwrap();
    let sha = relsign::digest::Sha256Hex::of(&bytes).to_string();
    let b = "relsign-test-boundary";
    let mut body = Vec::new();
    for (k, v) in [
        (":action", "file_upload".to_string()),
        ("name", "relsign-demo".into()),
        ("version", "0.1.0".into()),
        ("sha256_digest", sha),
        ("attestations", attestations.to_string()),
    ] {
        body.extend(
            format!("--{b}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    body.extend(
        format!("--{b}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
    );
    body.extend(bytes);
    body.extend(format!("\r\n--{b}--\r\n").as_bytes());
    let resp = reqwest::blocking::Client::new()
        .post(format!("{url}/"))
        .header("content-type", format!("multipart/form-data; boundary={b}"))
        .body(body)
        .send()
        .unwrap();
    (resp.status().as_u16(), resp.text().unwrap())
}
