//! Signing and verification end to end: keys, the policy chain, `relsign sign`, outside
//! verifiers (securesystemslib, the in-toto attestation models, sigstore-protobuf-specs), the
//! tamper matrix, key-file hygiene, and the demo release signed and verified.

mod common;
use common::synthetic::synthetic_release;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const PASS: &str = "test-only passphrase 7f3a";

fn rs(args: &[&str]) -> Command {
    let mut c = relsign(args);
    c.env("RELSIGN_PASSPHRASE", PASS);
    c.env_remove("RELSIGN_STATE");
    c
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Keys and policies shared by the tests of this file (generated once; test-only).
struct Fixture {
    dir: PathBuf,
}

impl Fixture {
    fn key(&self, name: &str) -> PathBuf {
        self.dir.join("keys").join(name)
    }
    fn pubk(&self, name: &str) -> PathBuf {
        self.dir.join("keys").join(format!("{name}.pub"))
    }
    fn privk(&self, name: &str) -> PathBuf {
        self.dir.join("keys").join(format!("{name}.key"))
    }
    fn policy(&self, name: &str) -> PathBuf {
        self.dir.join("policies").join(name)
    }
    /// A fresh signed copy of the synthetic release NAME-VERSION signed by `signers`.
    fn signed(&self, tag: &str, version: &str, signers: &[&str]) -> PathBuf {
        let d = self.dir.join("work").join(tag);
        let _ = std::fs::remove_dir_all(&d);
        synthetic_release(&d, "demo", version);
        for k in signers {
            run_ok(rs(&["sign", s(&d), "--key", s(&self.privk(k))]));
        }
        d
    }
    fn key_id(&self, name: &str) -> String {
        let o = run_ok(rs(&["key", "show", s(&self.pubk(name))]));
        String::from_utf8(o.stdout).unwrap().trim().to_string()
    }
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = root().join("target/test-work/sign-verify");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("keys")).unwrap();
        let f = Fixture { dir };
        for k in ["root1", "root2", "alice", "bob", "mallory", "old"] {
            run_ok(rs(&["key", "generate", "--out", s(&f.key(k))]));
        }
        let init = |name: &str, release_keys: &[&str], extra: &[&str]| {
            let p = f.policy(name);
            let mut args: Vec<String> = vec![
                "policy".into(),
                "init".into(),
                s(&p).into(),
                "--root-key".into(),
                s(&f.pubk("root1")).into(),
                "--root-key".into(),
                s(&f.pubk("root2")).into(),
                "--root-threshold".into(),
                "2".into(),
                "--test-only".into(),
            ];
            for k in release_keys {
                args.push("--release-key".into());
                args.push(s(&f.pubk(k)).into());
            }
            args.extend(extra.iter().map(|a| a.to_string()));
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            run_ok(rs(&a));
            for r in ["root1", "root2"] {
                run_ok(rs(&["policy", "sign", s(&p), "--key", s(&f.privk(r))]));
            }
        };
        // Two maintainers, both must sign the provenance; each file needs one signature.
        init(
            "two",
            &["alice", "bob"],
            &["--provenance-threshold", "2", "--artifact-threshold", "1"],
        );
        // One maintainer.
        init("one", &["alice"], &["--provenance-threshold", "1"]);
        // A key whose window closed long ago.
        init(
            "expired",
            &["old"],
            &[
                "--not-before",
                "2000-01-01T00:00:00Z",
                "--not-after",
                "2001-01-01T00:00:00Z",
            ],
        );
        f
    })
}

fn verify(rel: &Path, policy: &Path, state: Option<&Path>) -> Command {
    let mut c = rs(&["verify", s(rel), "--policy", s(policy)]);
    match state {
        Some(st) => c.args(["--state", s(st)]),
        None => c.arg("--no-state"),
    };
    c
}

fn flip_file(path: &Path, at: usize) {
    let mut b = std::fs::read(path).unwrap();
    let i = at % b.len();
    b[i] ^= 0x01;
    std::fs::write(path, b).unwrap();
}

fn b64d(s: &str) -> Vec<u8> {
    relsign::dsse::b64_decode(s).unwrap()
}
fn b64e(b: &[u8]) -> String {
    relsign::dsse::b64(b)
}

fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}
fn write_json(p: &Path, v: &serde_json::Value) {
    std::fs::write(p, serde_json::to_vec_pretty(v).unwrap()).unwrap();
}

fn envelope(rel: &Path) -> PathBuf {
    rel.join("attestations/provenance.dsse.json")
}

fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    relsign::fsutil::copy_tree(from, to).unwrap();
}

