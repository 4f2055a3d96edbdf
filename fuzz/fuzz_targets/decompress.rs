//! gzip, xz and zstd streams through the safe readers: the input (after one selector byte) is
//! the compressed `control.tar.*` and `data.tar.*` member of a .deb, read with
//! `debian::read_control` and extracted with `debian::extract_data`.
//! Selector: `b % 4` = gz, xz, zst or an uncompressed tar.
#![no_main]
use libfuzzer_sys::fuzz_target;
use relsign::debian::ar::write_ar;
use relsign_fuzz::{assert_inside, no_escape, temp_file, Sandbox};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, stream)) = data.split_first() else {
        return;
    };
    let ext = ["gz", "xz", "zst", ""][usize::from(sel % 4)];
    let member = |kind: &str| {
        if ext.is_empty() {
            format!("{kind}.tar")
        } else {
            format!("{kind}.tar.{ext}")
        }
    };
    let (c, d) = (member("control"), member("data"));
    let deb = write_ar(&[("debian-binary", b"2.0\n"), (&c, stream), (&d, stream)]);
    let (_t, path) = temp_file("fuzz_1.0_all.deb", &deb);
    let _ = no_escape(|| relsign::debian::read_control(&path));
    let sb = Sandbox::new();
    match no_escape(|| relsign::debian::extract_data(&path, &sb.dest, None)) {
        Ok(entries) => {
            for e in &entries {
                assert_inside(&sb.dest, &e.path);
            }
        }
        Err(_) => {}
    }
    sb.check();
});
