//! `relsign sign`: a release directory signed with a key (and the signature logged with
//! --log); `relsign sign-keyless` (Fulcio and Rekor).

use crate::args::passphrase;
use crate::output::{print_json, print_logged};
use crate::trust_cli::SignArgs;
use relsign::error::{Context, Result};
use relsign::keys::{self, SecretKey};
use relsign::report::Reporter;
use relsign::time;

pub fn run(a: SignArgs, json: bool, r: &dyn Reporter) -> Result<()> {
    let release = &a.release;
    let signed_on = match a.signing_time {
        Some(t) => time::parse(&t).map_err(|e| anyhow::anyhow!("--signing-time: {e}"))?,
        None => time::now(),
    };
    // A release that is not there is said before the passphrase is asked for.
    if !release.join("release.json").is_file() {
        bail!(
            "{}: not a release directory (no release.json); build it first (`relsign release` or `relsign build`)",
            release.display()
        );
    }
    keys::check_private_mode(&a.key)?;
    let pass = passphrase(&a.pass, &a.key, false)?;
    let sk = SecretKey::read(&a.key, &pass)?;
    drop(pass);
    // The log key is read before anything is signed: a wrong passphrase stops here.
    let log_key = a.log.secret_key()?;
    let (o, statements) =
        relsign::release::sign_all(release, &mut relsign::attest::KeySigner(&sk), signed_on, r)
            .with_context(|| format!("signing {}", release.display()))?;
    let logged = match (&a.log.log, &log_key) {
        (Some(dir), Some(lk)) => {
            relsign::releaselog::log_release(release, dir, lk, &[sk.public().clone()])
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
        print_logged(&logged);
    }
    Ok(())
}

/// What keyless signing needs, read before anything is built or signed: the OIDC token (from
/// --token-file or $SIGSTORE_ID_TOKEN) and the Fulcio and Rekor URLs.
pub struct KeylessInputs {
    pub token: zeroize::Zeroizing<String>,
    pub fulcio: String,
    pub rekor: String,
}

impl KeylessInputs {
    pub fn read(a: &crate::trust_cli::KeylessService) -> Result<KeylessInputs> {
        let token = zeroize::Zeroizing::new(match &a.token_file {
            Some(f) => relsign::fsutil::read_to_string(f)?,
            None => std::env::var("SIGSTORE_ID_TOKEN").map_err(|_| {
                anyhow::anyhow!(
                    "keyless signing needs an OIDC identity token: --token-file or $SIGSTORE_ID_TOKEN"
                )
            })?,
        });
        let url = |flag: &Option<String>, var: &str, what: &str| {
            flag.clone()
                .or_else(|| std::env::var(var).ok())
                .ok_or_else(|| {
                    anyhow::anyhow!("keyless signing needs the {what} URL: --{what}-url or ${var}")
                })
        };
        Ok(KeylessInputs {
            token,
            fulcio: url(&a.fulcio_url, "RELSIGN_FULCIO_URL", "fulcio")?,
            rekor: url(&a.rekor_url, "RELSIGN_REKOR_URL", "rekor")?,
        })
    }

    /// Sign the release directory keyless.
    pub fn sign(
        &self,
        dir: &std::path::Path,
        r: &dyn Reporter,
    ) -> Result<relsign::keyless::KeylessOutcome> {
        relsign::keyless::sign_release(dir, &self.fulcio, &self.rekor, &self.token, r)
            .with_context(|| format!("keyless signing {}", dir.display()))
    }
}

/// `relsign sign-keyless`: Fulcio certificate + Rekor entries.
pub fn keyless(a: crate::trust_cli::KeylessArgs, json: bool, r: &dyn Reporter) -> Result<()> {
    if !a.release.join("release.json").is_file() {
        bail!(
            "{}: not a release directory (no release.json); build it first (`relsign release` or `relsign build`)",
            a.release.display()
        );
    }
    let o = KeylessInputs::read(&a.service)?.sign(&a.release, r)?;
    if json {
        print_json(serde_json::json!({"ok": true, "keyless": o}));
    } else {
        outln!(
            "signed keyless as {}: {} bundle(s), Rekor entries {:?}{}",
            o.identity,
            o.bundles.len(),
            o.log_indexes,
            if o.created_statement {
                ", new provenance statement"
            } else {
                ""
            }
        );
        for b in &o.bundles {
            outln!("  {}", b.display());
        }
    }
    Ok(())
}
