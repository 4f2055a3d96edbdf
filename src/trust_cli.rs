//! CLI for keys, signing, the trust policy and verification (issue 4).

use crate::print_json;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use relsign::keys::{self, Passphrase, PublicKey, SecretKey};
use relsign::policy::{self, InitOptions, PolicyError, ReleaseRef, RootKey, Thresholds};
use relsign::report::Reporter;
use relsign::time;
use relsign::verify::{self, VerifyError, VerifyOptions};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// Ed25519 signing keys: generate a key pair, show a key id.
    ///
    /// Examples:
    ///   relsign key generate --out ~/.config/relsign/alice
    ///   relsign key show ~/.config/relsign/alice.pub
    #[command(verbatim_doc_comment)]
    Key {
        #[command(subcommand)]
        cmd: KeyCommand,
    },
    /// Sign a release directory: the SLSA provenance (DSSE) and Sigstore bundles.
    ///
    /// The first signature creates attestations/provenance.dsse.json; a later `sign` with
    /// another key adds its signature to the same envelope (co-signing, t-of-n). Every
    /// signature also gets Sigstore bundles: one for the provenance, one per artifact file.
    ///
    /// The passphrase comes from --passphrase-fd, --passphrase-file, $RELSIGN_PASSPHRASE or
    /// a prompt on the terminal, in that order.
    ///
    /// Examples:
    ///   relsign sign target/demo/release --key ~/.config/relsign/alice.key
    ///   relsign sign target/demo/release --key bob.key --passphrase-fd 3 3<bob.pass
    ///   relsign sign target/demo/release --key alice.key --log log/ --log-key log.key
    #[command(verbatim_doc_comment)]
    Sign {
        /// The release directory (built, gated, with SBOMs).
        release: PathBuf,
        /// The encrypted private key (PEM "ENCRYPTED PRIVATE KEY", mode 0600).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        #[command(flatten)]
        pass: PassArgs,
        /// The signing time recorded in a new statement [default: now]. Self-asserted:
        /// release-key validity windows are judged at this time.
        #[arg(long, value_name = "RFC3339")]
        signing_time: Option<String>,
        #[command(flatten)]
        log: crate::tlog_cli::LogAppendArgs,
    },
    /// Keyless signing (Fulcio certificate + Rekor entry) of a signed release's files and
    /// provenance payload; needs an OIDC token in $SIGSTORE_ID_TOKEN. Built with
    /// `--features keyless` only.
    #[cfg(feature = "keyless")]
    SignKeyless { release: PathBuf },
    /// Publish an advisory: a release key compromised, or a release withdrawn, from a date on,
    /// with the reason and a URL for details. It is logged in the transparency log (with
    /// --log) and added to the policy as a new version, which root keys then sign.
    ///
    /// Verify then refuses the release, or a signature by the key made (by its signing time)
    /// on or after the date or logged after the advisory, naming the advisory; the monitor
    /// flags such signatures. `relsign policy revoke` instead revokes a key for all time.
    ///
    /// Examples:
    ///   relsign revoke keys --key alice.pub --reason "key stolen" \
    ///       --url https://example.org/advisories/1 --log log --log-key log.key
    ///   relsign policy sign keys --key root.key
    ///   relsign revoke keys --release relsign-demo@0.1.0 --reason "built from a bad tag" --url …
    #[command(verbatim_doc_comment)]
    Revoke {
        /// The policy directory (keys/: policy/1.json, 2.json, …).
        dir: PathBuf,
        /// The compromised release key: its key id or public key file.
        #[arg(
            long,
            value_name = "KEYID|PUB",
            conflicts_with = "release",
            required_unless_present = "release"
        )]
        key: Option<String>,
        /// The withdrawn release, as NAME@VERSION.
        #[arg(long, value_name = "NAME@VERSION")]
        release: Option<String>,
        /// Why.
        #[arg(long)]
        reason: String,
        /// Where to read more.
        #[arg(long)]
        url: String,
        /// From when (RFC 3339) [default: now].
        #[arg(long, value_name = "RFC3339")]
        date: Option<String>,
        /// The advisory's id [default: RELSIGN-ADV-<date>-<n>].
        #[arg(long)]
        id: Option<String>,
        #[command(flatten)]
        log: crate::tlog_cli::LogAppendArgs,
    },
    /// The trust policy in keys/: root keys, release keys, thresholds, revocations.
    ///
    /// Examples:
    ///   relsign policy init keys --root-key alice-root.pub --release-key alice.pub
    ///   relsign policy sign keys --key alice-root.key
    ///   relsign policy revoke keys --key bob.pub && relsign policy sign keys --key alice-root.key
    #[command(verbatim_doc_comment)]
    Policy {
        #[command(subcommand)]
        cmd: PolicyCommand,
    },
    /// Verify an artifact, a release directory or an OCI layout against the trust policy.
    ///
    /// Checks: each file's sha256 equals its provenance subject; the provenance is signed by
    /// enough release keys (threshold), valid at the statement's signing time and not revoked;
    /// the policy chain is valid and not expired; the claims match --expect-*; the release is
    /// not older than one accepted before (--state). An image layout's index.json names only
    /// the signed manifest, and its config and layers are present with their sizes and
    /// digests. The SBOM attestations and, when the signed provenance says the release has a
    /// gate, a passing test result are signed. Every file of a release directory is covered
    /// by a signature, else it is refused (--no-strict lists such files as notes).
    ///
    /// Exit codes: 0 verified; 1 refused (the message names the failed check); 2 error.
    ///
    /// Examples:
    ///   relsign verify target/demo/release --policy target/demo/keys
    ///   relsign verify dist/relsign_demo-0.1.0-py3-none-any.whl --expect-version 0.1.0
    ///   relsign verify docker://127.0.0.1:5000/relsign/demo:0.1.0 --policy keys
    #[command(verbatim_doc_comment)]
    Verify {
        /// An artifact file (release.json and attestations/ beside it), a release directory,
        /// an OCI layout inside a release directory, or a registry reference
        /// (docker://host/repo:tag; credentials from $RELSIGN_REGISTRY_CREDENTIALS).
        target: PathBuf,
        /// The trust policy directory (with policy/1.json …).
        #[arg(long, value_name = "DIR", default_value = "keys")]
        policy: PathBuf,
        /// A source the provenance must name: its location, digest, or location@digest.
        #[arg(long, value_name = "SOURCE")]
        expect_source: Vec<String>,
        /// The version the release must have.
        #[arg(long, value_name = "VERSION")]
        expect_version: Option<String>,
        /// Accept a release older than the last one accepted.
        #[arg(long)]
        allow_downgrade: bool,
        /// The last-seen state file [default: $RELSIGN_STATE, else
        /// $XDG_STATE_HOME/relsign/last-seen.json, else ~/.local/state/relsign/last-seen.json].
        #[arg(long, value_name = "FILE")]
        state: Option<PathBuf>,
        /// Do not read or update the last-seen state (no rollback protection).
        #[arg(long, conflicts_with = "state")]
        no_state: bool,
        /// List files of the release directory that no signature covers as notes instead of
        /// refusing them (the default for a release directory is to refuse: exit 1).
        #[arg(long)]
        no_strict: bool,
        /// The transparency log (a directory or URL): the checkpoints of the release's proofs
        /// and the last one seen must be consistent with its current checkpoint (a fork or a
        /// rollback is exit 1).
        #[arg(long, value_name = "DIR|URL")]
        log: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Generate an Ed25519 key pair: PREFIX.key (encrypted, mode 0600) and PREFIX.pub.
    ///
    /// The private key is PKCS#8 encrypted with PBES2 (scrypt, AES-256-CBC) under the
    /// passphrase. The public key is PEM "PUBLIC KEY" (SPKI), which cosign can load.
    ///
    /// Examples:
    ///   relsign key generate --out ~/.config/relsign/alice
    #[command(verbatim_doc_comment)]
    Generate {
        /// Path prefix: writes PREFIX.key and PREFIX.pub.
        #[arg(long, value_name = "PREFIX")]
        out: PathBuf,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        pass: PassArgs,
    },
    /// Print a public key's id: base64(SHA-256(DER SPKI)).
    ///
    /// Examples:
    ///   relsign key show alice.pub
    #[command(verbatim_doc_comment)]
    Show {
        /// A public key file (PEM "PUBLIC KEY").
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Create version 1 of a policy (unsigned: then `relsign policy sign` with root keys).
    ///
    /// Examples:
    ///   relsign policy init keys --root-key alice-root.pub --root-key bob-root.pub \
    ///       --root-threshold 2 --release-key alice.pub --release-key bob.pub \
    ///       --provenance-threshold 2 --artifact-threshold 1
    #[command(verbatim_doc_comment)]
    Init {
        /// The policy directory (keys/: policy/1.json, 2.json, …).
        dir: PathBuf,
        /// A root key's public key file (repeatable).
        #[arg(long, value_name = "PUB", required = true)]
        root_key: Vec<PathBuf>,
        #[arg(long, default_value_t = 1)]
        root_threshold: u32,
        /// A release key's public key file (repeatable).
        #[arg(long, value_name = "PUB")]
        release_key: Vec<PathBuf>,
        #[command(flatten)]
        window: Window,
        /// Release keys that must sign the provenance.
        #[arg(long, default_value_t = 1)]
        provenance_threshold: u32,
        /// Release keys that must sign each artifact file (0: not required).
        #[arg(long, default_value_t = 1)]
        artifact_threshold: u32,
        /// The policy is refused after this time (RFC 3339).
        #[arg(long, value_name = "RFC3339")]
        expires: Option<String>,
        /// Mark the policy as test-only (demo and test keys).
        #[arg(long)]
        test_only: bool,
    },
    /// Add a release key (or a root key) to the policy, as a new unsigned version.
    ///
    /// Examples:
    ///   relsign policy add-key keys carol.pub && relsign policy sign keys --key alice-root.key
    ///   relsign policy add-key keys carol-root.pub --root
    #[command(verbatim_doc_comment)]
    AddKey {
        /// The policy directory (keys/: policy/1.json, 2.json, …).
        dir: PathBuf,
        /// The public key file.
        key: PathBuf,
        /// Add it as a root key instead of a release key.
        #[arg(long)]
        root: bool,
        #[command(flatten)]
        window: Window,
    },
    /// Remove a release or root key (by key id or public key file).
    ///
    /// Examples:
    ///   relsign policy remove-key keys bob.pub
    #[command(verbatim_doc_comment)]
    RemoveKey {
        /// The policy directory (keys/: policy/1.json, 2.json, …).
        dir: PathBuf,
        /// The key: its key id, or its public key file.
        key: String,
    },
    /// Revoke a key (by key id or public key file) or a release (NAME@VERSION). A revoked key's
    /// signatures no longer count, whenever they were made: the response to a compromised key.
    ///
    /// Examples:
    ///   relsign policy revoke keys --key bob.pub && relsign policy sign keys --key alice-root.key
    ///   relsign policy revoke keys --release relsign-demo@0.1.0
    #[command(verbatim_doc_comment)]
    Revoke {
        /// The policy directory (keys/: policy/1.json, 2.json, …).
        dir: PathBuf,
        /// The key to revoke: its key id or public key file.
        #[arg(long, value_name = "KEYID|PUB")]
        key: Option<String>,
        /// The release to revoke, as NAME@VERSION.
        #[arg(long, value_name = "NAME@VERSION")]
        release: Option<String>,
    },
    /// Change thresholds or the expiry time.
    ///
    /// Examples:
    ///   relsign policy set keys --provenance-threshold 2 --expires 2027-12-31T00:00:00Z
    #[command(verbatim_doc_comment)]
    Set {
        /// The policy directory (keys/: policy/1.json, 2.json, …).
        dir: PathBuf,
        /// Root signatures a new policy version needs (of this version's and the previous one's roots).
        #[arg(long)]
        root_threshold: Option<u32>,
        /// Release-key signatures the provenance needs.
        #[arg(long)]
        provenance_threshold: Option<u32>,
        /// Release-key signatures each artifact file's bundles need (0: the provenance binds them).
        #[arg(long)]
        artifact_threshold: Option<u32>,
        /// When the policy expires (RFC 3339); verification refuses it afterwards.
        #[arg(long, value_name = "RFC3339")]
        expires: Option<String>,
    },
    /// Sign the newest policy version with a root key (of this version or the previous one).
    ///
    /// Examples:
    ///   relsign policy sign keys --key ~/.config/relsign/alice-root.key
    #[command(verbatim_doc_comment)]
    Sign {
        /// The policy directory (keys/: policy/1.json, 2.json, …).
        dir: PathBuf,
        /// A root key (encrypted PEM, mode 0600).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        #[command(flatten)]
        pass: PassArgs,
    },
    /// Name the transparency log of releases: its origin and Ed25519 public key; with
    /// --required, verify refuses a release whose signatures are not in the log.
    ///
    /// Examples:
    ///   relsign policy set-log keys --origin example.org/relsign-log --key log.pub --required
    #[command(verbatim_doc_comment)]
    SetLog {
        /// The policy directory (keys/: policy/1.json, 2.json, …).
        dir: PathBuf,
        /// The log's origin: the first line of its checkpoints and its note key name.
        #[arg(long)]
        origin: String,
        /// The log's public key file (PEM "PUBLIC KEY", Ed25519).
        #[arg(long, value_name = "PUB")]
        key: PathBuf,
        /// Every counted release signature must carry a proof of inclusion in the log.
        #[arg(long)]
        required: bool,
    },
    /// Show the newest policy version and its signing status.
    ///
    /// Examples:
    ///   relsign policy show keys
    ///   relsign --json policy show keys
    #[command(verbatim_doc_comment)]
    Show {
        /// The policy directory (keys/: policy/1.json, 2.json, …).
        dir: PathBuf,
    },
}

#[derive(Debug, Args, Clone)]
pub struct Window {
    /// Start of the release keys' validity window (RFC 3339) [default: now].
    #[arg(long, value_name = "RFC3339")]
    not_before: Option<String>,
    /// End of the release keys' validity window (RFC 3339) [default: two years from now].
    #[arg(long, value_name = "RFC3339")]
    not_after: Option<String>,
}

impl Window {
    fn resolve(&self) -> (String, String) {
        let now = time::now();
        (
            self.not_before.clone().unwrap_or_else(|| time::format(now)),
            self.not_after
                .clone()
                .unwrap_or_else(|| time::format(now + 2 * 366 * 86_400)),
        )
    }
}

#[derive(Debug, Args, Clone, Default)]
pub struct PassArgs {
    /// Read the passphrase from this file (its first line).
    #[arg(long, value_name = "FILE")]
    pub(crate) passphrase_file: Option<PathBuf>,
    /// Read the passphrase from this open file descriptor.
    #[arg(long, value_name = "N")]
    pub(crate) passphrase_fd: Option<u32>,
}

/// The passphrase, from (in order) a descriptor, a file, $RELSIGN_PASSPHRASE, or the terminal.
pub(crate) fn passphrase(a: &PassArgs, what: &Path, confirm: bool) -> Result<Passphrase> {
    passphrase_from(a, what, confirm, "RELSIGN_PASSPHRASE")
}

/// [`passphrase`] with another environment variable.
pub(crate) fn passphrase_from(
    a: &PassArgs,
    what: &Path,
    confirm: bool,
    env_var: &str,
) -> Result<Passphrase> {
    let from_file = |p: &Path| -> Result<Passphrase> {
        let bytes = std::fs::read(p)
            .with_context(|| format!("reading the passphrase from {}", p.display()))?;
        let mut first = bytes;
        if let Some(i) = first.iter().position(|&b| b == b'\n') {
            let tail = first.split_off(i);
            drop(zeroize::Zeroizing::new(tail));
        }
        Passphrase::from_bytes(first).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
    };
    if let Some(fd) = a.passphrase_fd {
        return from_file(&PathBuf::from(format!("/dev/fd/{fd}")));
    }
    if let Some(f) = &a.passphrase_file {
        return from_file(f);
    }
    if let Ok(v) = std::env::var(env_var) {
        return Ok(Passphrase::new(v));
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "no passphrase for {}: set {env_var}, or pass its --…passphrase-file or \
             --…passphrase-fd option (there is no terminal to prompt on)",
            what.display()
        );
    }
    let p = Passphrase::new(
        rpassword::prompt_password(format!("passphrase for {}: ", what.display()))
            .context("reading the passphrase from the terminal")?,
    );
    if confirm {
        let again = Passphrase::new(
            rpassword::prompt_password("again: ").context("reading the passphrase")?,
        );
        if !p.matches(&again) {
            bail!("the passphrases differ");
        }
    }
    Ok(p)
}

