//! `relsign revoke`: an advisory (a key compromised, a release withdrawn), logged with --log
//! and added to the policy.

use super::policy::{key_id_arg, release_ref};
use crate::output::print_json;
use crate::trust_cli::RevokeArgs;
use relsign::error::{Context, Result};
use relsign::policy::{self, PolicyError};
use relsign::time;

pub fn run(a: RevokeArgs, json: bool) -> Result<()> {
    let dir = &a.dir;
    let date = time::format(match a.date {
        Some(d) => time::parse(&d).map_err(|e| anyhow::anyhow!("--date: {e}"))?,
        None => time::now(),
    });
    let (current, _) = policy::show(dir)?;
    let id = a.id.unwrap_or_else(|| {
        format!(
            "RELSIGN-ADV-{}-{}",
            &date[..10].replace('-', ""),
            current.advisories.len() + 1
        )
    });
    let mut adv = policy::Advisory {
        id,
        keyid: a.key.as_deref().map(key_id_arg).transpose()?,
        release: a.release.as_deref().map(release_ref).transpose()?,
        reason: a.reason,
        url: a.url,
        date,
        log_index: None,
    };
    let log_key = a.log.secret_key()?;
    if let (Some(ldir), Some(lk)) = (&a.log.log, &log_key) {
        let i = relsign::releaselog::log_advisory(ldir, lk, &adv)
            .with_context(|| format!("logging the advisory in {}", ldir.display()))?;
        adv.log_index = Some(i);
    }
    let shown = adv.clone();
    let (path, v) = policy::edit(dir, |p| {
        if p.advisories.iter().any(|x| x.id == adv.id) {
            return Err(PolicyError::Usage(format!(
                "advisory {} is already in the policy",
                adv.id
            )));
        }
        p.advisories.push(adv);
        Ok(())
    })?;
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
