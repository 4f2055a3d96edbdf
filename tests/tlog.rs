//! The transparency log of releases (issue 14) end to end, on synthetic releases: `relsign
//! sign --log` appends and writes the proof, `relsign verify` checks it against the policy's
//! log key (a release missing from a required log is refused; a fork and a rollback are
//! named), `relsign log monitor` lists what was signed and flags a key the policy does not
//! trust, an append killed at every point leaves a valid log, and an independent checker in
//! Python (tests/py/tlog_check.py, written from the C2SP texts) accepts the log and the proofs
//! and refuses a flipped byte in a tile, a checkpoint or a proof, as relsign does.

mod common;
use common::synthetic::synthetic_release;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const PASS: &str = "test-only passphrase tlog 51c2";
const ORIGIN: &str = "relsign.test/tlog";

fn rs(args: &[&str]) -> Command {
    let mut c = relsign(args);
    c.env("RELSIGN_PASSPHRASE", PASS);
    c.env("RELSIGN_LOG_PASSPHRASE", PASS);
    c.env_remove("RELSIGN_STATE");
    c.env_remove("RELSIGN_TLOG_KILL_AFTER");
    c
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

struct Fixture {
    dir: PathBuf,
}

impl Fixture {
    fn pubk(&self, n: &str) -> PathBuf {
        self.dir.join(format!("keys/{n}.pub"))
    }
    fn privk(&self, n: &str) -> PathBuf {
        self.dir.join(format!("keys/{n}.key"))
    }
    fn policy(&self) -> PathBuf {
        self.dir.join("policy")
    }
    fn key_id(&self, n: &str) -> String {
        let o = run_ok(rs(&["key", "show", s(&self.pubk(n))]));
        String::from_utf8(o.stdout).unwrap().trim().to_string()
    }
    /// A new empty log directory.
    fn new_log(&self, tag: &str) -> PathBuf {
        let d = self.dir.join("logs").join(tag);
        let _ = std::fs::remove_dir_all(&d);
        run_ok(rs(&[
            "log",
            "init",
            s(&d),
            "--origin",
            ORIGIN,
            "--key",
            s(&self.privk("log")),
        ]));
        d
    }
    /// A synthetic release `demo VERSION` signed by `signer`, logged in `log` when given.
    fn release(&self, tag: &str, version: &str, signer: &str, log: Option<&Path>) -> PathBuf {
        self.release_at(tag, version, signer, log, None)
    }
    /// The same, with the signing time the statement claims.
    fn release_at(
        &self,
        tag: &str,
        version: &str,
        signer: &str,
        log: Option<&Path>,
        at: Option<&str>,
    ) -> PathBuf {
        let d = self.dir.join("work").join(tag);
        let _ = std::fs::remove_dir_all(&d);
        synthetic_release(&d, "demo", version);
        let mut c = rs(&["sign", s(&d), "--key", s(&self.privk(signer))]);
        if let Some(l) = log {
            c.args(["--log", s(l), "--log-key", s(&self.privk("log"))]);
        }
        if let Some(t) = at {
            c.args(["--signing-time", t]);
        }
        run_ok(c);
        d
    }
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = root().join("target/test-work/tlog");
        let _ = std::fs::remove_dir_all(&dir);
        let f = Fixture { dir };
        for k in ["root", "alice", "mallory", "log"] {
            run_ok(rs(&[
                "key",
                "generate",
                "--out",
                s(&f.dir.join("keys").join(k)),
            ]));
        }
        let p = f.policy();
        run_ok(rs(&[
            "policy",
            "init",
            s(&p),
            "--root-key",
            s(&f.pubk("root")),
            "--release-key",
            s(&f.pubk("alice")),
            "--not-before",
            "2020-01-01T00:00:00Z",
            "--test-only",
        ]));
        run_ok(rs(&[
            "policy",
            "set-log",
            s(&p),
            "--origin",
            ORIGIN,
            "--key",
            s(&f.pubk("log")),
            "--required",
        ]));
        run_ok(rs(&["policy", "sign", s(&p), "--key", s(&f.privk("root"))]));
        f
    })
}