/// A key given as a key id or a public key file.
fn key_id_arg(s: &str) -> Result<String> {
    let p = Path::new(s);
    if p.is_file() {
        return Ok(PublicKey::read(p)?.key_id().to_string());
    }
    Ok(s.to_string())
}

fn policy_err(e: PolicyError) -> anyhow::Error {
    match e {
        PolicyError::Refused { check, reason } => crate::CheckFailed(
            format!("policy check `{check}` failed: {reason}"),
            serde_json::json!({"check": check}),
        )
        .into(),
        e => e.into(),
    }
}

pub fn run(cmd: TrustCommand, global: &crate::cli::Global, r: &dyn Reporter) -> Result<()> {
    let json = global.json;
    match cmd {
        TrustCommand::Key {
            cmd: KeyCommand::Generate { out, force, pass },
        } => {
            let pass = passphrase(&pass, &out, true)?;
            let g = keys::generate(&out, &pass, force)?;
            if json {
                print_json(
                    serde_json::json!({"ok": true, "private_key": g.private_key, "public_key": g.public_key, "key_id": g.key_id}),
                );
            } else {
                outln!("wrote {} (encrypted, mode 0600)", g.private_key.display());
                outln!("wrote {}", g.public_key.display());
                outln!("key id {}", g.key_id);
            }
            Ok(())
        }
        TrustCommand::Key {
            cmd: KeyCommand::Show { file },
        } => {
            let k = PublicKey::read(&file)?;
            if json {
                print_json(
                    serde_json::json!({"ok": true, "file": file, "key_id": k.key_id(), "fingerprint": k.fingerprint(), "public_key_pem": k.to_pem()}),
                );
            } else {
                outln!("{}", k.key_id());
            }
            Ok(())
        }
        TrustCommand::Sign {
            release,
            key,
            pass,
            signing_time,
            log,
        } => sign_cmd(release, key, pass, signing_time, log, json, r),
        TrustCommand::Policy { cmd } => run_policy(cmd, json),
        TrustCommand::Revoke {
            dir,
            key,
            release,
            reason,
            url,
            date,
            id,
            log,
        } => revoke(dir, key, release, (reason, url, date, id), log, json),
        #[cfg(feature = "keyless")]
        TrustCommand::SignKeyless { release } => {
            let token =
                zeroize::Zeroizing::new(std::env::var("SIGSTORE_ID_TOKEN").map_err(|_| {
                    anyhow::anyhow!(
                        "keyless signing needs an OIDC identity token in $SIGSTORE_ID_TOKEN"
                    )
                })?);
            let written = relsign::attest::keyless::sign_keyless(&release, &token, r)?;
            if json {
                print_json(&serde_json::json!({"ok": true, "bundles": written}));
            } else {
                for w in written {
                    outln!("wrote {}", w.display());
                }
            }
            Ok(())
        }
        TrustCommand::Verify {
            target,
            policy,
            expect_source,
            expect_version,
            allow_downgrade,
            state,
            no_state,
            no_strict,
            log,
        } => {
            let state_file = if no_state {
                None
            } else {
                state.or_else(verify::default_state_path)
            };
            // A registry reference: the image and its referrers, pulled into a temporary
            // release directory first.
            let _pulled;
            let target = if target.to_string_lossy().starts_with("docker://") {
                let tmp = tempfile::tempdir()?;
                let layout =
                    relsign::publish::pull::pull_release(&target.to_string_lossy(), tmp.path(), r)?;
                _pulled = tmp;
                layout
            } else {
                target
            };
            let o = VerifyOptions {
                policy_dir: policy,
                expect_source,
                expect_version,
                allow_downgrade,
                state_file,
                strict: !no_strict,
                now: time::now(),
                log,
            };
            match verify::verify(&target, &o, r) {
                Ok(rep) => {
                    if json {
                        print_json(&rep);
                    } else {
                        outln!(
                            "verified {} {} (signed {}; policy version {}{})",
                            rep.release,
                            rep.version,
                            rep.signed_on,
                            rep.policy_version,
                            if rep.policy_test_only {
                                ", TEST-ONLY"
                            } else {
                                ""
                            }
                        );
                        outln!(
                            "  provenance: {} signature(s), threshold {}",
                            rep.provenance_signers.len(),
                            rep.provenance_threshold
                        );
                        for a in &rep.artifacts {
                            let how = if a.kind == relsign::model::ArtifactKind::OciImage {
                                "index.json names only this manifest; its config and every layer present with the size and sha256 it names".to_string()
                            } else {
                                format!("{} bundle signer(s)", a.bundle_signers.len())
                            };
                            outln!("  ok  {}  sha256:{}  ({how})", a.file, a.sha256);
                        }
                        for c in &rep.checks {
                            outln!("  {:<12} {}: {}", c.status, c.check, c.detail);
                        }
                        for n in &rep.notes {
                            outln!("  note: {n}");
                        }
                    }
                    Ok(())
                }
                Err(VerifyError::Refused { check, reason }) => Err(crate::CheckFailed(
                    format!("verification refused: check `{check}` failed: {reason}"),
                    serde_json::json!({"check": check, "target": target}),
                )
                .into()),
                Err(e) => Err(e.into()),
            }
        }
    }
}

