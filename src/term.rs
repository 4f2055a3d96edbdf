//! Human progress on stderr: steps, notices and byte progress bars on a terminal.

use indicatif::{ProgressBar, ProgressStyle};
use relsign::report::{Progress, Reporter};
use std::io::IsTerminal;

pub struct Term {
    quiet: bool,
    tty: bool,
}

impl Term {
    /// Progress on stderr unless `quiet`; bars only when stderr is a terminal.
    pub fn new(quiet: bool) -> Term {
        Term {
            quiet,
            tty: std::io::stderr().is_terminal(),
        }
    }
}

struct Bar(ProgressBar);
impl Progress for Bar {
    fn inc(&self, n: u64) {
        self.0.inc(n)
    }
    fn finish(&self) {
        self.0.finish_and_clear()
    }
}
struct NoBar;
impl Progress for NoBar {
    fn inc(&self, _: u64) {}
    fn finish(&self) {}
}

impl Reporter for Term {
    fn step(&self, msg: &str) {
        if !self.quiet {
            errln!("==> {msg}");
        }
    }
    fn info(&self, msg: &str) {
        if !self.quiet {
            errln!("    {msg}");
        }
    }
    fn warn(&self, msg: &str) {
        errln!("warning: {msg}");
    }
    fn progress(&self, label: &str, total: Option<u64>) -> Box<dyn Progress + '_> {
        if self.quiet || !self.tty {
            return Box::new(NoBar);
        }
        let pb = match total {
            Some(t) => ProgressBar::new(t),
            None => ProgressBar::new_spinner(),
        };
        pb.set_style(
            ProgressStyle::with_template(
                "    {msg:40!} {bar:30} {bytes:>10}/{total_bytes:10} {bytes_per_sec}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        pb.set_message(label.to_string());
        Box::new(Bar(pb))
    }
}
