//! A recipe (`recipe::Recipe::parse`, from bytes).
#![no_main]
use libfuzzer_sys::fuzz_target;
use relsign::recipe::Recipe;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(r) = Recipe::parse(Path::new("/fuzz/recipes/fuzz.toml"), data.to_vec()) else {
        return;
    };
    assert!(!r.packages.is_empty());
    let _ = r.digest();
    let _ = r.python_lock_path();
    let _ = r.debian_lock_path();
    let _ = r.image_toolchain();
});
