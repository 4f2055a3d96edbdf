//! A synthetic release directory (release.json, a recipe copy, a directory source, two
//! artifact files and stand-in SBOMs): signable in milliseconds, no build needed.

use relsign::digest::Sha256Hex;
use relsign::model::{Artifact, InputFile, ReleaseManifest, RELEASE_TYPE};
use std::path::Path;

/// A synthetic release: release.json, a recipe copy and two artifact files.
pub fn synthetic_release(dir: &Path, name: &str, version: &str) {
    std::fs::create_dir_all(dir.join("inputs")).unwrap();
    let recipe = format!("[release]\nname = \"{name}\"\nversion = \"{version}\"\n");
    std::fs::write(dir.join("inputs/recipe.toml"), &recipe).unwrap();
    // The directory source's copy, with the tree digest release.json records for it.
    std::fs::create_dir_all(dir.join("inputs/src")).unwrap();
    std::fs::write(dir.join("inputs/src/hello.py"), "print('hello')\n").unwrap();
    let src_digest = relsign::build::source::tree_digest(&dir.join("inputs/src")).unwrap();
    let mut artifacts = Vec::new();
    for (i, (file, kind)) in [
        (
            format!("{name}-{version}.tar.gz"),
            relsign::model::ArtifactKind::Sdist,
        ),
        (
            format!("{name}-{version}-py3-none-any.whl"),
            relsign::model::ArtifactKind::Wheel,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let bytes: Vec<u8> = (0..20_000u32)
            .map(|j| (j.wrapping_mul(2654435761) >> (i + 3)) as u8)
            .collect();
        std::fs::write(dir.join(&file), &bytes).unwrap();
        artifacts.push(Artifact {
            file,
            kind,
            package: name.into(),
            size: bytes.len() as u64,
            sha256: Sha256Hex::of(&bytes),
            media_type: "application/octet-stream".into(),
        });
    }
    // Stand-in SBOM documents (signing requires one of each kind per artifact).
    std::fs::create_dir_all(dir.join("sbom")).unwrap();
    for a in &artifacts {
        for ext in ["cdx.json", "spdx.json"] {
            let doc = format!("{{\"synthetic-sbom-for\":\"{}\"}}", a.file);
            std::fs::write(dir.join("sbom").join(format!("{}.{ext}", a.file)), doc).unwrap();
        }
    }
    let m = ReleaseManifest {
        type_: RELEASE_TYPE.into(),
        name: name.into(),
        version: version.into(),
        source_date_epoch: 1_700_000_000,
        recipe: InputFile {
            path: "inputs/recipe.toml".into(),
            sha256: Sha256Hex::of(recipe.as_bytes()),
        },
        locks: vec![],
        sources: vec![relsign::model::SourceRecord {
            package: name.into(),
            kind: "dir".into(),
            location: "src".into(),
            digest: src_digest.to_string(),
            source_date_epoch: 1_700_000_000,
        }],
        artifacts,
        builder: "relsign test".into(),
        builds: vec![],
    };
    std::fs::write(dir.join("release.json"), relsign::model::canonical_json(&m)).unwrap();
}
