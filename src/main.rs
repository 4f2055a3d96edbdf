//! The relsign command: parse the arguments, run the command (`cmd`), map its error to an exit
//! code: a failed check ([`relsign::Error::Verification`]) exits 1, any other error 2.

/// `println!` for the command's output, minus the panic when stdout is a closed pipe
/// (`relsign verify … | head -1`): output stops, the command goes on and exits with its own
/// code.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::write_out(format_args!($($arg)*))
    };
}

/// `eprintln!` without the panic when stderr is closed (`relsign … 2>&1 | head -1`).
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

mod args;
mod cli;
mod cmd;
mod output;
mod publish_cli;
mod term;
mod tlog_cli;
mod trust_cli;

/// For `publish_cli`, which takes it from the crate root.
use output::print_json;

use clap::Parser;
use cli::Cli;

fn main() {
    // Files relsign creates get the same modes whatever the caller's umask (the steps in the
    // sandbox set umask 022 too): build outputs must not depend on it.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            let usage = !matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion);
            // A usage error under --json is still one JSON document on stdout.
            if usage && std::env::args().any(|a| a == "--json") {
                print_json(serde_json::json!({
                    "ok": false,
                    "exit_code": relsign::EXIT_ERROR,
                    "error": e.kind().to_string(),
                    "usage": e.render().to_string(),
                }));
            }
            e.exit()
        }
    };
    let json = cli.global.json;
    let term = term::Term::new(cli.global.quiet || json);
    if let Err(e) = cmd::run(cli, &term) {
        output::print_error(&e, json);
        std::process::exit(e.exit_code());
    }
}
