//! CycloneDX 1.6 JSON.

use super::model::{content_uuid, Component, Inventory};
use serde_json::{json, Value};

fn component(c: &Component) -> Value {
    let mut v = json!({
        "type": c.kind.cyclonedx(),
        "bom-ref": c.purl,
        "name": c.name,
        "version": c.version,
        "purl": c.purl,
    });
    if let Some(h) = &c.sha256 {
        v["hashes"] = json!([{"alg": "SHA-256", "content": h}]);
    }
    if let Some(l) = c.license.cyclonedx() {
        v["licenses"] = l;
    }
    let properties: Vec<Value> = [
        ("relsign:debian:source", &c.source),
        ("relsign:debian:source-version", &c.source_version),
    ]
    .into_iter()
    .filter_map(|(name, value)| Some(json!({"name": name, "value": value.as_ref()?})))
    .collect();
    if !properties.is_empty() {
        v["properties"] = Value::Array(properties);
    }
    v
}

/// The CycloneDX 1.6 document of an inventory. `serialNumber` is a UUID derived from the
/// sha256 of the document without it; `metadata.timestamp` is SOURCE_DATE_EPOCH.
pub fn document(inv: &Inventory, epoch: u64) -> Value {
    let components = inv.sorted_components();
    let mut doc = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "metadata": {
            "timestamp": crate::oci::rfc3339(epoch),
            "tools": {"components": [{
                "type": "application",
                "name": "relsign",
                "version": env!("CARGO_PKG_VERSION"),
            }]},
            "component": component(&inv.root),
        },
        "components": components.iter().map(|c| component(c)).collect::<Vec<_>>(),
        "dependencies": [{
            "ref": inv.root.purl,
            "dependsOn": components.iter().map(|c| c.purl.clone()).collect::<Vec<_>>(),
        }],
    });
    let uuid = content_uuid(&doc);
    doc["serialNumber"] = json!(format!("urn:uuid:{uuid}"));
    doc
}