#[test]
fn sign_cosign_and_verify() {
    let f = fixture();
    let rel = f.signed("cosign", "0.1.0", &["alice"]);
    // One signature under threshold 2: refused.
    refused(verify(&rel, &f.policy("two"), None), "threshold");
    // The co-signer adds a signature to the same envelope.
    let o = run_ok(rs(&["sign", s(&rel), "--key", s(&f.privk("bob"))]));
    assert!(out_text(&o).contains("2 signer(s) now"), "{}", out_text(&o));
    let env = read_json(&envelope(&rel));
    assert_eq!(env["signatures"].as_array().unwrap().len(), 2);
    let st = f.dir.join("work/cosign.state.json");
    let _ = std::fs::remove_file(&st);
    let o = run_ok(verify(&rel, &f.policy("two"), Some(&st)));
    let text = out_text(&o);
    assert!(text.contains("verified demo 0.1.0"), "{text}");
    assert!(text.contains("TEST-ONLY"), "{text}");
    // An artifact file as the target, with --json.
    let wheel = rel.join("demo-0.1.0-py3-none-any.whl");
    let mut c = verify(&wheel, &f.policy("two"), Some(&st));
    c.args([
        "--json",
        "--expect-version",
        "0.1.0",
        "--expect-source",
        "src",
    ]);
    let o = run_ok(c);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["artifacts"].as_array().unwrap().len(), 1);
    assert_eq!(v["provenance_signers"].as_array().unwrap().len(), 2);
    let sbom = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "sbom")
        .unwrap();
    assert_eq!(sbom["status"], "ok");
    // --json on a refusal names the check.
    let mut c = verify(&wheel, &f.policy("two"), None);
    c.args(["--json", "--expect-version", "9.9"]);
    let o = c.output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["check"], "expectation");
}

