//! `relsign verify`: an artifact, a release directory, an OCI layout or a registry reference
//! against the trust policy. Exit 1 when verification refuses it, naming the check.

use crate::output::print_json;
use crate::trust_cli::VerifyArgs;
use relsign::error::{Error, Result};
use relsign::report::Reporter;
use relsign::time;
use relsign::verify::{self, VerifyError, VerifyOptions, VerifyReport};

pub fn run(a: VerifyArgs, json: bool, r: &dyn Reporter) -> Result<()> {
    let state_file = if a.no_state {
        None
    } else {
        a.state.or_else(verify::default_state_path)
    };
    // A registry reference: the image and its referrers, pulled into a temporary release
    // directory first.
    let _pulled;
    let target = if a.target.to_string_lossy().starts_with("docker://") {
        let tmp = tempfile::tempdir()?;
        let layout =
            relsign::publish::pull::pull_release(&a.target.to_string_lossy(), tmp.path(), r)?;
        _pulled = tmp;
        layout
    } else {
        a.target
    };
    let o = VerifyOptions {
        policy_dir: a.policy,
        expect_source: a.expect_source,
        expect_version: a.expect_version,
        allow_downgrade: a.allow_downgrade,
        state_file,
        strict: !a.no_strict,
        now: time::now(),
        log: a.log,
    };
    match verify::verify(&target, &o, r) {
        Ok(rep) => {
            if json {
                print_json(&rep);
            } else {
                print_report(&rep);
            }
            Ok(())
        }
        Err(VerifyError::Refused { check, reason }) => Err(Error::verification(
            format!("verification refused: check `{check}` failed: {reason}"),
            serde_json::json!({"check": check, "target": target}),
        )),
        Err(e) => Err(e.into()),
    }
}

fn print_report(rep: &VerifyReport) {
    outln!(
        "verified {} {} (signed {}; policy version {}{})",
        rep.release,
        rep.version,
        rep.signed_on,
        rep.policy_version,
        if rep.policy_test_only {
            ", TEST-ONLY"
        } else {
            ""
        }
    );
    outln!(
        "  provenance: {} signature(s), threshold {}",
        rep.provenance_signers.len(),
        rep.provenance_threshold
    );
    for a in &rep.artifacts {
        let how = if a.kind == relsign::model::ArtifactKind::OciImage {
            "index.json names only this manifest; its config and every layer present with the size and sha256 it names".to_string()
        } else {
            format!("{} bundle signer(s)", a.bundle_signers.len())
        };
        outln!("  ok  {}  sha256:{}  ({how})", a.file, a.sha256);
    }
    for c in &rep.checks {
        outln!("  {:<12} {}: {}", c.status, c.check, c.detail);
    }
    for n in &rep.notes {
        outln!("  note: {n}");
    }
}