fn verify(rel: &Path, state: Option<&Path>, log: Option<&Path>) -> Command {
    let f = fixture();
    let mut c = rs(&["verify", s(rel), "--policy", s(&f.policy())]);
    match state {
        Some(st) => c.args(["--state", s(st)]),
        None => c.arg("--no-state"),
    };
    if let Some(l) = log {
        c.args(["--log", s(l)]);
    }
    c
}

fn monitor(log: &Path, state: Option<&Path>) -> Command {
    let f = fixture();
    let mut c = rs(&["log", "monitor", s(log), "--policy", s(&f.policy())]);
    match state {
        Some(st) => c.args(["--state", s(st)]),
        None => c.arg("--no-state"),
    };
    c
}

/// The Python checker on a log and releases.
fn checker(log: &Path, releases: &[&Path]) -> Output {
    let mut c = Command::new(venv().join("bin/python"));
    c.arg(root().join("tests/py/tlog_check.py"))
        .arg(log)
        .arg(ORIGIN)
        .arg(fixture().pubk("log"))
        .args(releases);
    c.output().expect("spawn python")
}

fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    relsign::fsutil::copy_tree(from, to).unwrap();
}

fn flip(path: &Path, at: usize) {
    let mut b = std::fs::read(path).unwrap();
    b[at] ^= 0x01;
    std::fs::write(path, b).unwrap();
}

fn proof_of(rel: &Path) -> PathBuf {
    let mut v: Vec<PathBuf> = std::fs::read_dir(rel.join("attestations"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".tlog-proof"))
        .collect();
    assert_eq!(v.len(), 1, "{v:?}");
    v.pop().unwrap()
}

fn state(tag: &str) -> PathBuf {
    let p = fixture().dir.join("state").join(format!("{tag}.json"));
    let _ = std::fs::remove_dir_all(fixture().dir.join("state").join(tag));
    let _ = std::fs::remove_file(&p);
    let _ = std::fs::remove_file(p.with_extension("json.hwm"));
    p
}

fn checkpoint_size(log: &Path) -> String {
    std::fs::read_to_string(log.join("checkpoint"))
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .to_string()
}

