//! CLI for keys, signing, the trust policy and verification (issue 4).
//! OWNER: the signing helper.

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// Placeholder until the signing commands land.
    #[command(hide = true)]
    TrustPlaceholder,
}

pub fn run(
    cmd: TrustCommand,
    _global: &crate::cli::Global,
    _r: &dyn relsign::report::Reporter,
) -> anyhow::Result<()> {
    match cmd {
        TrustCommand::TrustPlaceholder => Ok(()),
    }
}
