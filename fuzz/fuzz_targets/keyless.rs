//! Keyless bundles (`keyless::bundle::KeylessBundle::from_json`), the Fulcio certificate in
//! them (`keyless::cert::Cert::from_der`) and its embedded SCT list (`keyless::sct`): nothing
//! panics. The raw input is also tried as a certificate and as an SCT list extension value.
#![no_main]
use libfuzzer_sys::fuzz_target;
use relsign::keyless::{bundle::KeylessBundle, cert::Cert, sct};

fn certificate(der: &[u8]) {
    if let Ok(c) = Cert::from_der(der) {
        if let Ok((scts, pre)) = sct::precert(&c, &c) {
            assert!(!scts.is_empty() && scts.len() <= sct::MAX_SCTS);
            assert!(pre.len() > 35);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(b) = KeylessBundle::from_json(data) {
        certificate(&b.cert_der);
    }
    certificate(data);
    if let Ok(list) = sct::parse_list(data) {
        assert!(!list.is_empty() && list.len() <= sct::MAX_SCTS);
    }
});