#[test]
fn signed_releases_are_logged_verified_and_monitored() {
    let f = fixture();
    let log = f.new_log("main");
    let r1 = f.release("r1", "0.1.0", "alice", Some(&log));
    let st = state("main");
    let o = run_ok(verify(&r1, Some(&st), Some(&log)));
    let t = out_text(&o);
    assert!(
        t.contains("ok           transparency log: 1 signature(s) in relsign.test/tlog"),
        "{t}"
    );
    assert!(
        t.contains(&format!(
            "key {} at index 0 under the checkpoint of size 2",
            f.key_id("alice")
        )),
        "{t}"
    );
    let r2 = f.release("r2", "0.2.0", "alice", Some(&log));
    assert_eq!(checkpoint_size(&log), "4");
    // Without the log, the newer checkpoint is not recorded, and verify says so.
    let t = out_text(&run_ok(verify(&r2, Some(&st), None)));
    assert!(t.contains("their consistency was not checked"), "{t}");
    let t = out_text(&run_ok(verify(&r2, Some(&st), Some(&log))));
    assert!(
        t.contains("consistent with the log's checkpoint of size 4"),
        "{t}"
    );
    // Signing again (a re-run after an interruption) does not append a second entry.
    let o = run_ok({
        let mut c = rs(&["sign", s(&r1), "--key", s(&f.privk("alice"))]);
        c.args(["--log", s(&log), "--log-key", s(&f.privk("log"))]);
        c
    });
    assert!(
        out_text(&o).contains("at index 0 (already there) (checkpoint size 4)"),
        "{}",
        out_text(&o)
    );
    // A release signed in secret, never logged: refused.
    let secret = f.release("secret", "0.3.0", "alice", None);
    let t = refused(verify(&secret, None, None), "transparency log");
    assert!(
        t.contains("is not in the transparency log relsign.test/tlog"),
        "{t}"
    );
    // The proof of another release put beside it: refused (the entry is rebuilt from this
    // release's provenance, so the inclusion fails).
    std::fs::copy(
        proof_of(&r2),
        secret
            .join("attestations")
            .join(proof_of(&r2).file_name().unwrap()),
    )
    .unwrap();
    let t = refused(verify(&secret, None, None), "transparency log");
    assert!(t.contains("the inclusion proof does not lead"), "{t}");
    // The monitor lists both releases with alice's key id; then an entry by mallory (a key the
    // policy does not name, logged by whoever holds the log key) raises an alert.
    let mst = state("monitor");
    let t = out_text(&run_ok(monitor(&log, Some(&mst))));
    assert!(
        t.contains(&format!("#0 demo 0.1.0 key {}", f.key_id("alice"))),
        "{t}"
    );
    shows_record(&t, 1, &f.key_id("alice"));
    assert!(t.contains("#2 demo 0.2.0"), "{t}");
    assert!(t.contains("4 entries since size 0; 0 alert(s)"), "{t}");
    let _evil = f.release("evil", "0.4.0", "mallory", Some(&log));
    let t = refused(monitor(&log, Some(&mst)), "log monitor");
    assert!(
        t.contains(&format!("#4 demo 0.4.0 key {}", f.key_id("mallory"))),
        "{t}"
    );
    assert!(
        t.contains("ALERT: key") && t.contains("is not a release key of policy version 1"),
        "{t}"
    );
    // Both of mallory's leaves raise an alert.
    shows_record(&t, 5, &f.key_id("mallory"));
    assert!(t.contains("2 entries since size 4; 2 alert(s)"), "{t}");
    // The alert is not forgotten: the monitored position did not advance.
    let t = refused(monitor(&log, Some(&mst)), "log monitor");
    assert!(t.contains("2 entries since size 4"), "{t}");
    // Over HTTP, as a mirror serves it: the same walk and the same verdict.
    let server = FileServer::start(&log);
    let url = format!("http://127.0.0.1:{}", server.port);
    let c = rs(&[
        "log",
        "monitor",
        &url,
        "--policy",
        s(&f.policy()),
        "--no-state",
    ]);
    let t = refused(c, "log monitor");
    assert!(t.contains("6 entries since size 0; 2 alert(s)"), "{t}");
    let mut c = verify(&r2, None, None);
    c.args(["--log", &url]);
    let t = out_text(&run_ok(c));
    assert!(
        t.contains(&format!(
            "consistent with the log's checkpoint of size 6 ({url}/checkpoint)"
        )),
        "{t}"
    );
    drop(server);
    // The Python checker accepts the log and the proofs.
    let o = checker(&log, &[&r1, &r2]);
    assert!(o.status.success(), "{}", out_text(&o));
    let t = out_text(&o);
    assert!(
        t.contains("ok: the 6 entries hash to the checkpoint's root"),
        "{t}"
    );
    assert!(
        t.contains("entry 2 (demo 0.2.0) included under the checkpoint of size 4"),
        "{t}"
    );
}

#[test]
fn a_fork_and_a_rollback_are_refused_by_verify_and_the_monitor() {
    let f = fixture();
    let log = f.new_log("fork");
    let a = f.release("fork-a", "1.0.0", "alice", Some(&log));
    let before = f.dir.join("logs/fork-before");
    copy_dir(&log, &before);
    let b = f.release("fork-b", "1.1.0", "alice", Some(&log));
    // The fork: the same log key signs another history of the same size (a release signed in
    // secret and shown only to some).
    let forked = f.dir.join("logs/fork-forked");
    copy_dir(&before, &forked);
    let secret = f.release("fork-secret", "1.1.1", "alice", Some(&forked));
    assert_eq!(checkpoint_size(&log), checkpoint_size(&forked));
    let st = state("fork");
    run_ok(verify(&b, Some(&st), Some(&log)));
    let t = refused(verify(&secret, Some(&st), None), "transparency log fork");
    assert!(
        t.contains("two checkpoints of the same size with different roots"),
        "{t}"
    );
    // Given the real log, the secret release's checkpoint is not in it.
    let t = refused(verify(&secret, None, Some(&log)), "transparency log fork");
    assert!(
        t.contains("two checkpoints of the same size with different roots"),
        "{t}"
    );
    // The forked log grows: the real release's checkpoint (size 4) is not contained in the
    // fork's (size 6): the consistency proof built from its tiles does not join them.
    let _more = f.release("fork-more", "1.2.0", "alice", Some(&forked));
    let t = refused(verify(&b, None, Some(&forked)), "transparency log fork");
    assert!(
        t.contains("is not contained in the checkpoint of size 6"),
        "{t}"
    );
    assert!(t.contains("the consistency proof built from"), "{t}");
    let mst = state("fork-monitor");
    run_ok(monitor(&log, Some(&mst)));
    // The monitor that saw the real log (size 4) meets the fork, now of size 6.
    let t = refused(monitor(&forked, Some(&mst)), "transparency log fork");
    assert!(
        t.contains("(last seen, ") && t.contains("is not contained in the checkpoint of size 6"),
        "{t}"
    );
    // The rollback: the log served as it was before the last append.
    let t = refused(
        verify(&a, Some(&st), Some(&before)),
        "transparency log rollback",
    );
    assert!(t.contains("is larger than the checkpoint of size 2"), "{t}");
    let t = refused(monitor(&before, Some(&mst)), "transparency log rollback");
    assert!(t.contains("the log was rolled back"), "{t}");
}

