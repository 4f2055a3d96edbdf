//! Argument groups and helpers shared by the commands' definitions (`cli`, `trust_cli`,
//! `tlog_cli`): global options, mirrors, passphrases, the transparency log to append to.

use anyhow::{bail, Context, Result};
use clap::Args;
use relsign::keys::{self, Passphrase, SecretKey};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct Global {
    /// Print machine-readable JSON on stdout instead of the human summary.
    #[arg(long, global = true)]
    pub json: bool,
    /// The content-addressed store [default: $RELSIGN_STORE, else ~/.cache/relsign/store].
    #[arg(long, global = true, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// No progress output on stderr.
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Args, Clone, Default)]
pub struct Mirrors {
    /// Python package index (PEP 503 simple API), tried in order. Overrides RELSIGN_INDEX_URL,
    /// the recipe's python.index-urls and pip's configuration.
    #[arg(long = "index-url", value_name = "URL")]
    pub index_urls: Vec<String>,
    /// Debian mirror, tried in order. Overrides the recipe's toolchain.mirrors and apt's sources.
    #[arg(long = "debian-mirror", value_name = "URL")]
    pub debian_mirrors: Vec<String>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct PassArgs {
    /// Read the passphrase from this file (its first line).
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// Read the passphrase from this open file descriptor.
    #[arg(long, value_name = "N")]
    pub passphrase_fd: Option<u32>,
}

/// The passphrase, from (in order) a descriptor, a file, $RELSIGN_PASSPHRASE, or the terminal.
pub fn passphrase(a: &PassArgs, what: &Path, confirm: bool) -> Result<Passphrase> {
    passphrase_from(a, what, confirm, "RELSIGN_PASSPHRASE")
}

/// [`passphrase`] with another environment variable.
pub fn passphrase_from(
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
        let pass = PassArgs {
            passphrase_file: self.log_passphrase_file.clone(),
            passphrase_fd: self.log_passphrase_fd,
        };
        let p = passphrase_from(&pass, path, false, "RELSIGN_LOG_PASSPHRASE")?;
        Ok(Some(SecretKey::read(path, &p)?))
    }
}
