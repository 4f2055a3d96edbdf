//! `cargo xtask incident`: a rehearsal of the policy's key-compromise path on the demo (issue
//! 14), in target/incident/ (a copy of `cargo xtask demo`'s release, keys and log):
//!
//! 1. the release key is presumed stolen: a new release key is added and an advisory revoking
//!    the old one is logged, both in policy version 2, which the root key signs;
//! 2. the current release is re-signed with the new key (and that signature logged);
//! 3. the thief's secret release, made with the old key after the advisory and backdated, is
//!    refused by verify (naming the advisory), the re-signed one accepted, and the monitor
//!    lists both and flags the thief's;
//! 4. the re-signed release and the policy carrying the advisory are published to a mirror
//!    and verified from it.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The advisory the rehearsal logs, revoking the old release key.
const ADVISORY_ID: &str = "RELSIGN-ADV-REHEARSAL-1";

pub fn incident(bin: &Path, root: &Path) -> Result<()> {
    let work = copy_demo(root)?;
    // The demo's TEST-ONLY passphrase, through the environment (never on a command line).
    std::env::set_var("RELSIGN_PASSPHRASE", super::demo_passphrase());
    std::env::set_var("RELSIGN_LOG_PASSPHRASE", super::demo_passphrase());
    let r = Rehearsal::new(bin, work);
    let signed_on = signing_time(bin, &r.release, &r.keys)?;
    r.rotate(&signed_on)?;
    r.resign()?;
    r.thief(&signed_on)?;
    r.publish(root)?;
    println!("incident rehearsal done in {}", r.work.display());
    Ok(())
}

/// A fresh target/incident/ with a copy of the demo's release, keys and log.
fn copy_demo(root: &Path) -> Result<PathBuf> {
    let demo = root.join("target/demo");
    if !demo.join("release/release.json").is_file() || !demo.join("log/checkpoint").is_file() {
        bail!("run `cargo xtask demo` first: the rehearsal starts from its release, keys and log");
    }
    let work = root.join("target/incident");
    if work.exists() {
        std::fs::remove_dir_all(&work).with_context(|| format!("removing {}", work.display()))?;
    }
    for d in ["release", "keys", "log"] {
        super::copy_log(&demo.join(d), &work.join(d))?;
    }
    Ok(work)
}

/// `s` under the rehearsal's directory, as a string.
fn under(work: &Path, s: &str) -> String {
    work.join(s).to_string_lossy().into_owned()
}

/// The demo's key `s` (without .pub or .key) under the rehearsal's directory.
fn demo_key(work: &Path, s: &str) -> String {
    under(work, &format!("keys/demo-{s}-TEST-ONLY"))
}

/// The rehearsal's relsign and its paths in target/incident/.
struct Rehearsal<'a> {
    bin: &'a Path,
    work: PathBuf,
    keys: String,
    log: String,
    release: String,
    secret: String,
    old_pub: String,
    old_key: String,
    new_pub: String,
    new_key: String,
    root_key: String,
    log_key: String,
}

impl<'a> Rehearsal<'a> {
    fn new(bin: &'a Path, work: PathBuf) -> Self {
        let p = |s: &str| under(&work, s);
        let k = |s: &str| demo_key(&work, s);
        Rehearsal {
            bin,
            keys: p("keys"),
            log: p("log"),
            release: p("release"),
            secret: p("secret"),
            old_pub: format!("{}.pub", k("release")),
            old_key: format!("{}.key", k("release")),
            new_pub: format!("{}.pub", k("release2")),
            new_key: format!("{}.key", k("release2")),
            root_key: format!("{}.key", k("root")),
            log_key: format!("{}.key", k("log")),
            work,
        }
    }

    /// The arguments that log a signature.
    fn logged(&self) -> [&str; 4] {
        ["--log", &self.log, "--log-key", &self.log_key]
    }

    fn relsign(&self, args: &[&str]) -> Result<()> {
        super::run(Command::new(self.bin).args(args))
    }

    /// Step 1: a new release key, and an advisory revoking the old one, in policy version 2.
    fn rotate(&self, signed_on: &str) -> Result<()> {
        println!(
            "== 1. rotate: a new release key, an advisory revoking the old one (policy version 2)"
        );
        let keys = &self.keys;
        self.relsign(&[
            "key",
            "generate",
            "--out",
            &demo_key(&self.work, "release2"),
        ])?;
        // Valid from the release's signing time: a co-signer signs the existing statement, and
        // every signature of it is judged at the time it records.
        self.relsign(&[
            "policy",
            "add-key",
            keys,
            &self.new_pub,
            "--not-before",
            signed_on,
        ])?;
        let id = ADVISORY_ID;
        let url = format!("https://example.org/relsign/advisories/{id}");
        let reason = "rehearsal: the release key is presumed stolen";
        let revoke = [
            "revoke",
            keys,
            "--key",
            &self.old_pub,
            "--id",
            id,
            "--reason",
            reason,
            "--url",
            &url,
        ];
        self.relsign(&[&revoke[..], &self.logged()[..]].concat())?;
        self.relsign(&["policy", "sign", keys, "--key", &self.root_key])
    }