#[test]
fn flipped_bytes_are_refused_by_relsign_and_the_independent_checker() {
    let f = fixture();
    let log = f.new_log("flip");
    let r = f.release("flip-1", "2.0.0", "alice", Some(&log));
    let r2 = f.release("flip-2", "2.1.0", "alice", Some(&log));
    let r3 = f.release("flip-3", "2.2.0", "alice", Some(&log));
    let o = checker(&log, &[&r, &r2, &r3]);
    assert!(o.status.success(), "{}", out_text(&o));
    run_ok(monitor(&log, None));
    run_ok(verify(&r, None, Some(&log)));
    // A tile (the level-0 partial tile of 6 leaf hashes: two per release), a checkpoint, an
    // entry bundle.
    for (file, positions) in [
        ("tile/0/000.p/6", vec![0usize, 37, 95, 170]),
        ("checkpoint", vec![0, 20, 30, 60, 100]),
        ("tile/entries/000.p/6", vec![1, 30, 200, 900]),
    ] {
        for at in positions {
            let bad = f.dir.join("logs/flip-bad");
            copy_dir(&log, &bad);
            flip(&bad.join(file), at);
            let what = format!("{file} flipped at {at}");
            refuses(checker(&bad, &[&r]), "checker", &what);
            refuses(monitor(&bad, None).output().unwrap(), "monitor", &what);
            if file != "tile/entries/000.p/6" {
                refuses(
                    verify(&r, None, Some(&bad)).output().unwrap(),
                    "verify",
                    &what,
                );
            }
        }
    }
    // A proof: every byte for relsign, every 7th for the checker (a Python start each).
    let proof = proof_of(&r2);
    let len = std::fs::read(&proof).unwrap().len();
    assert!(len > 200, "a proof of {len} bytes");
    for at in 0..len {
        let bad = f.dir.join("work/flip-bad-proof");
        copy_dir(&r2, &bad);
        flip(&proof_of(&bad), at);
        let what = format!("the proof flipped at {at}");
        refuses(verify(&bad, None, None).output().unwrap(), "verify", &what);
        if at % 7 == 0 {
            refuses(checker(&log, &[&bad]), "checker", &what);
        }
    }
}

/// Exit 1 with the refusal named: `refused: …` from the checker (not a Python crash), a
/// failed check from relsign.
fn refuses(o: Output, who: &str, what: &str) {
    let t = out_text(&o);
    assert_eq!(o.status.code(), Some(1), "{who} accepted {what}:\n{t}");
    let named = if who == "checker" {
        t.contains("refused: ") && !t.contains("Traceback")
    } else {
        t.contains("check `")
    };
    assert!(named, "{who} on {what}: no refusal named:\n{t}");
}

