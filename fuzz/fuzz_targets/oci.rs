//! OCI image layout JSON: the input is `index.json` (`oci::Layout::read_index`,
//! `find_manifest`) and, stored as a blob under its digest, an image manifest
//! (`Layout::read_manifest`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use relsign::digest::Sha256Hex;
use relsign::oci::{Descriptor, Layout, MEDIA_MANIFEST};

fuzz_target!(|data: &[u8]| {
    let d = tempfile::Builder::new()
        .prefix("relsign-fuzz-")
        .tempdir()
        .expect("tmp");
    let layout = Layout::create(d.path()).expect("layout");
    std::fs::write(d.path().join("index.json"), data).expect("write");
    let layout = Layout::open(&layout.dir).expect("open");
    if let Ok(idx) = layout.read_index() {
        let _ = layout.find_manifest(None);
        for m in idx.manifests.iter().take(8) {
            if let Some(t) = m
                .annotations
                .as_ref()
                .and_then(|a| a.get(relsign::oci::REF_NAME))
            {
                let _ = layout.find_manifest(Some(t));
            }
        }
    }
    let hex = Sha256Hex::of(data);
    std::fs::write(layout.blob_path(hex.as_str()), data).expect("blob");
    let desc = Descriptor {
        media_type: MEDIA_MANIFEST.into(),
        digest: format!("sha256:{hex}"),
        size: data.len() as u64,
        annotations: None,
        artifact_type: None,
    };
    if let Ok(m) = layout.read_manifest(&desc) {
        for l in m.layers.iter().chain([&m.config]) {
            let _ = l.hex();
        }
    }
});
