//! Progress reporting. The library never prints: it calls a [`Reporter`], and the CLI decides
//! how to show it (progress bars on a terminal, plain lines otherwise, nothing with `--json`).

/// Progress of one long transfer or step.
pub trait Progress {
    fn inc(&self, n: u64);
    fn finish(&self);
}

/// Receives progress and notices from library code.
pub trait Reporter: Sync {
    /// A phase of work begins ("fetch", "build relsign-demo wheel", ...).
    fn step(&self, msg: &str);
    /// Something the user should know that is not a failure.
    fn info(&self, msg: &str);
    /// Something suspicious that did not stop the work.
    fn warn(&self, msg: &str);
    /// Start a byte-counted progress display; `total` when known.
    fn progress(&self, label: &str, total: Option<u64>) -> Box<dyn Progress + '_>;
}

/// A reporter that discards everything (tests, `--json`).
pub struct Silent;

struct NoProgress;
impl Progress for NoProgress {
    fn inc(&self, _: u64) {}
    fn finish(&self) {}
}

impl Reporter for Silent {
    fn step(&self, _: &str) {}
    fn info(&self, _: &str) {}
    fn warn(&self, _: &str) {}
    fn progress(&self, _: &str, _: Option<u64>) -> Box<dyn Progress + '_> {
        Box::new(NoProgress)
    }
}
