//! CLI for the transparency log of releases (issue 14): `relsign log init|add|monitor`, and
//! the `--log`/`--log-key` options of `relsign sign`.

use crate::print_json;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use relsign::keys::{self, PublicKey, SecretKey};
use relsign::tlog::{self, tiles::Source, TlogError};
use relsign::verify::{self, LastSeen, LogSeen};
use std::path::PathBuf;

#[derive(Debug, Args, Clone, Default)]
pub struct LogAppendArgs {
    /// The transparency log directory to append the signature to (with --log-key); the proof
    /// of inclusion is written to attestations/provenance.<fp>.tlog-proof.
    #[arg(long, value_name = "DIR", requires = "log_key")]
    pub log: Option<PathBuf>,
    /// The log's private key (encrypted PEM, mode 0600). Its passphrase comes from
    /// --log-passphrase-file, --log-passphrase-fd, $RELSIGN_LOG_PASSPHRASE or a prompt.
    #[arg(long, value_name = "FILE", requires = "log")]
    pub log_key: Option<PathBuf>,
    /// Read the log key's passphrase from this file (its first line).
    #[arg(long, value_name = "FILE")]
    pub log_passphrase_file: Option<PathBuf>,
    /// Read the log key's passphrase from this open file descriptor.
    #[arg(long, value_name = "N")]
    pub log_passphrase_fd: Option<u32>,
}

impl LogAppendArgs {
    /// The log's private key, when --log-key is given.
    pub fn secret_key(&self) -> Result<Option<SecretKey>> {
        let Some(path) = &self.log_key else {
            return Ok(None);
        };
        keys::check_private_mode(path)?;
        let pass = crate::trust_cli::PassArgs {
            passphrase_file: self.log_passphrase_file.clone(),
            passphrase_fd: self.log_passphrase_fd,
        };
        let p = crate::trust_cli::passphrase_from(&pass, path, false, "RELSIGN_LOG_PASSPHRASE")?;
        Ok(Some(SecretKey::read(path, &p)?))
    }
}

/// The transparency log of releases: create one, append a release's signatures, monitor it.
///
/// The log is a directory of static files in the C2SP tlog-tiles layout (checkpoint, tile/…,
/// tile/entries/…), served as they are by any static file server.
///
/// Examples:
///   relsign log init log/ --origin example.org/relsign-log --key log.key
///   relsign log add target/demo/release --log log/ --log-key log.key --signer alice.pub
///   relsign log monitor log/ --policy keys
///   relsign log monitor https://mirror.example/log --policy keys
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct LogArgs {
    #[command(subcommand)]
    cmd: LogCommand,
}

#[derive(Debug, Subcommand)]
enum LogCommand {
    /// Create an empty log: a checkpoint of size 0 signed by the log key.
    Init {
        dir: PathBuf,
        /// The log's origin (checkpoint line 1 and note key name), e.g. example.org/relsign-log.
        #[arg(long)]
        origin: String,
        #[command(flatten)]
        key: LogAppendArgsKeyOnly,
    },
    /// Append the provenance signatures of a signed release by the given keys, and write
    /// their proofs into the release (an entry already logged is not appended again).
    Add {
        release: PathBuf,
        /// A signer's public key (repeatable).
        #[arg(long, value_name = "PUB", required = true)]
        signer: Vec<PathBuf>,
        #[command(flatten)]
        log: LogAppendArgs,
    },
    /// Walk the log from the last monitored checkpoint: list every release signature logged
    /// since, with its key id; exit 1 if one was made by a key the policy does not (or no
    /// longer) trust, or if the log forked or was rolled back.
    Monitor {
        /// The log: a directory or a URL prefix.
        log: String,
        /// The trust policy directory (it names the log and the release keys).
        #[arg(long, value_name = "DIR", default_value = "keys")]
        policy: PathBuf,
        /// The last-seen state file [default: as `relsign verify`].
        #[arg(long, value_name = "FILE")]
        state: Option<PathBuf>,
        /// Walk from the start and record nothing.
        #[arg(long, conflicts_with = "state")]
        no_state: bool,
    },
    /// Print a Sigstore trusted root (JSON) naming the policy's log key, for Sigstore clients
    /// (sigstore-js) to verify the log entries in relsign's provenance bundles.
    TrustedRoot {
        /// The trust policy directory (it names the log).
        #[arg(long, value_name = "DIR", default_value = "keys")]
        policy: PathBuf,
    },
}

#[derive(Debug, Args, Clone)]
struct LogAppendArgsKeyOnly {
    /// The log's private key (encrypted PEM, mode 0600).
    #[arg(long = "key", value_name = "FILE")]
    key: PathBuf,
    #[arg(long = "passphrase-file", value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
}

pub fn tlog_err(e: TlogError) -> anyhow::Error {
    match e {
        TlogError::Refused { check, reason } => crate::CheckFailed(
            format!("security check `{check}` failed: {reason}"),
            serde_json::json!({"check": check}),
        )
        .into(),
        e => e.into(),
    }
}

pub fn print_logged(logged: &[relsign::releaselog::Logged]) {
    for l in logged {
        outln!(
            "  logged: key {} at index {}{} (checkpoint size {}), proof {}",
            l.keyid,
            l.index,
            if l.appended { "" } else { " (already there)" },
            l.checkpoint_size,
            l.proof.display()
        );
    }
}

