//! The safe tar reader (`archive::safe::extract_tar`) on arbitrary bytes. The first byte picks
//! the options: bit 0 strips one leading component (sdists), bit 1 sets up a merged-/usr root
//! and rewrites paths as for .debs, bit 2 refuses overwrites, bit 3 extracts the archive a
//! second time into the same root. Nothing may be written outside the root.
#![no_main]
use libfuzzer_sys::fuzz_target;
use relsign::archive::safe::{extract_tar, EntryKind, ExtractOptions, Overwrite};
use relsign_fuzz::{assert_inside, no_escape, Sandbox};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, tar)) = data.split_first() else {
        return;
    };
    let sb = Sandbox::new();
    let merged = mode & 2 != 0;
    if merged {
        relsign::build::rootfs::setup_merged_usr(&sb.dest).expect("merged /usr");
    }
    let rw: &dyn Fn(&str) -> Option<String> = &relsign::build::rootfs::merged_usr_rewrite;
    let opts = ExtractOptions {
        archive_name: "fuzz.tar".into(),
        strip_components: usize::from(mode & 1),
        rewrite: if merged { Some(rw) } else { None },
        max_bytes: 64 << 20,
        max_entries: 100_000,
        overwrite: if mode & 4 != 0 {
            Overwrite::Refuse
        } else {
            Overwrite::Replace
        },
        input_size: Some(tar.len() as u64),
        ..Default::default()
    };
    let runs = if mode & 8 != 0 { 2 } else { 1 };
    for _ in 0..runs {
        match no_escape(|| extract_tar(tar, &sb.dest, &opts)) {
            Ok(entries) => {
                for e in &entries {
                    assert_inside(&sb.dest, &e.path);
                    if e.kind == EntryKind::File {
                        assert!(e.sha256.is_some(), "a file without a digest");
                        assert_eq!(
                            e.mode & !0o777,
                            0,
                            "file mode {:o} keeps special bits",
                            e.mode
                        );
                    }
                    if e.kind == EntryKind::Dir {
                        assert_eq!(
                            e.mode & 0o6000,
                            0,
                            "dir mode {:o} keeps setuid/setgid",
                            e.mode
                        );
                    }
                }
            }
            Err(_) => {}
        }
    }
    sb.check();
});