fn run_policy(cmd: PolicyCommand, json: bool) -> Result<()> {
    let report = |what: &str, path: &Path, version: u64| {
        if json {
            print_json(serde_json::json!({"ok": true, "file": path, "version": version}));
        } else {
            outln!(
                "{what}: {} (version {version}; sign it with `relsign policy sign`)",
                path.display()
            );
        }
    };
    match cmd {
        PolicyCommand::Init {
            dir,
            root_key,
            root_threshold,
            release_key,
            window,
            provenance_threshold,
            artifact_threshold,
            expires,
            test_only,
        } => {
            let (nb, na) = window.resolve();
            let roots = root_key
                .iter()
                .map(|p| PublicKey::read(p))
                .collect::<Result<Vec<_>, _>>()?;
            let release_keys = release_key
                .iter()
                .map(|p| PublicKey::read(p).map(|k| (k, nb.clone(), na.clone())))
                .collect::<Result<Vec<_>, _>>()?;
            let path = policy::init(
                &dir,
                InitOptions {
                    roots,
                    root_threshold,
                    release_keys,
                    thresholds: Thresholds {
                        provenance: provenance_threshold,
                        artifact: artifact_threshold,
                    },
                    expires,
                    test_only,
                },
            )
            .map_err(policy_err)?;
            report("wrote", &path, 1);
            Ok(())
        }
        PolicyCommand::AddKey {
            dir,
            key,
            root,
            window,
        } => {
            let k = PublicKey::read(&key)?;
            let (nb, na) = window.resolve();
            let (path, v) = policy::edit(&dir, |p| {
                let id = k.key_id().to_string();
                if root {
                    if p.root_keys.iter().any(|r| r.keyid == id) {
                        return Err(PolicyError::Usage(format!("{id} is already a root key")));
                    }
                    p.root_keys.push(RootKey {
                        keyid: id,
                        public_key_pem: k.to_pem(),
                    });
                } else {
                    if p.release_keys.iter().any(|r| r.keyid == id) {
                        return Err(PolicyError::Usage(format!("{id} is already a release key")));
                    }
                    p.release_keys
                        .push(policy::release_key_entry(&k, &nb, &na)?);
                }
                Ok(())
            })
            .map_err(policy_err)?;
            report("added the key", &path, v);
            Ok(())
        }
        PolicyCommand::RemoveKey { dir, key } => {
            let id = key_id_arg(&key)?;
            let (path, v) = policy::edit(&dir, |p| {
                let before = p.root_keys.len() + p.release_keys.len();
                p.root_keys.retain(|k| k.keyid != id);
                p.release_keys.retain(|k| k.keyid != id);
                if p.root_keys.len() + p.release_keys.len() == before {
                    return Err(PolicyError::Usage(format!(
                        "{id} is not a key of the policy"
                    )));
                }
                Ok(())
            })
            .map_err(policy_err)?;
            report("removed the key", &path, v);
            Ok(())
        }
        PolicyCommand::Revoke { dir, key, release } => {
            if key.is_none() && release.is_none() {
                bail!("give --key KEYID|PUB or --release NAME@VERSION");
            }
            let id = key.as_deref().map(key_id_arg).transpose()?;
            let rel = release.as_deref().map(release_ref).transpose()?;
            let (path, v) = policy::edit(&dir, |p| {
                if let Some(id) = id {
                    if !p.revoked_keys.contains(&id) {
                        p.revoked_keys.push(id);
                    }
                }
                if let Some(r) = rel {
                    if !p.revoked_releases.contains(&r) {
                        p.revoked_releases.push(r);
                        p.revoked_releases.sort();
                    }
                }
                Ok(())
            })
            .map_err(policy_err)?;
            report("revoked", &path, v);
            Ok(())
        }
        PolicyCommand::Set {
            dir,
            root_threshold,
            provenance_threshold,
            artifact_threshold,
            expires,
        } => {
            let expires = expires
                .map(|e| time::parse(&e).map(time::format))
                .transpose()
                .map_err(|e| anyhow::anyhow!("--expires: {e}"))?;
            let (path, v) = policy::edit(&dir, |p| {
                if let Some(t) = root_threshold {
                    p.root_threshold = t;
                }
                if let Some(t) = provenance_threshold {
                    p.thresholds.provenance = t;
                }
                if let Some(t) = artifact_threshold {
                    p.thresholds.artifact = t;
                }
                if let Some(e) = expires {
                    p.expires = Some(e);
                }
                Ok(())
            })
            .map_err(policy_err)?;
            report("updated", &path, v);
            Ok(())
        }
        PolicyCommand::SetLog {
            dir,
            origin,
            key,
            required,
        } => {
            let k = PublicKey::read(&key)?;
            let (path, v) = policy::edit(&dir, |p| {
                p.transparency_log = Some(policy::LogPolicy {
                    origin,
                    public_key_pem: k.to_pem(),
                    required,
                });
                Ok(())
            })
            .map_err(policy_err)?;
            report("named the transparency log", &path, v);
            Ok(())
        }
        PolicyCommand::Sign { dir, key, pass } => {
            keys::check_private_mode(&key)?;
            let pass = passphrase(&pass, &key, false)?;
            let sk = SecretKey::read(&key, &pass)?;
            drop(pass);
            let st = policy::sign(&dir, &sk).map_err(policy_err)?;
            if json {
                print_json(serde_json::json!({"ok": true, "status": st}));
            } else {
                print_status(&st);
            }
            Ok(())
        }
        PolicyCommand::Show { dir } => {
            let (doc, st) = policy::show(&dir).map_err(policy_err)?;
            if json {
                print_json(serde_json::json!({"ok": true, "policy": doc, "status": st}));
            } else {
                outln!("{}", serde_json::to_string_pretty(&doc)?);
                print_status(&st);
            }
            Ok(())
        }
    }
}

