//! SPDX 2.3 JSON.

use super::license::Extracted;
use super::model::{content_uuid, purl_encode, Component, Inventory, Relation};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Where relsign's SPDX document namespaces live: `<NAMESPACE>/<document name>-<uuid>`, the
/// UUID derived from the document's content. The URIs identify documents; nothing is served
/// there.
pub const NAMESPACE: &str = "https://relsign.dev/spdxdocs";

/// `SPDXRef-Package-<ecosystem>-<name>-<version>`, sanitized to letters, digits, `.` and `-`,
/// with a suffix when two packages sanitize alike.
fn spdx_id(c: &Component, used: &mut BTreeSet<String>) -> String {
    let base: String = format!("{}-{}-{}", c.ecosystem, c.name, c.version)
        .chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() || ch == '.' || ch == '-' {
                ch
            } else {
                '-'
            }
        })
        .collect();
    let mut id = format!("SPDXRef-Package-{base}");
    let mut n = 1;
    while !used.insert(id.clone()) {
        n += 1;
        id = format!("SPDXRef-Package-{base}-{n}");
    }
    id
}

fn package(c: &Component, id: &str, extracted: &mut Extracted) -> Value {
    let (declared, comment) = c.license.spdx(extracted);
    let mut v = json!({
        "SPDXID": id,
        "name": c.name,
        "versionInfo": c.version,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": c.kind.spdx_purpose(),
        // Concluded is a reviewer's conclusion; relsign records only what is declared.
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": declared,
        "copyrightText": "NOASSERTION",
        "externalRefs": [{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": c.purl,
        }],
    });
    if let Some(comment) = comment {
        v["licenseComments"] = json!(comment);
    }
    if let Some(h) = &c.sha256 {
        v["checksums"] = json!([{"algorithm": "SHA256", "checksumValue": h}]);
    }
    v
}

/// The SPDX 2.3 document of an inventory. `documentNamespace` ends with a UUID derived from
/// the sha256 of the document without it; `created` is SOURCE_DATE_EPOCH.
pub fn document(inv: &Inventory, epoch: u64, name: &str, file: &str) -> Value {
    let mut used = BTreeSet::new();
    let mut extracted = Extracted::default();
    let root_id = spdx_id(&inv.root, &mut used);
    let mut packages = vec![package(&inv.root, &root_id, &mut extracted)];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": root_id,
    })];
    let rel = match inv.relation {
        Relation::Contains => "CONTAINS",
        Relation::DependsOn => "DEPENDS_ON",
    };
    for c in inv.sorted_components() {
        let id = spdx_id(c, &mut used);
        packages.push(package(c, &id, &mut extracted));
        relationships.push(json!({
            "spdxElementId": root_id,
            "relationshipType": rel,
            "relatedSpdxElement": id,
        }));
    }
    let mut doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": name,
        "creationInfo": {
            "created": crate::oci::rfc3339(epoch),
            "creators": [format!("Tool: relsign-{}", env!("CARGO_PKG_VERSION"))],
        },
        "packages": packages,
        "relationships": relationships,
    });
    let infos = extracted.infos();
    if !infos.is_empty() {
        doc["hasExtractedLicensingInfos"] = Value::Array(infos);
    }
    let uuid = content_uuid(&doc);
    doc["documentNamespace"] = json!(format!("{NAMESPACE}/{}-{uuid}", purl_encode(file)));
    doc
}
