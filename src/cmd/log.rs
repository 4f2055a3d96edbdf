//! `relsign log init|add|monitor|trusted-root`: the transparency log of releases.

use crate::args::LogAppendArgs;
use crate::output::{print_json, print_logged};
use crate::tlog_cli::{LogArgs, LogCommand};
use relsign::error::{Context, Error, Result};
use relsign::keys::PublicKey;
use relsign::tlog::{self, tiles::Source};
use relsign::verify::{self, LastSeen, LogSeen};
use std::path::{Path, PathBuf};

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
            let v = tlog::writer::init(&dir, &origin, &sk)?;
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
                bail!(
                    "{}: the policy names no transparency log (`relsign policy set-log`)",
                    policy.display()
                );
            };
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

/// `relsign log monitor`: walk the log from the last monitored checkpoint; exit 1 on an entry
/// signed by a key the policy does not trust, or a fork or rollback.
fn monitor(log: &str, policy: &Path, state_file: Option<PathBuf>, json: bool) -> Result<()> {
    let trusted = relsign::policy::load_chain(policy, relsign::time::now())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let pol = &trusted.policy;
    let Some((key, _)) = &pol.log else {
        bail!(
            "{}: the policy names no transparency log (`relsign policy set-log`)",
            policy.display()
        );
    };
    let src = Source::new(log)?;
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
    )?;
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
        print_monitor(&rep);
    }
    if rep.alerts > 0 {
        return Err(Error::verification(
            format!(
                "security check `log monitor` failed: {} entr{} of {} signed by a key policy version {} does not trust{}",
                rep.alerts,
                if rep.alerts == 1 { "y" } else { "ies" },
                rep.origin,
                pol.doc.version,
                if state_file.is_some() { " (the monitored position was not advanced)" } else { "" }
            ),
            serde_json::json!({"check": "log monitor"}),
        ));
    }
    Ok(())
}

fn print_monitor(rep: &relsign::releaselog::monitor::MonitorReport) {
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