fn print_status(st: &policy::SignStatus) {
    print!(
        "{} (version {}): {}/{} signatures by its root keys",
        st.file.display(),
        st.version,
        st.own_signatures,
        st.own_threshold
    );
    if let Some((c, t)) = st.previous_signatures {
        print!(", {c}/{t} by version {}'s", st.version - 1);
    }
    outln!(
        "; {}",
        if st.complete {
            "complete"
        } else {
            "needs more signatures"
        }
    );
}

fn release_ref(s: &str) -> Result<ReleaseRef> {
    let (n, v) = s
        .rsplit_once('@')
        .ok_or_else(|| anyhow::anyhow!("--release {s:?}: expected NAME@VERSION"))?;
    Ok(ReleaseRef {
        name: n.into(),
        version: v.into(),
    })
}

/// `relsign revoke`: the advisory, logged (with --log), added to the policy.
fn revoke(
    dir: PathBuf,
    key: Option<String>,
    release: Option<String>,
    (reason, url, date, id): (String, String, Option<String>, Option<String>),
    log: crate::tlog_cli::LogAppendArgs,
    json: bool,
) -> Result<()> {
    let date = time::format(match date {
        Some(d) => time::parse(&d).map_err(|e| anyhow::anyhow!("--date: {e}"))?,
        None => time::now(),
    });
    let (current, _) = policy::show(&dir).map_err(policy_err)?;
    let id = id.unwrap_or_else(|| {
        format!(
            "RELSIGN-ADV-{}-{}",
            &date[..10].replace('-', ""),
            current.advisories.len() + 1
        )
    });
    let mut a = policy::Advisory {
        id,
        keyid: key.as_deref().map(key_id_arg).transpose()?,
        release: release.as_deref().map(release_ref).transpose()?,
        reason,
        url,
        date,
        log_index: None,
    };
    let log_key = log.secret_key()?;
    if let (Some(ldir), Some(lk)) = (&log.log, &log_key) {
        let i = relsign::releaselog::log_advisory(ldir, lk, &a)
            .map_err(crate::tlog_cli::tlog_err)
            .with_context(|| format!("logging the advisory in {}", ldir.display()))?;
        a.log_index = Some(i);
    }
    let shown = a.clone();
    let (path, v) = policy::edit(&dir, |p| {
        if p.advisories.iter().any(|x| x.id == a.id) {
            return Err(PolicyError::Usage(format!(
                "advisory {} is already in the policy",
                a.id
            )));
        }
        p.advisories.push(a);
        Ok(())
    })
    .map_err(policy_err)?;
    if json {
        print_json(serde_json::json!({"ok": true, "advisory": shown, "file": path, "version": v}));
    } else {
        outln!(
            "{} for {}{}",
            shown.describe(),
            shown.subject(),
            shown
                .log_index
                .map(|i| format!("; logged at index {i}"))
                .unwrap_or_default()
        );
        outln!(
            "added to {} (version {v}; sign it with `relsign policy sign`)",
            path.display()
        );
    }
    Ok(())
}

