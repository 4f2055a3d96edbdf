//! The attacks of issue 15, each against a copy of the signed demo release (TEST-ONLY keys):
//! every one must be refused with exit 1 and a message naming what is missing or extra.
//! Each of them was accepted (exit 0, "verified") by relsign before the fix.

mod common;
use common::signed::{rs, shared_signed_demo, signed_copy, PASSPHRASE};
use common::*;
use relsign::dsse::{b64, b64_decode};
use std::path::{Path, PathBuf};
use std::process::Command;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn verify(rel: &Path) -> Command {
    let mut c = rs(&[
        "verify",
        s(rel),
        "--policy",
        s(&shared_signed_demo().policy),
    ]);
    c.arg("--no-state");
    c
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Exit 1, the check named, and every `needles` in the message.
fn refused(mut c: Command, check: &str, needles: &[&str]) -> String {
    let o = c.output().unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{c:?}: expected exit 1:\n{t}");
    assert!(
        t.contains(&format!("check `{check}` failed")),
        "{c:?}: expected check `{check}`:\n{t}"
    );
    for n in needles {
        assert!(t.contains(n), "{c:?}: expected {n:?} in:\n{t}");
    }
    t
}

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// The image layout's signed manifest (hex) and the manifest JSON.
fn image(rel: &Path) -> (PathBuf, String, serde_json::Value) {
    let m = json(&rel.join("release.json"));
    let a = m["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "oci-image")
        .unwrap()
        .clone();
    let layout = rel.join(a["file"].as_str().unwrap());
    let hex = a["sha256"].as_str().unwrap().to_string();
    let manifest = json(&layout.join("blobs/sha256").join(&hex));
    (layout, hex, manifest)
}

#[test]
fn the_untouched_release_verifies_strictly() {
    let (_t, rel) = signed_copy();
    let o = run_ok(verify(&rel));
    let t = text(&o);
    assert!(t.contains("unsigned files: every file of"), "{t}");
    assert!(t.contains("index.json names only this manifest"), "{t}");
}

#[test]
fn attack_1_a_missing_layer_or_config_blob() {
    let (_t, rel) = signed_copy();
    let (layout, _, m) = image(&rel);
    let layer = m["layers"][0]["digest"].as_str().unwrap();
    let hex = layer.strip_prefix("sha256:").unwrap();
    std::fs::remove_file(layout.join("blobs/sha256").join(hex)).unwrap();
    refused(
        verify(&rel),
        "artifact digest",
        &["missing", "layers[0]", hex],
    );

    let (_t, rel) = signed_copy();
    let (layout, _, m) = image(&rel);
    let cfg = m["config"]["digest"].as_str().unwrap();
    let hex = cfg.strip_prefix("sha256:").unwrap();
    std::fs::remove_file(layout.join("blobs/sha256").join(hex)).unwrap();
    refused(verify(&rel), "artifact digest", &["missing", "config", hex]);

    // A layer cut short: the size the signed manifest gives is checked before hashing.
    let (_t, rel) = signed_copy();
    let (layout, _, m) = image(&rel);
    let hex = m["layers"][0]["digest"].as_str().unwrap()[7..].to_string();
    let p = layout.join("blobs/sha256").join(&hex);
    let b = std::fs::read(&p).unwrap();
    std::fs::write(&p, &b[..b.len() - 1]).unwrap();
    refused(verify(&rel), "artifact digest", &["size expected="]);
}

#[test]
fn attack_2_index_json_names_another_manifest_or_none() {
    // Another valid manifest (the signed one with an annotation), unsigned, named by index.json.
    let (_t, rel) = signed_copy();
    let (layout, signed_hex, mut m) = image(&rel);
    m["annotations"] = serde_json::json!({"evil": "yes"});
    let bytes = serde_json::to_vec(&m).unwrap();
    let hex = relsign::digest::Sha256Hex::of(&bytes).to_string();
    std::fs::write(layout.join("blobs/sha256").join(&hex), &bytes).unwrap();
    let idx_path = layout.join("index.json");
    let mut idx = json(&idx_path);
    let good_idx = idx.clone();
    idx["manifests"][0]["digest"] = format!("sha256:{hex}").into();
    idx["manifests"][0]["size"] = bytes.len().into();
    std::fs::write(&idx_path, serde_json::to_vec(&idx).unwrap()).unwrap();
    refused(
        verify(&rel),
        "image layout",
        &[&format!("sha256:{hex}"), &signed_hex],
    );
    // The tool that would run it agrees the layout now names the other manifest.
    let found = relsign::oci::Layout::open(&layout)
        .unwrap()
        .find_manifest(None)
        .unwrap();
    assert_eq!(found.digest, format!("sha256:{hex}"));

    // Both manifests named.
    let mut both = good_idx.clone();
    let extra = idx["manifests"][0].clone();
    both["manifests"].as_array_mut().unwrap().push(extra);
    std::fs::write(&idx_path, serde_json::to_vec(&both).unwrap()).unwrap();
    refused(
        verify(&rel),
        "image layout",
        &["names 2 manifest(s)", &format!("sha256:{hex}")],
    );

    // Emptied.
    let mut empty = good_idx.clone();
    empty["manifests"] = serde_json::json!([]);
    std::fs::write(&idx_path, serde_json::to_vec(&empty).unwrap()).unwrap();
    refused(verify(&rel), "image layout", &["names no manifest"]);

    // Back to the signed index, the extra manifest blob is an unsigned file.
    std::fs::write(&idx_path, serde_json::to_vec(&good_idx).unwrap()).unwrap();
    refused(verify(&rel), "unsigned files", &[&hex]);
}

#[test]
fn attack_3_the_gate_dropped() {
    // The demo recipe has a [test] gate; the signed provenance records it.
    let (_t, rel) = signed_copy();
    let env = json(&rel.join("attestations/provenance.dsse.json"));
    let payload = b64_decode(env["payload"].as_str().unwrap()).unwrap();
    let st: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(
        st["predicate"]["buildDefinition"]["externalParameters"]["gate"]["required"],
        true
    );
    std::fs::remove_dir_all(rel.join("inputs")).unwrap();
    std::fs::remove_dir_all(rel.join("test-results")).unwrap();
    for e in std::fs::read_dir(rel.join("attestations")).unwrap() {
        let p = e.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("test-result.")
        {
            std::fs::remove_file(p).unwrap();
        }
    }
    refused(
        verify(&rel),
        "test result",
        &["test-result.dsse.json: missing"],
    );
}

#[test]
fn attack_4_an_extra_unsigned_file() {
    let (_t, rel) = signed_copy();
    let whl = std::fs::read_dir(&rel)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .unwrap();
    std::fs::copy(&whl, rel.join("evil-6.6.6-py3-none-any.whl")).unwrap();
    std::fs::create_dir_all(rel.join("sbom/extra")).unwrap();
    std::fs::write(rel.join("sbom/extra/notes.txt"), "hi").unwrap();
    refused(
        verify(&rel),
        "unsigned files",
        &[
            "2 file(s)",
            "evil-6.6.6-py3-none-any.whl",
            "sbom/extra/notes.txt",
        ],
    );
    // --no-strict lists them as not verified, and verifies the rest.
    let mut c = verify(&rel);
    c.arg("--no-strict");
    let t = text(&run_ok(c));
    assert!(
        t.contains("evil-6.6.6-py3-none-any.whl: covered by no signature (not verified)"),
        "{t}"
    );
    // A single artifact named as the target is verified on its own.
    run_ok(verify(&whl_in(&rel)));
}

fn whl_in(rel: &Path) -> PathBuf {
    let m = json(&rel.join("release.json"));
    let f = m["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "wheel")
        .unwrap()["file"]
        .as_str()
        .unwrap()
        .to_string();
    rel.join(f)
}

/// Re-sign a statement envelope's (edited) payload text with the demo's release key: the
/// attacker here is a signer whose JSON another verifier would read differently.
fn resign(env_path: &Path, payload: &str) {
    let key = relsign::keys::SecretKey::read(
        &shared_signed_demo().key,
        &relsign::keys::Passphrase::new(PASSPHRASE.into()),
    )
    .unwrap();
    let mut env = relsign::dsse::Envelope::new(
        relsign::dsse::INTOTO_PAYLOAD_TYPE,
        payload.as_bytes().to_vec(),
    );
    env.sign(&key);
    std::fs::write(env_path, env.to_json()).unwrap();
    // The statement's bundles carry the old envelope: remove them so only the edit matters
    // (a bundle mismatch would refuse it for another reason).
    let stem = env_path
        .file_name()
        .unwrap()
        .to_string_lossy()
        .strip_suffix("dsse.json")
        .unwrap()
        .to_string();
    for e in std::fs::read_dir(env_path.parent().unwrap()).unwrap() {
        let p = e.unwrap().path();
        let n = p.file_name().unwrap().to_string_lossy().into_owned();
        if n.starts_with(&stem) && n.ends_with(".sigstore.json") {
            std::fs::remove_file(p).unwrap();
        }
    }
}

#[test]
fn attack_5_duplicate_keys_in_signed_json() {
    // The provenance with the release version given twice: serde_json reads the last value.
    let (_t, rel) = signed_copy();
    let env_path = rel.join("attestations/provenance.dsse.json");
    let env = json(&env_path);
    let payload = String::from_utf8(b64_decode(env["payload"].as_str().unwrap()).unwrap()).unwrap();
    let dup = payload.replacen(
        "\"version\":\"0.1.0\"",
        "\"version\":\"0.1.0\",\"version\":\"0.1.0\"",
        1,
    );
    assert_ne!(dup, payload);
    resign(&env_path, &dup);
    refused(verify(&rel), "format", &["duplicate key \"version\""]);

    // In an SBOM statement.
    let (_t, rel) = signed_copy();
    let st_path = std::fs::read_dir(rel.join("attestations"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.starts_with("sbom-") && n.ends_with(".cdx.dsse.json")
        })
        .unwrap();
    let env = json(&st_path);
    let payload = String::from_utf8(b64_decode(env["payload"].as_str().unwrap()).unwrap()).unwrap();
    let dup = payload.replacen("{", "{\"predicateType\":\"x\",", 1);
    resign(&st_path, &dup);
    refused(verify(&rel), "sbom", &["duplicate key \"predicateType\""]);

    // In the envelope itself, and in release.json (bound by digest, refused before that).
    let (_t, rel) = signed_copy();
    let env_path = rel.join("attestations/provenance.dsse.json");
    let text = std::fs::read_to_string(&env_path).unwrap();
    let dup = text.replacen('{', "{\"payloadType\": \"text/plain\",", 1);
    std::fs::write(&env_path, dup).unwrap();
    refused(verify(&rel), "format", &["duplicate key \"payloadType\""]);
}

#[test]
fn attack_5_duplicate_keys_in_the_policy() {
    let sd = shared_signed_demo();
    let t = tempfile::tempdir().unwrap();
    let pol = t.path().join("policy");
    relsign::fsutil::copy_tree(&sd.policy, &pol).unwrap();
    let root_key = sd.policy.parent().unwrap().join("keys/root.key");
    let key = relsign::keys::SecretKey::read(
        &root_key,
        &relsign::keys::Passphrase::new(PASSPHRASE.into()),
    )
    .unwrap();
    let p1 = pol.join("policy/1.json");
    let env = json(&p1);
    let payload = String::from_utf8(b64_decode(env["payload"].as_str().unwrap()).unwrap()).unwrap();
    let dup = payload.replacen("\"thresholds\":", "\"thresholds\":{},\"thresholds\":", 1);
    assert_ne!(dup, payload);
    let mut e =
        relsign::dsse::Envelope::new(env["payloadType"].as_str().unwrap(), dup.into_bytes());
    e.sign(&key);
    std::fs::write(&p1, e.to_json()).unwrap();
    let (_t2, rel) = signed_copy();
    let mut c = rs(&["verify", s(&rel), "--policy", s(&pol), "--no-state"]);
    c.env_remove("RELSIGN_STATE");
    refused(c, "policy format", &["duplicate key \"thresholds\""]);
}

#[test]
fn attack_6_oversized_inputs() {
    // A 200 MiB provenance envelope (valid JSON: the signed envelope padded with spaces).
    let (_t, rel) = signed_copy();
    let env_path = rel.join("attestations/provenance.dsse.json");
    let mut bytes = std::fs::read(&env_path).unwrap();
    bytes.resize(bytes.len() + (200 << 20), b' ');
    std::fs::write(&env_path, &bytes).unwrap();
    drop(bytes);
    refused(
        verify(&rel),
        "format",
        &["provenance.dsse.json", "over the limit of 16777216 bytes"],
    );

    // An envelope with more signatures than any policy could need.
    let (_t, rel) = signed_copy();
    let env_path = rel.join("attestations/provenance.dsse.json");
    let mut env = json(&env_path);
    let sig = env["signatures"][0].clone();
    env["signatures"] = serde_json::Value::Array(vec![sig; 65]);
    std::fs::write(&env_path, serde_json::to_vec(&env).unwrap()).unwrap();
    refused(
        verify(&rel),
        "format",
        &["65 signatures, over the limit of 64"],
    );

    // Nesting deeper than any statement needs, in release.json.
    let (_t, rel) = signed_copy();
    let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
    std::fs::write(rel.join("release.json"), deep).unwrap();
    refused(verify(&rel), "format", &["nested deeper than 64"]);
    let _ = b64(b"");
}

#[test]
fn attack_7_the_last_seen_state_replaced_or_rolled_back() {
    let t = tempfile::tempdir().unwrap();
    let state = t.path().join("last-seen.json");
    let (_t, rel) = signed_copy();
    let v = |st: &Path| {
        let mut c = rs(&[
            "verify",
            s(&rel),
            "--policy",
            s(&shared_signed_demo().policy),
            "--state",
            s(st),
        ]);
        c.env_remove("RELSIGN_STATE");
        c
    };
    run_ok(v(&state));
    let first = std::fs::read(&state).unwrap();
    run_ok(v(&state));
    let second = std::fs::read(&state).unwrap();
    assert_ne!(first, second, "each accepted verify is a new write");

    // Other valid JSON in its place.
    for other in [
        "{}",
        "[]",
        "null",
        r#"{"policies":{},"releases":{}}"#,
        r#"{"_type":"https://example.com/other","sequence":9,"policies":{},"releases":{}}"#,
    ] {
        std::fs::write(&state, other).unwrap();
        refused(v(&state), "last-seen state", &[s(&state)]);
    }
    // Garbage.
    std::fs::write(&state, b"\x00\x01garbage").unwrap();
    refused(
        v(&state),
        "last-seen state",
        &["not relsign's last-seen state"],
    );
    // An older copy of itself.
    std::fs::write(&state, &first).unwrap();
    refused(v(&state), "last-seen state", &["went backwards"]);
    // Deleted.
    std::fs::remove_file(&state).unwrap();
    refused(
        v(&state),
        "last-seen state",
        &["missing, but its high-water mark"],
    );
    // The newest copy is accepted again.
    std::fs::write(&state, &second).unwrap();
    run_ok(v(&state));
}

/// Issue 15: blobs were written 0600, so a static mirror served by another user could not
/// read them. Every file of a release is world-readable and every directory 0755.
#[test]
fn every_released_file_is_world_readable() {
    use std::os::unix::fs::PermissionsExt;
    let rel = &shared_signed_demo().release;
    let mut stack = vec![rel.clone()];
    let mut files = 0;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let meta = e.metadata().unwrap();
            let mode = meta.permissions().mode() & 0o777;
            if meta.is_dir() {
                assert_eq!(
                    mode,
                    0o755,
                    "{}: directory mode {mode:o}",
                    e.path().display()
                );
                stack.push(e.path());
            } else {
                assert_eq!(mode & 0o644, 0o644, "{}: mode {mode:o}", e.path().display());
                files += 1;
            }
        }
    }
    assert!(files > 20, "{files} files");
}

/// Run with a deadline: verify must refuse hostile files, never hang on them.
fn refused_within(mut c: Command, secs: u64, check: &str, needles: &[&str]) {
    c.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    let start = std::time::Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed().as_secs() > secs {
            let _ = child.kill();
            panic!("{c:?}: still running after {secs} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let o = child.wait_with_output().unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{c:?}: expected exit 1:\n{t}");
    assert!(
        t.contains(&format!("check `{check}` failed")),
        "{c:?}: {check}:\n{t}"
    );
    for n in needles {
        assert!(t.contains(n), "{c:?}: expected {n:?} in:\n{t}");
    }
}

/// Found by reviewing the fix: files that would hang or exhaust a reader, and a bundle by a
/// key the policy does not know whose statement was left unread.
#[test]
fn hostile_files_are_refused_without_hanging() {
    // The recipe copy as a symlink to /dev/zero.
    let (_t, rel) = signed_copy();
    let m = json(&rel.join("release.json"));
    let recipe = rel.join(m["recipe"]["path"].as_str().unwrap());
    std::fs::remove_file(&recipe).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &recipe).unwrap();
    refused_within(
        verify(&rel),
        60,
        "inputs",
        &["a symlink, not a regular file"],
    );

    // A FIFO among the bundles.
    let (_t, rel) = signed_copy();
    let fifo = rel.join("attestations/x.0123456789abcdef.sigstore.json");
    let st = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(st.success());
    refused_within(verify(&rel), 60, "bundle", &["not a regular file"]);

    // A symlink inside a source copy under inputs/ (it would be followed by the tree digest).
    let (_t, rel) = signed_copy();
    let src = m["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "dir")
        .unwrap()["location"]
        .as_str()
        .unwrap()
        .to_string();
    std::os::unix::fs::symlink("/etc/passwd", rel.join("inputs").join(&src).join("zz-link"))
        .unwrap();
    refused_within(verify(&rel), 60, "inputs", &["a symlink or special file"]);

    // A bundle by a key the policy does not know, naming the wheel with another digest.
    let (_t, rel) = signed_copy();
    let whl = whl_in(&rel);
    let name = whl.file_name().unwrap().to_string_lossy().into_owned();
    let st = serde_json::json!({"_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": name, "digest": {"sha256": "00".repeat(32)}}],
        "predicateType": "https://docs.pypi.org/attestations/publish/v1", "predicate": null});
    let bundle = serde_json::json!({
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {"publicKey": {"hint": "unknown-key"}},
        "dsseEnvelope": {"payload": b64(&serde_json::to_vec(&st).unwrap()),
            "payloadType": "application/vnd.in-toto+json",
            "signatures": [{"keyid": "unknown-key", "sig": b64(&[0u8; 64])}]}});
    std::fs::write(
        rel.join(format!(
            "attestations/{name}.0123456789abcdef.sigstore.json"
        )),
        serde_json::to_vec(&bundle).unwrap(),
    )
    .unwrap();
    refused_within(verify(&rel), 60, "bundle", &["(provenance)"]);
}