    /// Step 2: re-sign the release with the new key; it verifies with that signature counted.
    fn resign(&self) -> Result<()> {
        println!("== 2. re-sign the current release with the new key");
        self.relsign(
            &[
                &[
                    "sign",
                    self.release.as_str(),
                    "--key",
                    self.new_key.as_str(),
                ][..],
                &self.logged()[..],
            ]
            .concat(),
        )?;
        let o = Command::new(self.bin)
            .args([
                "--json",
                "verify",
                &self.release,
                "--policy",
                &self.keys,
                "--no-state",
                "--log",
                &self.log,
            ])
            .output()?;
        let code = o.status.code();
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
        let new_id = Command::new(self.bin)
            .args(["key", "show", &self.new_pub])
            .output()?
            .stdout;
        let new_id = String::from_utf8(new_id)?;
        let counted = v["provenance_signers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if code != Some(0) || !counted.iter().any(|k| k.as_str() == Some(new_id.trim())) {
            bail!("the re-signed release does not verify with the new key's signature counted (exit {code:?})");
        }
        println!("   verified, the new key's signature counted");
        Ok(())
    }

    /// Step 3: the thief's release, signed with the old key after the advisory and backdated:
    /// verify refuses it naming the advisory, and the monitor flags it.
    fn thief(&self, signed_on: &str) -> Result<()> {
        let (bin, keys, log, secret) = (self.bin, &self.keys, &self.log, &self.secret);
        println!("== 3. the thief's release: the old key, after the advisory, backdated, logged");
        super::copy_log(&self.work.join("release"), &self.work.join("secret"))?;
        std::fs::remove_dir_all(self.work.join("secret/attestations"))?;
        let backdated = one_second_later(signed_on)?;
        let thief = [
            "sign",
            secret,
            "--key",
            &self.old_key,
            "--signing-time",
            &backdated,
        ];
        self.relsign(&[&thief[..], &self.logged()[..]].concat())?;
        let (code, text) = output(Command::new(bin).args([
            "verify",
            secret,
            "--policy",
            keys,
            "--no-state",
            "--log",
            log,
        ]))?;
        if code != Some(1) || !text.contains(ADVISORY_ID) {
            bail!("verify did not refuse the thief's release naming the advisory (exit {code:?})");
        }
        println!("   refused, as it must be: exit 1, naming the advisory");
        let (code, _) = output(Command::new(bin).args([
            "log",
            "monitor",
            log,
            "--policy",
            keys,
            "--no-state",
        ]))?;
        if code != Some(1) {
            bail!("the monitor did not flag the thief's signature (exit {code:?})");
        }
        println!("   the monitor flags it: exit 1");
        Ok(())
    }

    /// Step 4: publish the re-signed release and the policy with the advisory to a mirror;
    /// verify from it.
    fn publish(&self, root: &Path) -> Result<()> {
        let (release, keys) = (&self.release, &self.keys);
        println!("== 4. publish the re-signed release and the policy with the advisory; verify from the mirror");
        let mirror = under(&self.work, "mirror");
        let recipe = root
            .join("recipes/demo.toml")
            .to_string_lossy()
            .into_owned();
        let to = format!("mirror={mirror}");
        self.relsign(&[
            "publish", release, "--recipe", &recipe, "--to", "mirror", "--url", &to, "--policy",
            keys,
        ])?;
        super::copy_log(&self.work.join("log"), &self.work.join("mirror/log"))?;
        let from = format!("{mirror}/releases/relsign-demo/0.1.0");
        let (mkeys, mlog) = (format!("{mirror}/keys"), format!("{mirror}/log"));
        self.relsign(&[
            "verify",
            &from,
            "--policy",
            &mkeys,
            "--no-state",
            "--log",
            &mlog,
        ])
    }
}

/// Run, echo its output; its exit code and output.
fn output(c: &mut Command) -> Result<(Option<i32>, String)> {
    eprintln!("$ {c:?}");
    let o = c.output().with_context(|| format!("starting {c:?}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    print!("{text}");
    Ok((o.status.code(), text))
}

/// The release's signing time, as `relsign verify --json` reports it.
fn signing_time(bin: &Path, release: &str, keys: &str) -> Result<String> {
    let o = Command::new(bin)
        .args(["--json", "verify", release, "--policy", keys, "--no-state"])
        .output()?;
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .with_context(|| format!("relsign verify --json {release}"))?;
    Ok(v["signed_on"].as_str().context("signed_on")?.to_string())
}

/// `YYYY-MM-DDTHH:MM:SSZ` one second later, within the same minute (else as it is): what a
/// thief claims, inside the old key's window and before the advisory's date.
fn one_second_later(t: &str) -> Result<String> {
    let (head, sec) = t.trim_end_matches('Z').rsplit_once(':').context("a time")?;
    let sec: u32 = sec.parse()?;
    Ok(if sec < 59 {
        format!("{head}:{:02}Z", sec + 1)
    } else {
        t.to_string()
    })
}