/// `relsign sign`: the release signed with the key, and the signature logged with --log.
fn sign_cmd(
    release: PathBuf,
    key: PathBuf,
    pass: PassArgs,
    signing_time: Option<String>,
    log: crate::tlog_cli::LogAppendArgs,
    json: bool,
    r: &dyn Reporter,
) -> Result<()> {
    let signed_on = match signing_time {
        Some(t) => time::parse(&t).map_err(|e| anyhow::anyhow!("--signing-time: {e}"))?,
        None => time::now(),
    };
    // A release that is not there is said before the passphrase is asked for.
    if !release.join("release.json").is_file() {
        anyhow::bail!(
            "{}: not a release directory (no release.json); build it first (`relsign release` or `relsign build`)",
            release.display()
        );
    }
    keys::check_private_mode(&key)?;
    let pass = passphrase(&pass, &key, false)?;
    let sk = SecretKey::read(&key, &pass)?;
    drop(pass);
    // The log key is read before anything is signed: a wrong passphrase stops here.
    let log_key = log.secret_key()?;
    let (o, statements) = relsign::release::sign_all(&release, &sk, signed_on, r)
        .with_context(|| format!("signing {}", release.display()))?;
    let logged = match (&log.log, &log_key) {
        (Some(dir), Some(lk)) => {
            relsign::releaselog::log_release(&release, dir, lk, &[sk.public().clone()])
                .map_err(crate::tlog_cli::tlog_err)
                .with_context(|| format!("logging the signature in {}", dir.display()))?
        }
        _ => vec![],
    };
    if json {
        print_json(serde_json::json!({"ok": true, "sign": o, "logged": logged}));
    } else {
        outln!(
            "signed {} {} with key {} ({} signer(s) now{})",
            o.release,
            o.version,
            o.key_id,
            o.signatures,
            if o.created_statement {
                ", new provenance statement"
            } else {
                ""
            }
        );
        outln!("  {}", o.envelope.display());
        for b in &o.bundles {
            outln!("  {}", b.display());
        }
        for p in &statements {
            outln!("  {}", p.display());
        }
        crate::tlog_cli::print_logged(&logged);
    }
    Ok(())
}