#[test]
fn an_append_killed_at_every_point_leaves_a_valid_log_and_resumes() {
    use relsign::tlog::entry::Entry;
    let f = fixture();
    // 254 entries first (by alice's key id, so the monitor trusts them): the next append (a
    // signature is two leaves: relsign's entry and the Sigstore record) fills tile 0 and bundle
    // 0 and starts level 1.
    let base = f.new_log("kill-base");
    let lk = relsign::keys::SecretKey::read(
        &f.privk("log"),
        &relsign::keys::Passphrase::new(PASS.into()),
    )
    .unwrap();
    let entries: Vec<Vec<u8>> = (0..254)
        .map(|i| {
            Entry {
                name: "filler".into(),
                version: format!("0.0.{i}"),
                provenance: relsign::digest::Sha256Hex::of(format!("{i}").as_bytes()),
                keyid: f.key_id("alice"),
                signed_on: 1_800_000_000,
            }
            .encode()
            .unwrap()
        })
        .collect();
    relsign::tlog::writer::append(&base, &lk, &entries).unwrap();
    let rel = f.release("kill-rel", "3.0.0", "alice", None);
    let add = |log: &Path, kill: Option<usize>| {
        let mut c = rs(&[
            "log",
            "add",
            s(&rel),
            "--signer",
            s(&f.pubk("alice")),
            "--log",
            s(log),
            "--log-key",
            s(&f.privk("log")),
        ]);
        if let Some(k) = kill {
            c.env("RELSIGN_TLOG_KILL_AFTER", k.to_string());
        }
        c.output().unwrap()
    };
    // A clean append, for comparison: 3 files (tile 0, bundle 0, level 1's first tile), then
    // the checkpoint.
    let clean = f.dir.join("logs/kill-clean");
    copy_dir(&base, &clean);
    assert!(add(&clean, None).status.success());
    let want = std::fs::read(clean.join("checkpoint")).unwrap();
    assert_eq!(checkpoint_size(&clean), "256");
    for k in 1..=4 {
        let log = f.dir.join("logs/kill");
        copy_dir(&base, &log);
        let _ = std::fs::remove_file(proof_of_opt(&rel));
        let o = add(&log, Some(k));
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            o.status.signal(),
            Some(9),
            "kill after {k}: {}",
            out_text(&o)
        );
        // Whatever was on disk when it died is a valid log: old checkpoint (or, after the 4th
        // write, the new one) with all its tiles.
        let size = checkpoint_size(&log);
        assert_eq!(size, if k < 4 { "254" } else { "256" }, "kill after {k}");
        let o = checker(&log, &[]);
        assert!(o.status.success(), "kill after {k}: {}", out_text(&o));
        run_ok(monitor(&log, None));
        // The re-run finishes the job, without a second entry.
        let o = add(&log, None);
        assert!(o.status.success(), "{}", out_text(&o));
        assert!(out_text(&o).contains("at index 254"), "{}", out_text(&o));
        assert_eq!(
            std::fs::read(log.join("checkpoint")).unwrap(),
            want,
            "kill after {k}"
        );
        let o = checker(&log, &[&rel]);
        assert!(o.status.success(), "kill after {k}: {}", out_text(&o));
    }
}

fn proof_of_opt(rel: &Path) -> PathBuf {
    let fp = relsign::keys::PublicKey::read(&fixture().pubk("alice"))
        .unwrap()
        .fingerprint();
    rel.join("attestations")
        .join(relsign::releaselog::proof_name(&fp))
}

