//! A .deb file (`ar` container) through the public readers: `debian::ar::ArReader` member by
//! member, `debian::read_control` (control fields and md5sums) and `debian::extract_data` into
//! a sandbox with the merged-/usr rewrite, as a rootfs is assembled.
#![no_main]
use libfuzzer_sys::fuzz_target;
use relsign::debian::ar::ArReader;
use relsign_fuzz::{assert_inside, no_escape, temp_file, Sandbox};
use std::io::Read;

fuzz_target!(|data: &[u8]| {
    // The ar container alone.
    if let Ok(mut ar) = ArReader::new(data, "fuzz.deb") {
        let mut last = 0;
        while let Ok(Some(m)) = ar.next_member() {
            assert!(m.offset > last || last == 0, "member offsets go backwards");
            last = m.offset;
            assert!(
                !m.name.is_empty() && !m.name.contains('/'),
                "member name {:?}",
                m.name
            );
            let mut v = Vec::new();
            if (&mut ar).take(1 << 20).read_to_end(&mut v).is_err() {
                break;
            }
        }
    }
    let (_d, path) = temp_file("fuzz_1.0_amd64.deb", data);
    if let Ok(c) = no_escape(|| relsign::debian::read_control(&path)) {
        assert!(c.package().is_some());
    }
    let sb = Sandbox::new();
    relsign::build::rootfs::setup_merged_usr(&sb.dest).expect("merged /usr");
    let rw: &dyn Fn(&str) -> Option<String> = &relsign::build::rootfs::merged_usr_rewrite;
    match no_escape(|| relsign::debian::extract_data(&path, &sb.dest, Some(rw))) {
        Ok(entries) => {
            for e in &entries {
                assert_inside(&sb.dest, &e.path);
            }
        }
        Err(_) => {}
    }
    sb.check();
});
