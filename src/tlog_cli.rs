//! The transparency log commands (issue 14), `relsign log init|add|monitor|trusted-root`:
//! their arguments and help text. What they do is in `cmd::log`.

use crate::args::LogAppendArgs;
use clap::{Args, Subcommand};
use std::path::PathBuf;

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
    pub cmd: LogCommand,
}

#[derive(Debug, Subcommand)]
pub enum LogCommand {
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
pub struct LogAppendArgsKeyOnly {
    /// The log's private key (encrypted PEM, mode 0600).
    #[arg(long = "key", value_name = "FILE")]
    pub key: PathBuf,
    #[arg(long = "passphrase-file", value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}