#[test]
fn an_advisory_refuses_later_and_backdated_signatures_by_the_revoked_key() {
    let f = fixture();
    let log = f.new_log("revoke");
    let pol = f.dir.join("policy-revoke");
    copy_dir(&f.policy(), &pol);
    let v = |rel: &Path| {
        let mut c = rs(&["verify", s(rel), "--policy", s(&pol), "--no-state"]);
        c.args(["--log", s(&log)]);
        c
    };
    let at = Some("2026-01-01T00:00:00Z");
    let before = f.release_at("rv-before", "5.0.0", "alice", Some(&log), at);
    // The key was stolen: the advisory (from 2026-06-01), logged, in policy version 2.
    let revoke = |what: &[&str], id: &str| {
        let mut c = rs(&["revoke", s(&pol)]);
        c.args(what).args(["--reason", "key stolen", "--id", id]);
        c.args([
            "--url",
            "https://advisories.example/1",
            "--date",
            "2026-06-01T00:00:00Z",
        ]);
        c.args(["--log", s(&log), "--log-key", s(&f.privk("log"))]);
        let t = out_text(&run_ok(c));
        run_ok(rs(&[
            "policy",
            "sign",
            s(&pol),
            "--key",
            s(&f.privk("root")),
        ]));
        t
    };
    let t = revoke(&["--key", s(&f.pubk("alice"))], "RELSIGN-ADV-1");
    assert!(
        t.contains("for key:") && t.contains("logged at index 2"),
        "{t}"
    );
    // Signed and logged before the advisory: still accepted.
    run_ok(v(&before));
    // The thief signs later, the statement backdated before the advisory's date; the log
    // shows it came after the advisory.
    let backdated = f.release_at(
        "rv-backdated",
        "5.1.0",
        "alice",
        Some(&log),
        Some("2026-02-01T00:00:00Z"),
    );
    let t = refused(v(&backdated), "key revoked");
    assert!(t.contains("revoked by advisory RELSIGN-ADV-1 (2026-06-01T00:00:00Z): key stolen; details: https://advisories.example/1, logged at index 2"), "{t}");
    assert!(t.contains("logged at index 3, after it"), "{t}");
    // Signed (by its own account) after the date.
    let later = f.release("rv-later", "5.2.0", "alice", Some(&log));
    let t = refused(v(&later), "key revoked");
    assert!(
        t.contains("is revoked by advisory RELSIGN-ADV-1") && t.contains("(signed at 20"),
        "{t}"
    );
    // The monitor shows the advisory and flags both signatures (each with its Sigstore record).
    let t = refused(monitor_with(&log, &pol), "log monitor");
    assert!(t.contains("#2 advisory RELSIGN-ADV-1 for key:"), "{t}");
    assert!(t.contains("ok: in the policy"), "{t}");
    assert!(
        t.contains("#0 demo 5.0.0") && t.contains("ok: a trusted release key"),
        "{t}"
    );
    assert!(
        t.contains("#3 demo 5.1.0") && t.contains("#5 demo 5.2.0"),
        "{t}"
    );
    assert!(
        t.contains("#4 sigstore dsse record: key")
            && t.contains("is revoked by advisory RELSIGN-ADV-1")
            && t.contains("logged before"),
        "{t}"
    );
    assert!(t.contains("7 entries since size 0; 4 alert(s)"), "{t}");
    // A release withdrawn by an advisory is refused, naming it.
    revoke(&["--release", "demo@5.0.0"], "RELSIGN-ADV-2");
    let t = refused(v(&before), "release revoked");
    assert!(
        t.contains("demo 5.0.0 is withdrawn by advisory RELSIGN-ADV-2"),
        "{t}"
    );
    // The Python checker accepts the log with its advisory entries.
    let o = checker(&log, &[&before]);
    assert!(o.status.success(), "{}", out_text(&o));
}

fn monitor_with(log: &Path, policy: &Path) -> Command {
    rs(&[
        "log",
        "monitor",
        s(log),
        "--policy",
        s(policy),
        "--no-state",
    ])
}