#[test]
fn outside_verifiers_accept_our_envelope_statement_and_bundles() {
    let f = fixture();
    let rel = f.signed("outside", "0.1.0", &["alice", "bob"]);
    let py = venv().join("bin/python");
    let o = run_ok({
        let mut c = Command::new(py);
        c.arg(root().join("tests/py/outside_verifiers.py"))
            .arg(&rel)
            .arg(f.pubk("alice"))
            .arg(f.pubk("bob"));
        c
    });
    let text = out_text(&o);
    // sigstore-js accepts every bundle (provenance, SBOM statements, and each artifact's
    // publish statement) and refuses a flipped signature byte in an artifact's.
    let keys = vec![f.pubk("alice"), f.pubk("bob")];
    let js = sigstore_js(&rel, &keys);
    let js_text = out_text(&js);
    assert!(js.status.success(), "sigstore-js:\n{js_text}");
    assert!(
        js_text.contains("ok: sigstore-js verified 14 bundle(s)"),
        "{js_text}"
    );
    let bad = f.dir.join("work/outside-flipped");
    copy_dir(&rel, &bad);
    let n = std::fs::read_dir(bad.join("attestations"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("demo-") && n.contains(".whl."))
        .unwrap();
    let p = bad.join("attestations").join(&n);
    let mut b = read_json(&p);
    let mut sig = b64d(b["dsseEnvelope"]["signatures"][0]["sig"].as_str().unwrap());
    sig[7] ^= 0x01;
    b["dsseEnvelope"]["signatures"][0]["sig"] = b64e(&sig).into();
    write_json(&p, &b);
    let js = sigstore_js(&bad, &keys);
    let js_text = out_text(&js);
    assert_eq!(js.status.code(), Some(1), "{js_text}");
    assert!(js_text.contains(&format!("refused: {n}")), "{js_text}");
    for want in [
        "securesystemslib verified the DSSE envelope with 2 key(s)",
        "in-toto attestation models validated the statement",
        "sigstore-protobuf-specs parsed 14 bundle(s)",
        "in-toto attestation models validated 12 test-result/SBOM/publish statement bundle(s)",
    ] {
        assert!(text.contains(want), "{want}:\n{text}");
    }
}

#[test]
fn tamper_matrix() {
    let f = fixture();
    let pol = f.policy("two");
    let good = f.signed("tamper-good", "0.1.0", &["alice", "bob"]);
    run_ok(verify(&good, &pol, None));
    let work = f.dir.join("work/tamper");
    let case = |name: &str| -> PathBuf {
        let d = work.join(name);
        copy_dir(&good, &d);
        d
    };
    let mut cases = 0;

    // One byte flipped in each artifact.
    let m = read_json(&good.join("release.json"));
    for a in m["artifacts"].as_array().unwrap() {
        let file = a["file"].as_str().unwrap();
        let d = case(&format!("artifact-{file}"));
        flip_file(&d.join(file), 1234);
        refused(verify(&d, &pol, None), "artifact digest");
        // Named directly as the target, too.
        refused(verify(&d.join(file), &pol, None), "artifact digest");
        cases += 1;
    }

    // One byte flipped in the envelope payload (decoded, so the base64 stays valid).
    let d = case("payload");
    let mut env = read_json(&envelope(&d));
    let mut payload = b64d(env["payload"].as_str().unwrap());
    let i = payload.len() / 2;
    payload[i] ^= 0x01;
    env["payload"] = b64e(&payload).into();
    write_json(&envelope(&d), &env);
    refused(verify(&d, &pol, None), "provenance signature");
    cases += 1;

    // One byte flipped in each signature.
    for k in 0..2 {
        let d = case(&format!("signature-{k}"));
        let mut env = read_json(&envelope(&d));
        let mut sig = b64d(env["signatures"][k]["sig"].as_str().unwrap());
        sig[10] ^= 0x01;
        env["signatures"][k]["sig"] = b64e(&sig).into();
        write_json(&envelope(&d), &env);
        refused(verify(&d, &pol, None), "provenance signature");
        cases += 1;
    }

    // One byte flipped in the policy (in its signed payload), and in a policy signature.
    {
        let p = work.join("policy-payload");
        copy_dir(&pol, &p);
        let f1 = p.join("policy/1.json");
        let mut env = read_json(&f1);
        let mut payload = b64d(env["payload"].as_str().unwrap());
        let text = String::from_utf8(payload.clone()).unwrap();
        let at = text.find("\"provenance\":2").unwrap() + "\"provenance\":".len();
        payload[at] = b'1';
        env["payload"] = b64e(&payload).into();
        write_json(&f1, &env);
        refused(verify(&good, &p, None), "policy signature");
        let p2 = work.join("policy-sig");
        copy_dir(&pol, &p2);
        let f1 = p2.join("policy/1.json");
        let mut env = read_json(&f1);
        let mut sig = b64d(env["signatures"][0]["sig"].as_str().unwrap());
        sig[0] ^= 0x80;
        env["signatures"][0]["sig"] = b64e(&sig).into();
        write_json(&f1, &env);
        refused(verify(&good, &p2, None), "policy signature");
        cases += 1;
    }

    // One byte flipped in each bundle (in its signature or digest), and a raw byte flip.
    let att = good.join("attestations");
    let mut names: Vec<String> = std::fs::read_dir(&att)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sigstore.json"))
        .collect();
    names.sort();
    // 2 signers × (provenance + 2 artifact files + 2 × 2 SBOM attestations).
    assert_eq!(names.len(), 14, "{names:?}");
    for n in &names {
        let d = case(&format!("bundle-{n}"));
        let p = d.join("attestations").join(n);
        let mut b = read_json(&p);
        if b.get("dsseEnvelope").is_some() {
            let mut sig = b64d(b["dsseEnvelope"]["signatures"][0]["sig"].as_str().unwrap());
            sig[5] ^= 0x01;
            b["dsseEnvelope"]["signatures"][0]["sig"] = b64e(&sig).into();
        } else {
            let mut sig = b64d(b["messageSignature"]["signature"].as_str().unwrap());
            sig[5] ^= 0x01;
            b["messageSignature"]["signature"] = b64e(&sig).into();
        }
        write_json(&p, &b);
        refused(verify(&d, &pol, None), "bundle");
        cases += 1;
    }
    {
        // An artifact bundle carries a publish statement (PEP 740's shape). One validly signed
        // by the bundle's own key but naming another digest is refused.
        let n = names
            .iter()
            .find(|n| n.starts_with("demo-") && n.contains(".whl."))
            .unwrap();
        let d = case("bundle-digest");
        let p = d.join("attestations").join(n);
        let b = read_json(&p);
        let hint = b["verificationMaterial"]["publicKey"]["hint"]
            .as_str()
            .unwrap()
            .to_string();
        let signer = ["alice", "bob"]
            .into_iter()
            .find(|k| f.key_id(k) == hint)
            .unwrap();
        let mut st: serde_json::Value =
            serde_json::from_slice(&b64d(b["dsseEnvelope"]["payload"].as_str().unwrap())).unwrap();
        assert_eq!(
            st["predicateType"],
            "https://docs.pypi.org/attestations/publish/v1"
        );
        st["subject"][0]["digest"]["sha256"] = "00".repeat(32).into();
        let key = relsign::keys::SecretKey::read(
            &f.privk(signer),
            &relsign::keys::Passphrase::new(PASS.into()),
        )
        .unwrap();
        let mut env = relsign::dsse::Envelope::new(
            relsign::dsse::INTOTO_PAYLOAD_TYPE,
            relsign::model::canonical_json(&st),
        );
        env.sign(&key);
        let nb = relsign::attest::bundle::Bundle::dsse(&env, &hint).unwrap();
        std::fs::write(&p, nb.to_json()).unwrap();
        let t = refused(verify(&d, &pol, None), "bundle");
        assert!(t.contains("expected") && t.contains("(provenance)"), "{t}");
        let d = case("bundle-raw");
        let p = d.join("attestations").join(n);
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(&p, text.replacen("\"mediaType\"", "\"mediaTypf\"", 1)).unwrap();
        refused(verify(&d, &pol, None), "bundle");
    }

    // A swapped key: mallory signs and claims alice's key id.
    {
        let d = case("swapped-key");
        run_ok(rs(&["sign", s(&d), "--key", s(&f.privk("mallory"))]));
        let mut env = read_json(&envelope(&d));
        let alice = f.key_id("alice");
        let mallory = f.key_id("mallory");
        let sigs = env["signatures"].as_array().unwrap().clone();
        let mut out = Vec::new();
        for mut sg in sigs {
            if sg["keyid"] == alice.as_str() {
                continue;
            }
            if sg["keyid"] == mallory.as_str() {
                sg["keyid"] = alice.clone().into();
            }
            out.push(sg);
        }
        env["signatures"] = out.into();
        write_json(&envelope(&d), &env);
        refused(verify(&d, &pol, None), "provenance signature");
        // A policy whose release key PEM was swapped for mallory's (key id adjusted).
        let p = work.join("policy-swapped-key");
        copy_dir(&pol, &p);
        let f1 = p.join("policy/1.json");
        let mut penv = read_json(&f1);
        let mut doc: serde_json::Value =
            serde_json::from_slice(&b64d(penv["payload"].as_str().unwrap())).unwrap();
        doc["release_keys"][0]["public_key_pem"] =
            std::fs::read_to_string(f.pubk("mallory")).unwrap().into();
        doc["release_keys"][0]["keyid"] = mallory.into();
        penv["payload"] = b64e(&relsign::model::canonical_json(&doc)).into();
        write_json(&f1, &penv);
        refused(verify(&good, &p, None), "policy signature");
        cases += 1;
    }

    // A signature removed under threshold 2.
    {
        let d = case("removed-signature");
        let mut env = read_json(&envelope(&d));
        env["signatures"].as_array_mut().unwrap().pop();
        write_json(&envelope(&d), &env);
        refused(verify(&d, &pol, None), "threshold");
        cases += 1;
    }

    // An expired key.
    {
        let d = f.signed("expired", "0.1.0", &["old"]);
        let t = refused(verify(&d, &f.policy("expired"), None), "key validity");
        assert!(t.contains("expired at 2001-01-01T00:00:00Z"), "{t}");
        cases += 1;
    }

    // A revoked key: policy version 2 revokes bob (signed by both roots).
    {
        let p = work.join("policy-revoked");
        copy_dir(&pol, &p);
        run_ok(rs(&["policy", "revoke", s(&p), "--key", s(&f.pubk("bob"))]));
        assert!(p.join("policy/2.json").is_file());
        // Not yet signed by the roots: the chain is refused.
        refused(verify(&good, &p, None), "policy signature");
        for r in ["root1", "root2"] {
            run_ok(rs(&["policy", "sign", s(&p), "--key", s(&f.privk(r))]));
        }
        let t = refused(verify(&good, &p, None), "key revoked");
        assert!(t.contains(&f.key_id("bob")), "{t}");
        // A revoked release.
        let p3 = work.join("policy-revoked-release");
        copy_dir(&pol, &p3);
        run_ok(rs(&["policy", "revoke", s(&p3), "--release", "demo@0.1.0"]));
        for r in ["root1", "root2"] {
            run_ok(rs(&["policy", "sign", s(&p3), "--key", s(&f.privk(r))]));
        }
        refused(verify(&good, &p3, None), "release revoked");
        cases += 1;
    }

    // An older release fed after a newer one, and a policy rolled back.
    {
        let newer = f.signed("newer", "0.2.0", &["alice", "bob"]);
        let st = work.join("state.json");
        let _ = std::fs::remove_file(&st);
        run_ok(verify(&newer, &pol, Some(&st)));
        let t = refused(verify(&good, &pol, Some(&st)), "downgrade");
        assert!(t.contains("0.1.0 is older than 0.2.0"), "{t}");
        let mut c = verify(&good, &pol, Some(&st));
        c.arg("--allow-downgrade");
        run_ok(c);
        // The state still remembers 0.2.0.
        refused(verify(&good, &pol, Some(&st)), "downgrade");
        // Policy rollback: version 2 accepted, then version 2 removed.
        let p = work.join("policy-rollback");
        copy_dir(&pol, &p);
        run_ok(rs(&["policy", "set", s(&p), "--artifact-threshold", "1"]));
        for r in ["root1", "root2"] {
            run_ok(rs(&["policy", "sign", s(&p), "--key", s(&f.privk(r))]));
        }
        let st2 = work.join("state2.json");
        let _ = std::fs::remove_file(&st2);
        run_ok(verify(&newer, &p, Some(&st2)));
        std::fs::remove_file(p.join("policy/2.json")).unwrap();
        refused(verify(&newer, &p, Some(&st2)), "policy rollback");
        cases += 1;
    }

    // release.json edited; an expectation not met; the envelope missing.
    {
        let d = case("release-json");
        let p = d.join("release.json");
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(
            &p,
            text.replace(
                "\"builder\":\"relsign test\"",
                "\"builder\":\"relsign tesu\"",
            ),
        )
        .unwrap();
        refused(verify(&d, &pol, None), "release.json digest");
        let mut c = verify(&good, &pol, None);
        c.args(["--expect-source", "elsewhere@1234"]);
        refused(c, "expectation");
        let d = case("unsigned");
        std::fs::remove_file(envelope(&d)).unwrap();
        refused(verify(&d, &pol, None), "provenance signature");
    }
    assert!(cases >= 10);
}

#[test]
fn key_files_wrong_passphrase_and_mode() {
    let f = fixture();
    let rel = f.signed("keyfile", "0.1.0", &[]);
    // Wrong passphrase: exit 2, no signature written.
    let mut c = rs(&["sign", s(&rel), "--key", s(&f.privk("alice"))]);
    c.env("RELSIGN_PASSPHRASE", "not the passphrase");
    let o = c.output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", out_text(&o));
    assert!(
        out_text(&o).contains("wrong passphrase"),
        "{}",
        out_text(&o)
    );
    assert!(!envelope(&rel).exists());
    // A private key readable by others is refused, naming the file and its mode.
    let k = f.dir.join("keys/loose.key");
    std::fs::copy(f.privk("alice"), &k).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = rs(&["sign", s(&rel), "--key", s(&k)]).output().unwrap();
    let text = out_text(&o);
    assert_eq!(o.status.code(), Some(2), "{text}");
    assert!(
        text.contains(&format!("{}: private key file has mode 0644", k.display())),
        "{text}"
    );
    // Generated files: the private key 0600 and encrypted, the public key 0644.
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&f.privk("alice")), 0o600);
    assert_eq!(mode(&f.pubk("alice")), 0o644);
    let pem = std::fs::read_to_string(f.privk("alice")).unwrap();
    assert!(
        pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"),
        "{pem}"
    );
    // OpenSSL decrypts the private key (PBES2, scrypt, AES-256-CBC) and derives our public key.
    require_tool("openssl");
    let o = run_ok({
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg("openssl pkcs8 -in \"$1\" -passin env:RELSIGN_PASSPHRASE | openssl pkey -pubout")
            .arg("sh")
            .arg(f.privk("alice"))
            .env("RELSIGN_PASSPHRASE", PASS);
        c
    });
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        std::fs::read_to_string(f.pubk("alice")).unwrap()
    );
    // The passphrase from a file and from a descriptor.
    let pf = f.dir.join("keys/pass.txt");
    std::fs::write(&pf, format!("{PASS}\n")).unwrap();
    let mut c = relsign(&[
        "sign",
        s(&rel),
        "--key",
        s(&f.privk("alice")),
        "--passphrase-file",
        s(&pf),
    ]);
    c.env_remove("RELSIGN_PASSPHRASE");
    run_ok(c);
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(format!(
            "exec {} sign {} --key {} --passphrase-fd 3 3<{}",
            bin().display(),
            rel.display(),
            f.privk("bob").display(),
            pf.display()
        ))
        .env_remove("RELSIGN_PASSPHRASE");
    run_ok(c);
    assert_eq!(
        read_json(&envelope(&rel))["signatures"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // No passphrase and no terminal: a clear error.
    let mut c = relsign(&["sign", s(&rel), "--key", s(&f.privk("alice"))]);
    c.env_remove("RELSIGN_PASSPHRASE")
        .stdin(std::process::Stdio::null());
    let o = c.output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(out_text(&o).contains("no passphrase"), "{}", out_text(&o));
}

#[test]
fn key_material_appears_in_no_output_or_file() {
    let f = fixture();
    let dir = f.dir.join("work/secrets");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let prefix = dir.join("k");
    let mut outputs = String::new();
    let mut run = |c: Command| outputs.push_str(&out_text(&run_ok(c)));
    run(rs(&["key", "generate", "--out", s(&prefix)]));
    run(rs(&[
        "--json",
        "key",
        "generate",
        "--out",
        s(&dir.join("k2")),
    ]));
    run(rs(&["key", "show", s(&dir.join("k.pub"))]));
    let rel = dir.join("rel");
    synthetic_release(&rel, "demo", "0.1.0");
    run(rs(&["sign", s(&rel), "--key", s(&dir.join("k.key"))]));
    run(rs(&[
        "--json",
        "sign",
        s(&rel),
        "--key",
        s(&dir.join("k2.key")),
    ]));
    let pol = dir.join("pol");
    run(rs(&[
        "policy",
        "init",
        s(&pol),
        "--root-key",
        s(&dir.join("k.pub")),
        "--release-key",
        s(&dir.join("k.pub")),
        // The release above was signed before this policy existed: open the keys' window
        // earlier, or a second boundary between signing and init fails verification.
        "--not-before",
        "2020-01-01T00:00:00Z",
        "--test-only",
    ]));
    run(rs(&[
        "policy",
        "sign",
        s(&pol),
        "--key",
        s(&dir.join("k.key")),
    ]));
    run(rs(&["policy", "show", s(&pol)]));
    run(rs(&["verify", s(&rel), "--policy", s(&pol), "--no-state"]));
    run(rs(&[
        "--json",
        "verify",
        s(&rel),
        "--policy",
        s(&pol),
        "--no-state",
    ]));
    // A failing command's output, too.
    let mut c = rs(&["sign", s(&rel), "--key", s(&dir.join("k.key"))]);
    c.env("RELSIGN_PASSPHRASE", "wrong");
    outputs.push_str(&out_text(&c.output().unwrap()));

    // The secrets: the PEM body of the private key file, the raw seed (hex and base64, from
    // the decrypted key), and the passphrase.
    let pem = std::fs::read_to_string(dir.join("k.key")).unwrap();
    let body: Vec<&str> = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let py = venv().join("bin/python");
    let o = run_ok({
        let mut c = Command::new(py);
        c.arg("-c").arg(
            "import sys,base64\n\
             from cryptography.hazmat.primitives import serialization as s\n\
             k=s.load_pem_private_key(open(sys.argv[1],'rb').read(), sys.argv[2].encode())\n\
             raw=k.private_bytes(s.Encoding.Raw, s.PrivateFormat.Raw, s.NoEncryption())\n\
             print(raw.hex()); print(base64.b64encode(raw).decode()); print(base64.urlsafe_b64encode(raw).decode().rstrip('='))",
        );
        c.arg(dir.join("k.key")).arg(PASS);
        c
    });
    let seeds: Vec<String> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(seeds.len(), 3);
    let mut needles: Vec<String> = body.iter().map(|l| l.to_string()).collect();
    needles.extend(seeds.iter().cloned());
    needles.push(seeds[1].trim_end_matches('=').to_string());
    needles.push(PASS.to_string());
    // Everything written except the private key files themselves.
    let mut haystack = outputs.clone();
    let mut files = Vec::new();
    collect_files(&dir, &mut files);
    for p in &files {
        if p.extension().is_some_and(|e| e == "key") {
            continue;
        }
        let bytes = std::fs::read(p).unwrap();
        haystack.push_str(&String::from_utf8_lossy(&bytes));
        // Base64 payloads decoded too (the statement inside the envelope).
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) {
            if let Some(pl) = v.get("payload").and_then(|p| p.as_str()) {
                haystack.push_str(&String::from_utf8_lossy(&b64d(pl)));
            }
        }
    }
    for n in &needles {
        assert!(n.len() >= 16, "needle too short to be meaningful: {n}");
        assert!(
            !haystack.contains(n.as_str()),
            "secret material {n:?} leaked into an output or a file"
        );
    }
    assert!(files.len() > 8, "{files:?}");
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            collect_files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// The demo release: built, signed with generated test-only keys, verified by relsign and by
/// the outside verifiers.
#[test]
fn demo_release_signed_and_verified() {
    let f = fixture();
    fetch_demo();
    let out = root().join("target/test-work/sign-verify-demo");
    let _ = std::fs::remove_dir_all(&out);
    run_ok(relsign(&["build", s(&demo_recipe()), "--out", s(&out)]));
    // A release carries the gate's result and the SBOMs before it may be signed.
    run_ok(relsign(&["test", s(&demo_recipe()), "--release", s(&out)]));
    run_ok(relsign(&["sbom", s(&out)]));
    for k in ["alice", "bob"] {
        run_ok(rs(&["sign", s(&out), "--key", s(&f.privk(k))]));
    }
    let o = run_ok(verify(&out, &f.policy("two"), None));
    assert!(
        out_text(&o).contains("verified relsign-demo"),
        "{}",
        out_text(&o)
    );
    let env = read_json(&envelope(&out));
    let st: serde_json::Value =
        serde_json::from_slice(&b64d(env["payload"].as_str().unwrap())).unwrap();
    let deps = st["predicate"]["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .unwrap();
    assert!(
        deps.iter().any(|d| d["uri"]
            .as_str()
            .unwrap_or("")
            .starts_with("pkg:deb/debian/python3")),
        "a .deb dependency"
    );
    assert!(
        deps.iter().any(|d| d["uri"]
            .as_str()
            .unwrap_or("")
            .starts_with("pkg:pypi/setuptools@")),
        "a Python dependency"
    );
    // Dependencies are named by purl, never by an index or mirror address.
    for d in deps {
        let uri = d["uri"].as_str().unwrap_or("");
        assert!(!uri.contains("://"), "{uri}");
    }
    let py = venv().join("bin/python");
    let o = run_ok({
        let mut c = Command::new(py);
        c.arg(root().join("tests/py/outside_verifiers.py"))
            .arg(&out)
            .arg(f.pubk("alice"))
            .arg(f.pubk("bob"));
        c
    });
    assert!(
        out_text(&o).contains("securesystemslib verified"),
        "{}",
        out_text(&o)
    );
    // sigstore-js: every bundle of the demo release (provenance, test result, the SBOMs of the
    // sdist, wheel and image, each file's publish statement), both signers.
    let js = sigstore_js(&out, &[f.pubk("alice"), f.pubk("bob")]);
    assert!(
        js.status.success() && out_text(&js).contains("ok: sigstore-js verified 20 bundle(s)"),
        "{}",
        out_text(&js)
    );
    // An auditor holding only the provenance and a checkout rebuilds from the statement.
    let lone = root().join("target/test-work/sign-verify-provenance.dsse.json");
    std::fs::copy(envelope(&out), &lone).unwrap();
    let o = run_ok(relsign(&[
        "rebuild",
        s(&lone),
        "--recipe",
        s(&demo_recipe()),
    ]));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("every digest matches"), "{text}");
    assert_eq!(text.matches("ok       ").count(), 3, "{text}");
    let o = relsign(&["rebuild", s(&lone)]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", out_text(&o));
    assert!(out_text(&o).contains("give --recipe"), "{}", out_text(&o));
    // Each artifact named as the target, the OCI layout included.
    let m = read_json(&out.join("release.json"));
    for a in m["artifacts"].as_array().unwrap() {
        run_ok(verify(
            &out.join(a["file"].as_str().unwrap()),
            &f.policy("two"),
            None,
        ));
    }
    // The readable copies beside the signatures are checked too: a mirror that serves a
    // forged SBOM, recipe, lock, source copy or JUnit record, or drops an artifact, is refused.
    let append = |p: &Path| {
        let mut b = std::fs::read(p).unwrap();
        b.extend_from_slice(b"\n# edited\n");
        std::fs::write(p, b).unwrap();
    };
    type Tamper = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, &str, Tamper)> = vec![
        (
            "an SBOM replaced",
            "sbom",
            Box::new(|r: &Path| {
                std::fs::write(r.join("sbom/relsign_demo-0.1.0.tar.gz.cdx.json"), "{}").unwrap()
            }),
        ),
        (
            "the recipe copy edited",
            "inputs",
            Box::new(move |r: &Path| append(&r.join("inputs/demo.toml"))),
        ),
        (
            "a lock copy edited",
            "inputs",
            Box::new(move |r: &Path| append(&r.join("inputs/pylock.demo.toml"))),
        ),
        (
            "a source file edited",
            "inputs",
            Box::new(move |r: &Path| append(&r.join("inputs/demo/src/relsign_demo/cli.py"))),
        ),
        (
            "a JUnit record edited",
            "test result",
            Box::new(move |r: &Path| append(&r.join("test-results/venv/TESTS-cli.xml"))),
        ),
        (
            "an artifact removed",
            "artifact digest",
            Box::new(|r: &Path| std::fs::remove_file(r.join("relsign_demo-0.1.0.tar.gz")).unwrap()),
        ),
    ];
    for (what, check, tamper) in cases {
        let t = tempfile::tempdir().unwrap();
        let copy = t.path().join("release");
        copy_dir(&out, &copy);
        tamper(&copy);
        let text = refused(verify(&copy, &f.policy("two"), None), check);
        assert!(!text.contains("verified relsign-demo"), "{what}: {text}");
    }
}

#[test]
fn a_failing_gate_stops_the_release_signs_nothing_and_verify_refuses() {
    let f = fixture();
    fetch_demo();
    let work = root().join("target/test-work/sign-verify-gate");
    let _ = std::fs::remove_dir_all(&work);
    let recipes = work.join("recipes");
    relsign::fsutil::copy_tree(&root().join("recipes"), &recipes).unwrap();
    let feature = recipes.join("demo/features/cli.feature");
    let good_text = std::fs::read_to_string(&feature).unwrap();
    let bad_text = format!("{good_text}\n  Scenario: a deliberately wrong sum\n    When I run \"relsign-demo sum 2 2\"\n    Then the output is \"5\"\n");
    std::fs::write(&feature, &bad_text).unwrap();
    let out = work.join("release");
    let recipe = recipes.join("demo.toml");

    // 1. The gate fails: exit 1, nothing signed, the directory says it is not a release.
    let o = rs(&[
        "release",
        s(&recipe),
        "--out",
        s(&out),
        "--key",
        s(&f.privk("alice")),
    ])
    .output()
    .unwrap();
    let text = out_text(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(
        text.contains("the release gate failed") && text.contains("a deliberately wrong sum"),
        "{text}"
    );
    assert!(out.join("NOT-A-RELEASE.txt").is_file());
    let signed: Vec<String> = walk(&out)
        .into_iter()
        .filter(|p| p.ends_with(".dsse.json") || p.ends_with(".sigstore.json"))
        .collect();
    assert!(signed.is_empty(), "no signature may be written: {signed:?}");
    // verify refuses it; sign refuses it too.
    let refusal = refused(verify(&out, &f.policy("one"), None), "provenance signature");
    assert!(refusal.contains("not signed"), "{refusal}");
    let o = rs(&["sign", s(&out), "--key", s(&f.privk("alice"))])
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0));
    assert!(
        out_text(&o).contains("NOT-A-RELEASE.txt"),
        "{}",
        out_text(&o)
    );

    // 2. With the scenario fixed, the same command releases, and verify accepts it.
    std::fs::write(&feature, &good_text).unwrap();
    let o = run_ok(rs(&[
        "release",
        s(&recipe),
        "--out",
        s(&out),
        "--key",
        s(&f.privk("alice")),
    ]));
    assert!(
        out_text(&o).contains("released relsign-demo 0.1.0"),
        "{}",
        out_text(&o)
    );
    assert!(!out.join("NOT-A-RELEASE.txt").exists());
    let o = run_ok(verify(&out, &f.policy("one"), None));
    let text = out_text(&o);
    assert!(text.contains("verified relsign-demo"), "{text}");
    // Without its SBOM attestation, the release is refused.
    for e in std::fs::read_dir(out.join("attestations")).unwrap() {
        let p = e.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("sbom-image.spdx.")
        {
            std::fs::remove_file(p).unwrap();
        }
    }
    refused(verify(&out, &f.policy("one"), None), "sbom");
}

