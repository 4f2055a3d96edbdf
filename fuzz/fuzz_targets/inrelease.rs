//! The Release text of an InRelease file (`lock::debian::parse_release`): what relsign parses
//! after gpgv has checked the signature, with its dates (`Release::snapshot`,
//! `check_valid_until`, `relsign::snapshot::parse_rfc2822`). The input is taken both as the signed
//! text and as a clearsigned InRelease whose armor is stripped here as gpgv would.
#![no_main]
use libfuzzer_sys::fuzz_target;
use relsign::lock::debian::{check_valid_until, parse_release};
use relsign::report::Silent;
use relsign::snapshot;

fn clearsigned_body(text: &str) -> Option<&str> {
    let rest = text.split_once("-----BEGIN PGP SIGNED MESSAGE-----\n")?.1;
    let rest = rest.split_once("\n\n")?.1; // armor headers (Hash: …)
    Some(rest.split_once("\n-----BEGIN PGP SIGNATURE-----")?.0)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for t in [Some(text), clearsigned_body(text)].into_iter().flatten() {
        if let Ok(r) = parse_release(t) {
            for (path, f) in &r.files {
                assert!(!path.is_empty());
                assert_eq!(f.sha256.as_str().len(), 64);
            }
            // The snapshot timestamp the lock records must be one relsign reads back.
            if let Ok(Some(ts)) = r.snapshot() {
                assert!(
                    snapshot::check_timestamp(&ts).is_ok(),
                    "Date {:?} gives {ts:?}",
                    r.date
                );
            }
            let _ = check_valid_until(&r, 1_800_000_000, false, "fuzz", &Silent);
        }
    }
    if let Ok(t) = snapshot::parse_rfc2822(text) {
        let _ = snapshot::iso(t);
        let _ = snapshot::timestamp(t);
    }
});
