//! What the command prints on stdout (the human summary or one `--json` document) and how a
//! failed command reports its error.

use relsign::Error;
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
static JSON_PRINTED: AtomicBool = AtomicBool::new(false);

/// A line on stdout (`outln!`); a closed pipe ends the output, not the command.
pub fn write_out(args: std::fmt::Arguments) {
    use std::io::Write;
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
        } else {
            errln!("error: writing to stdout: {e}");
            std::process::exit(relsign::EXIT_ERROR);
        }
    }
}

/// The command's one JSON document on stdout (`--json`). An error after it is reported on
/// stderr only, so stdout stays one parseable document.
pub fn print_json<T: serde::Serialize>(v: T) {
    JSON_PRINTED.store(true, Ordering::Relaxed);
    outln!("{}", serde_json::to_string_pretty(&v).expect("json"));
}

/// A failed command's error: on stderr, and under `--json` (unless the command printed its
/// document already) as `{"ok": false, "exit_code", "error", …the check's details}`.
pub fn print_error(e: &Error, json: bool) {
    if json && !JSON_PRINTED.load(Ordering::Relaxed) {
        let mut v =
            serde_json::json!({"ok": false, "exit_code": e.exit_code(), "error": error_text(e)});
        for (k, val) in e.details().into_iter().flatten() {
            v[k] = val.clone();
        }
        print_json(v);
    }
    errln!("error: {}", error_text(e));
}

/// The error and its causes, `: `-joined, leaving out a cause whose text an outer message
/// already carries (errors that show their source and also return it from `source()`).
fn error_text(e: &Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// The gate's summary: counts per place and per feature.
pub fn print_gate(report: &relsign::gate::GateReport) {
    for run in &report.runs {
        outln!(
            "behave in {}: {} passed, {} failed, {} skipped",
            run.place,
            run.passed,
            run.failed,
            run.skipped
        );
        for s in &run.suites {
            outln!(
                "  {:<50} {} passed, {} failed, {} skipped",
                s.name,
                s.passed(),
                s.failures + s.errors,
                s.skipped
            );
        }
        if !run.gating.is_empty() {
            let passed = run.gating.iter().filter(|g| g.status == "passed").count();
            outln!(
                "  gating scenarios: {passed} passed, {} not passed (they alone decide)",
                run.gating.len() - passed
            );
            for g in run.gating.iter().filter(|g| g.status != "passed") {
                outln!("    {}: {} :: {}", g.status, g.feature, g.scenario);
            }
        }
    }
}

/// One line per artifact, `ok` or `DIFFERS` with the first difference and both sides under
/// the given labels (rebuild: release/rebuilt; --check-reproducible: first/second).
pub fn print_checks(checks: &[relsign::rebuild::ArtifactCheck], left: &str, right: &str) {
    for c in checks {
        match &c.difference {
            None if c.matches => outln!("ok       {}  sha256:{}", c.file, c.expected),
            None => outln!("DIFFERS  {}", c.file),
            Some(d) => outln!(
                "DIFFERS  {}: first difference at {}: {}\n         {left} {}\n         {right} {}",
                c.file,
                d.location,
                d.what,
                d.left,
                d.right
            ),
        }
    }
}

/// The transparency log entries a command appended (or found there).
pub fn print_logged(logged: &[relsign::releaselog::Logged]) {
    for l in logged {
        outln!(
            "  logged: key {} at index {}{} (checkpoint size {}), proof {}",
            l.keyid,
            l.index,
            if l.appended { "" } else { " (already there)" },
            l.checkpoint_size,
            l.proof.display()
        );
    }
}