fn walk(dir: &Path) -> Vec<String> {
    let mut v = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                v.extend(walk(&p));
            } else {
                v.push(p.display().to_string());
            }
        }
    }
    v
}

/// Releases signed before the artifact bundles became publish statements carry
/// message-signature bundles (Ed25519 over the file's bytes): they still verify, and a flipped
/// signature in one is still refused.
#[test]
fn legacy_message_signature_bundles_still_verify() {
    let f = fixture();
    let pol = f.policy("two");
    let d = f.signed("legacy-bundles", "0.1.0", &["alice", "bob"]);
    let m: relsign::model::ReleaseManifest =
        serde_json::from_slice(&std::fs::read(d.join("release.json")).unwrap()).unwrap();
    let mut replaced = 0;
    for k in ["alice", "bob"] {
        let key = relsign::keys::SecretKey::read(
            &f.privk(k),
            &relsign::keys::Passphrase::new(PASS.into()),
        )
        .unwrap();
        let fp = key.public().fingerprint();
        for a in &m.artifacts {
            let bytes = std::fs::read(d.join(&a.file)).unwrap();
            let b = relsign::attest::bundle::Bundle {
                hint: key.public().key_id().to_string(),
                content: relsign::attest::bundle::Content::Message {
                    sha256: relsign::attest::sha2_bytes(&a.sha256),
                    signature: key.sign(&bytes).to_vec(),
                },
            };
            let p = d
                .join("attestations")
                .join(relsign::attest::artifact_bundle_name(&a.file, &fp));
            assert!(p.is_file(), "{}", p.display());
            std::fs::write(&p, b.to_json()).unwrap();
            replaced += 1;
        }
    }
    assert_eq!(replaced, 4);
    let t = out_text(&run_ok(verify(&d, &pol, None)));
    assert!(
        t.contains("4 legacy message-signature bundle(s) verified over the bytes"),
        "{t}"
    );
    // Flip one legacy signature: refused.
    let n = std::fs::read_dir(d.join("attestations"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("demo-") && n.contains(".whl."))
        .unwrap();
    let p = d.join("attestations").join(n);
    let mut b = read_json(&p);
    let mut sig = b64d(b["messageSignature"]["signature"].as_str().unwrap());
    sig[3] ^= 0x01;
    b["messageSignature"]["signature"] = b64e(&sig).into();
    write_json(&p, &b);
    refused(verify(&d, &pol, None), "bundle");
}