pub fn run(a: LogArgs, json: bool) -> Result<()> {
    match a.cmd {
        LogCommand::Init { dir, origin, key } => {
            let args = LogAppendArgs {
                log: Some(dir.clone()),
                log_key: Some(key.key),
                log_passphrase_file: key.passphrase_file,
                log_passphrase_fd: None,
            };
            let sk = args.secret_key()?.expect("given");
            let v = tlog::writer::init(&dir, &origin, &sk).map_err(tlog_err)?;
            let nk = tlog::note::NoteKey::new(&origin, sk.public().clone())
                .map_err(anyhow::Error::msg)?;
            if json {
                print_json(
                    serde_json::json!({"ok": true, "checkpoint": v.note, "vkey": nk.vkey()}),
                );
            } else {
                outln!("created the log {} ({origin}), size 0", dir.display());
                outln!("note verifier key {}", nk.vkey());
            }
            Ok(())
        }
        LogCommand::Add {
            release,
            signer,
            log,
        } => {
            let lk = log.secret_key()?.expect("required");
            let dir = log.log.clone().expect("required");
            let signers = signer
                .iter()
                .map(|p| PublicKey::read(p))
                .collect::<Result<Vec<_>, _>>()?;
            let logged = relsign::releaselog::log_release(&release, &dir, &lk, &signers)
                .map_err(tlog_err)
                .with_context(|| format!("logging {} in {}", release.display(), dir.display()))?;
            if json {
                print_json(serde_json::json!({"ok": true, "logged": logged}));
            } else {
                print_logged(&logged);
            }
            Ok(())
        }
        LogCommand::TrustedRoot { policy } => {
            let trusted = relsign::policy::load_chain(&policy, relsign::time::now())
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let Some((key, _)) = &trusted.policy.log else {
                anyhow::bail!(
                    "{}: the policy names no transparency log (`relsign policy set-log`)",
                    policy.display()
                );
            };
            let _ = json;
            outln!(
                "{}",
                serde_json::to_string_pretty(&tlog::rekor::trusted_root(key)).expect("json")
            );
            Ok(())
        }
        LogCommand::Monitor {
            log,
            policy,
            state,
            no_state,
        } => monitor(
            &log,
            &policy,
            (!no_state)
                .then(|| state.or_else(verify::default_state_path))
                .flatten(),
            json,
        ),
    }
}

fn monitor(
    log: &str,
    policy: &std::path::Path,
    state_file: Option<PathBuf>,
    json: bool,
) -> Result<()> {
    let trusted = relsign::policy::load_chain(policy, relsign::time::now())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let pol = &trusted.policy;
    let Some((key, _)) = &pol.log else {
        anyhow::bail!(
            "{}: the policy names no transparency log (`relsign policy set-log`)",
            policy.display()
        );
    };
    let src = Source::new(log).map_err(tlog_err)?;
    let mut state = match &state_file {
        Some(p) => LastSeen::read(p).map_err(|e| anyhow::anyhow!("{e}"))?,
        None => LastSeen::default(),
    };
    let path = state_file.clone().unwrap_or_default();
    let seen = |m: &std::collections::BTreeMap<String, LogSeen>| {
        m.get(&key.name)
            .map(|s| s.seen(&key.name, &path))
            .transpose()
    };
    let last = seen(&state.logs).map_err(|e| anyhow::anyhow!("{e}"))?;
    let monitored = seen(&state.monitored).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (rep, cur) = relsign::releaselog::monitor::monitor(
        &src,
        key,
        pol,
        last.as_ref(),
        monitored.as_ref().map(|s| &s.checkpoint),
    )
    .map_err(tlog_err)?;
    if let Some(p) = &state_file {
        state.logs.insert(key.name.clone(), LogSeen::of(&cur));
        if rep.alerts == 0 {
            state.monitored.insert(key.name.clone(), LogSeen::of(&cur));
        }
        state.write(p).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    if json {
        print_json(serde_json::json!({"ok": rep.alerts == 0, "monitor": rep}));
    } else {
        outln!(
            "log {}: checkpoint size {} root {}; {}",
            rep.origin,
            rep.to,
            rep.root,
            rep.consistency
        );
        for e in &rep.entries {
            let verdict = match &e.alert {
                None if e.kind == "advisory" => "ok: in the policy".to_string(),
                None => "ok: a trusted release key".to_string(),
                Some(a) => format!("ALERT: {a}"),
            };
            if e.kind == "advisory" {
                outln!(
                    "  #{} advisory {} for {} from {}  {verdict}",
                    e.index,
                    e.name,
                    e.version,
                    e.signed_on
                );
            } else if e.kind == relsign::releaselog::monitor::SIGSTORE_DSSE {
                outln!(
                    "  #{} sigstore dsse record: key {} payload sha256:{}  {verdict}",
                    e.index,
                    e.keyid,
                    e.provenance_sha256
                );
            } else {
                outln!(
                    "  #{} {} {} key {} signed {}  {verdict}",
                    e.index,
                    e.name,
                    e.version,
                    e.keyid,
                    e.signed_on
                );
            }
        }
        outln!(
            "{} entr{} since size {}; {} alert(s)",
            rep.entries.len(),
            if rep.entries.len() == 1 { "y" } else { "ies" },
            rep.from,
            rep.alerts
        );
    }
    if rep.alerts > 0 {
        return Err(crate::CheckFailed(
            format!(
                "security check `log monitor` failed: {} entr{} of {} signed by a key policy version {} does not trust{}",
                rep.alerts,
                if rep.alerts == 1 { "y" } else { "ies" },
                rep.origin,
                pol.doc.version,
                if state_file.is_some() { " (the monitored position was not advanced)" } else { "" }
            ),
            serde_json::json!({"check": "log monitor"}),
        )
        .into());
    }
    Ok(())
}
