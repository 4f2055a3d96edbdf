//! A DSSE envelope (`relsign::dsse::Envelope::from_json`), its signatures checked against a
//! fixed key (`verify`), and its JSON form written back, which must read to the same envelope.
#![no_main]
use libfuzzer_sys::fuzz_target;
use relsign::dsse::{pae, Envelope};
use relsign::keys::PublicKey;

const KEY: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPaYiMlrwIaaPcHURo=\n-----END PUBLIC KEY-----\n";

fuzz_target!(|data: &[u8]| {
    let Ok(env) = Envelope::from_json(data) else {
        return;
    };
    let again = Envelope::from_json(&env.to_json()).expect("to_json reads back");
    assert_eq!(again, env, "to_json does not round-trip");
    assert_eq!(env.pae(), pae(&env.payload_type, &env.payload));
    let key = PublicKey::from_pem(KEY, std::path::Path::new("fuzz.pub")).expect("key");
    let v = env.verify(&[&key]);
    // Random bytes are never a valid Ed25519 signature by this key.
    assert!(v.keys.is_empty(), "a forged signature verified");
});