/// Rewrite the JSON file at `path` with `f`.
fn edit_json(path: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

fn flip_b64(v: &mut serde_json::Value) {
    use base64::Engine as _;
    let e = base64::engine::general_purpose::STANDARD;
    let mut b = e.decode(v.as_str().unwrap()).unwrap();
    let at = b.len() / 2;
    b[at] ^= 0x01;
    *v = serde_json::Value::String(e.encode(b));
}

#[test]
fn sigstore_js_verifies_the_log_entry_in_the_provenance_bundle() {
    let f = fixture();
    let log = f.new_log("sigstore");
    let rel = f.release("sigstore", "0.5.0", "alice", Some(&log));
    // Two leaves per signature: relsign's entry, then the Rekor-style dsse record.
    assert_eq!(checkpoint_size(&log), "2");
    let root_json = f.dir.join("sigstore-trusted-root.json");
    let o = run_ok(rs(&["log", "trusted-root", "--policy", s(&f.policy())]));
    std::fs::write(&root_json, &o.stdout).unwrap();
    let keys = [f.pubk("alice")];
    let o = sigstore_js_with_root(&rel, &keys, Some(&root_json));
    let t = out_text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("bundle(s), 1 tlog entry"), "{t}");
    // relsign verify still accepts the release with the extended bundle.
    run_ok(verify(&rel, None, Some(&log)));
    let bundle = proof_of(&rel).with_file_name(
        proof_of(&rel)
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .replace(".tlog-proof", ".sigstore.json"),
    );
    let b: serde_json::Value = serde_json::from_slice(&std::fs::read(&bundle).unwrap()).unwrap();
    let e = &b["verificationMaterial"]["tlogEntries"][0];
    assert_eq!(e["kindVersion"]["kind"], "dsse");
    assert_eq!(e["inclusionProof"]["treeSize"], "2");
    assert_eq!(e["logIndex"], "1");
    // Each change is refused by sigstore-js, naming what failed.
    let envelope = |v: &mut serde_json::Value| -> String {
        v["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"]["envelope"]
            .as_str()
            .unwrap()
            .to_string()
    };
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "an inclusion hash",
            Box::new(|v| {
                flip_b64(
                    &mut v["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["hashes"][0],
                )
            }),
            "calculated root hash does not match",
        ),
        (
            "the checkpoint's root",
            Box::new(move |v| {
                let env = envelope(v);
                let mut lines: Vec<String> = env.split('\n').map(String::from).collect();
                let mut root = serde_json::Value::String(lines[2].clone());
                flip_b64(&mut root);
                lines[2] = root.as_str().unwrap().to_string();
                v["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"]
                    ["envelope"] = lines.join("\n").into();
            }),
            "invalid checkpoint signature",
        ),
        (
            "the checkpoint's signature",
            Box::new(move |v| {
                let env = envelope(v);
                let (head, sig) = env.rsplit_once(' ').unwrap();
                let mut sv = serde_json::Value::String(sig.trim_end().to_string());
                flip_b64(&mut sv);
                v["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"]
                    ["envelope"] = format!("{head} {}\n", sv.as_str().unwrap()).into();
            }),
            "invalid checkpoint signature",
        ),
        (
            "the log entry's body",
            Box::new(|v| {
                flip_b64(&mut v["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"])
            }),
            "TLOG_",
        ),
        (
            "the log index",
            Box::new(|v| {
                v["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["logIndex"] =
                    "0".into()
            }),
            "calculated root hash does not match",
        ),
        (
            "no log entry",
            Box::new(|v| v["verificationMaterial"]["tlogEntries"] = serde_json::json!([])),
            "expected 1 tlog entries, got 0",
        ),
    ];
    for (what, edit, why) in cases {
        let bad = f.dir.join("work/sigstore-bad");
        copy_dir(&rel, &bad);
        edit_json(
            &bad.join("attestations").join(bundle.file_name().unwrap()),
            edit,
        );
        let o = sigstore_js_with_root(&bad, &keys, Some(&root_json));
        let t = out_text(&o);
        assert!(!o.status.success(), "{what}: {t}");
        assert!(
            t.contains("refused: provenance.") && t.contains(why),
            "{what}: {t}"
        );
    }
    // A trusted root naming another log key: the checkpoint is not trusted.
    let other = f.dir.join("sigstore-other-root.json");
    std::fs::copy(&root_json, &other).unwrap();
    edit_json(&other, |v| {
        v["tlogs"][0]["publicKey"]["rawBytes"] = {
            let pem = std::fs::read_to_string(f.pubk("mallory")).unwrap();
            let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
            b64.into()
        }
    });
    let o = sigstore_js_with_root(&rel, &keys, Some(&other));
    let t = out_text(&o);
    assert!(
        !o.status.success() && t.contains("invalid checkpoint signature"),
        "{t}"
    );
    // The monitor lists the record with alice's key id.
    let t = out_text(&run_ok(monitor(&log, None)));
    shows_record(&t, 1, &f.key_id("alice"));
}

/// The monitor's output `t` lists the Sigstore record at `index` with `keyid`.
fn shows_record(t: &str, index: u64, keyid: &str) {
    assert!(
        t.contains(&format!("#{index} sigstore dsse record: key {keyid}")),
        "{t}"
    );
}
