//! One module per command: each runs it, prints its summary or `--json` document, and returns
//! a [`relsign::Error`] that says whether its failure is a failed check (exit 1) or not (2).

/// `anyhow::bail!` for a command: any other error (exit 2).
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err(anyhow::anyhow!($($arg)*).into())
    };
}

mod build;
mod common;
mod compare;
mod diff;
mod enter;
mod exec;
mod fetch;
mod key;
mod lock;
mod log;
mod policy;
mod rebuild;
mod release;
mod revoke;
mod run;
mod sbom;
mod scan;
mod sign;
mod test;
mod verify;
mod vulndb;

use crate::cli::{Cli, Command};
use crate::term::Term;
use crate::trust_cli::TrustCommand;
use relsign::error::Result;

/// Run the command.
pub fn run(cli: Cli, r: &Term) -> Result<()> {
    let g = &cli.global;
    let json = g.json;
    match cli.command {
        Command::Trust(c) => match c {
            TrustCommand::Key { cmd } => key::run(cmd, json),
            TrustCommand::Sign(a) => sign::run(a, json, r),
            TrustCommand::SignKeyless(a) => sign::keyless(a, json, r),
            TrustCommand::Revoke(a) => revoke::run(a, json),
            TrustCommand::Policy { cmd } => policy::run(cmd, json),
            TrustCommand::Verify(a) => verify::run(a, json, r),
        },
        Command::Publish(a) => Ok(crate::publish_cli::run(a, json, r)?),
        Command::Log(a) => log::run(a, json),
        Command::Destinations(a) => Ok(crate::publish_cli::destinations_cmd(a, json, r)?),
        Command::Lock(a) => lock::run(a, g, r),
        Command::Fetch(a) => fetch::run(a, g, r),
        Command::Build(a) => build::run(a, g, r),
        Command::Rebuild(a) => rebuild::run(a, g, r),
        Command::Vulndb(a) => vulndb::run(a, g, r),
        Command::Release(a) => release::run(a, g, r),
        Command::Sbom(a) => sbom::run(a, g, r),
        Command::Scan(a) => scan::run(a, g, r),
        Command::Diff(a) => diff::run(a, json, r),
        Command::Compare(a) => compare::run(a, json, r),
        Command::Test(a) => test::run(a, g, r),
        Command::Run(a) => run::run(a, r),
        Command::Enter(a) => enter::run(a),
        Command::Exec(a) => exec::run(a, g, r),
    }
}
