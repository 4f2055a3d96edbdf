//! A Sigstore bundle v0.3 (`attest::bundle::Bundle::from_json`); a bundle that parses is
//! written back with `to_json`, which must parse to the same bundle.
#![no_main]
use libfuzzer_sys::fuzz_target;
use relsign::attest::bundle::{Bundle, Content};

fuzz_target!(|data: &[u8]| {
    let Ok(b) = Bundle::from_json(data) else {
        return;
    };
    match &b.content {
        Content::Dsse(env) => {
            assert_eq!(env.signatures.len(), 1);
            assert_eq!(env.signatures[0].keyid, b.hint);
        }
        Content::Message { sha256, .. } => assert_eq!(sha256.len(), 32),
    }
    let again = Bundle::from_json(&b.to_json()).expect("to_json parses");
    assert_eq!(again, b, "to_json does not round-trip");
});
