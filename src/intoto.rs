//! Typed in-toto Statement v1 documents and the Sigstore bundle v0.3 JSON form, shared by the
//! signer (which serializes them, through [`crate::model::canonical_json`] for signed
//! payloads) and the verifier (which deserializes them through [`crate::json`], so the size,
//! depth and duplicate-key checks apply before serde sees the document).
//!
//! Reading is as lenient as the checks that use a document require, no more: fields a check
//! names are `Option`s or defaults, so a missing field is refused by that check with its own
//! message; fields no check reads are not declared (serde skips them). The DSSE envelope's
//! JSON form is [`crate::dsse::EnvelopeJson`] (strict: unknown fields are refused).

use crate::digest::Sha256Hex;
use crate::dsse::EnvelopeJson;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// An in-toto Statement v1 whose predicate is a `P`. As read, `_type` and `predicateType`
/// default to "" and `predicate` to `P::default()`, so the check that reads the statement
/// refuses a missing one by name.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Statement<P> {
    #[serde(rename = "_type", default)]
    pub type_: String,
    /// `None` as read when missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Vec<Descriptor>>,
    #[serde(rename = "predicateType", default)]
    pub predicate_type: String,
    #[serde(default)]
    pub predicate: P,
}

impl Statement<Value> {
    /// The predicate read as the typed `P` (after the caller checked `predicateType`).
    pub fn predicate_as<P: DeserializeOwned>(&self) -> Result<P, String> {
        serde_json::from_value(self.predicate.clone()).map_err(|e| format!("predicate: {e}"))
    }
}

impl<P: Serialize> Statement<P> {
    /// A statement about `subject` with a predicate of type `predicate_type`.
    pub fn new(subject: Vec<Descriptor>, predicate_type: &str, predicate: P) -> Self {
        Statement {
            type_: crate::model::STATEMENT_TYPE.to_string(),
            subject: Some(subject),
            predicate_type: predicate_type.to_string(),
            predicate,
        }
    }
    /// The statement as a JSON value (signed as canonical JSON).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("a statement serializes")
    }
}

impl<P> Statement<P> {
    /// The subjects, or none when the statement has no list.
    pub fn subjects(&self) -> &[Descriptor] {
        self.subject.as_deref().unwrap_or_default()
    }
}

/// An in-toto ResourceDescriptor: a subject, a dependency, a byproduct, a test record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub digest: BTreeMap<String, String>,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Value>,
}

impl Descriptor {
    /// `{"name": name, "digest": {"sha256": sha256}}`.
    pub fn file(name: &str, sha256: &Sha256Hex) -> Descriptor {
        Descriptor {
            name: Some(name.to_string()),
            digest: BTreeMap::from([("sha256".to_string(), sha256.to_string())]),
            ..Descriptor::default()
        }
    }
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
    pub fn sha256(&self) -> Option<&str> {
        self.digest.get("sha256").map(String::as_str)
    }
}

/// The predicate of the SLSA provenance v1 statement: written by the signer
/// ([`crate::attest::statement::provenance`]) and read by the verifier. As read, every field a
/// check names is an `Option` or a default, so that check refuses a missing one by name.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SlsaPredicate {
    #[serde(rename = "buildDefinition", default)]
    pub build_definition: BuildDefinition,
    #[serde(rename = "runDetails", default)]
    pub run_details: RunDetails,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BuildDefinition {
    #[serde(rename = "buildType", skip_serializing_if = "Option::is_none")]
    pub build_type: Option<String>,
    #[serde(rename = "externalParameters", default)]
    pub external_parameters: ExternalParameters,
    #[serde(rename = "internalParameters", default)]
    pub internal_parameters: InternalParameters,
    #[serde(rename = "resolvedDependencies", default)]
    pub resolved_dependencies: Vec<Descriptor>,
}

/// relsign's `externalParameters`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExternalParameters {
    #[serde(default)]
    pub release: ReleaseParam,
    #[serde(default)]
    pub recipe: RecipeParam,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<SourceParam>>,
    /// `None` in provenance made before relsign recorded the gate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<GateParam>,
    /// `None` in provenance made before relsign had the vulnerability gate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vulnerabilities: Option<VulnsParam>,
    /// The stable branch and its baseline, for a release on a stable branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable: Option<StableParam>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReleaseParam {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RecipeParam {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default)]
    pub digest: BTreeMap<String, String>,
}

/// One source claim: package, kind, location, and its one digest (`sha256` or `gitCommit`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SourceParam {
    #[serde(default)]
    pub package: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub location: String,
    #[serde(default)]
    pub digest: BTreeMap<String, String>,
    #[serde(
        rename = "sourceDateEpoch",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub source_date_epoch: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GateParam {
    pub required: Option<bool>,
}

/// `externalParameters.vulnerabilities`: whether the recipe has the gate and, when the
/// release carries a scan report, the databases and the report's result.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VulnsParam {
    pub required: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub databases: Option<Vec<Descriptor>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
}

/// `externalParameters.stable`: the branch, and the baseline release (`null` for the first
/// release of the branch).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StableParam {
    #[serde(default)]
    pub branch: String,
    #[serde(default)]
    pub baseline: Option<StableBaseline>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StableBaseline {
    #[serde(default)]
    pub version: String,
    /// The digest of the baseline's release.json.
    #[serde(rename = "releaseJson", default)]
    pub release_json: BTreeMap<String, String>,
}

/// `internalParameters`: the epoch, the gzip implementation and, for releases that record
/// them, each package's build environment.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct InternalParameters {
    #[serde(
        rename = "SOURCE_DATE_EPOCH",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub source_date_epoch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gzip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builds: Option<Vec<BuildParam>>,
}

/// One package's build environment: its backend, lock group and requirements by digest.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BuildParam {
    #[serde(default)]
    pub package: String,
    #[serde(default)]
    pub backend: String,
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub requirements: Vec<BuildRequirementParam>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BuildRequirementParam {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub file: String,
    #[serde(default)]
    pub digest: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builder: Option<Builder>,
    #[serde(default)]
    pub metadata: RunMetadata,
    #[serde(default)]
    pub byproducts: Vec<Descriptor>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Builder {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub version: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunMetadata {
    #[serde(rename = "finishedOn", skip_serializing_if = "Option::is_none")]
    pub finished_on: Option<String>,
}

/// The in-toto test-result v0.1 predicate: written by the gate
/// ([`crate::gate::test_result_statement`]) and read by the verifier.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TestResultPredicate {
    #[serde(default)]
    pub result: String,
    #[serde(default)]
    pub configuration: Vec<Descriptor>,
    #[serde(rename = "passedTests", default)]
    pub passed_tests: Option<Vec<String>>,
    #[serde(
        rename = "warnedTests",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub warned_tests: Option<Vec<String>>,
    #[serde(
        rename = "failedTests",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub failed_tests: Option<Vec<String>>,
}

/// The in-toto vulnerability v0.1 predicate with relsign's verdicts under `relsign`: written
/// by [`crate::vulns::statement`] and read by the verifier.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VulnsPredicate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocation: Option<Invocation>,
    #[serde(default)]
    pub scanner: VulnScanner,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ScanMetadata>,
    #[serde(default)]
    pub relsign: VulnsVerdict,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Invocation {
    #[serde(default)]
    pub uri: String,
    #[serde(default)]
    pub parameters: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VulnScanner {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db: Option<ScannerDb>,
    pub result: Option<Vec<Finding>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ScannerDb {
    #[serde(default)]
    pub uri: String,
    #[serde(default)]
    pub version: String,
    #[serde(rename = "lastUpdate", default)]
    pub last_update: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ScanMetadata {
    #[serde(rename = "scanStartedOn", default)]
    pub scan_started_on: String,
    #[serde(rename = "scanFinishedOn", default)]
    pub scan_finished_on: String,
}

/// One finding: its id, its severities, and annotations holding (among others) its `verdict`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Finding {
    #[serde(default)]
    pub id: Value,
    #[serde(default)]
    pub severity: Vec<Severity>,
    #[serde(default)]
    pub annotations: Vec<BTreeMap<String, Value>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Severity {
    #[serde(default)]
    pub method: String,
    #[serde(default)]
    pub score: String,
}

impl Finding {
    /// The first `verdict` annotation that is a string, else "".
    pub fn verdict(&self) -> &str {
        self.annotations
            .iter()
            .find_map(|a| a.get("verdict").and_then(Value::as_str))
            .unwrap_or("")
    }
}

/// `predicate.relsign`: the gate's result, the databases and the report it names, and how
/// many packages were matched against how many records.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VulnsVerdict {
    #[serde(default)]
    pub result: Value,
    #[serde(default)]
    pub databases: Vec<Descriptor>,
    #[serde(default)]
    pub report: Descriptor,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packages: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<u64>,
}

/// The Sigstore bundle v0.3 JSON form (protobuf JSON mapping). Fields relsign does not read
/// (`tlogEntries`, a certificate) are kept as they are when read and not declared.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BundleJson {
    #[serde(
        rename = "dsseEnvelope",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub dsse_envelope: Option<EnvelopeJson>,
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    #[serde(
        rename = "messageSignature",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub message_signature: Option<MessageSignatureJson>,
    #[serde(rename = "verificationMaterial", default)]
    pub verification_material: VerificationMaterial,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VerificationMaterial {
    #[serde(rename = "publicKey", default)]
    pub public_key: PublicKeyHint,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PublicKeyHint {
    pub hint: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MessageSignatureJson {
    #[serde(rename = "messageDigest", default)]
    pub message_digest: MessageDigestJson,
    pub signature: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MessageDigestJson {
    #[serde(default)]
    pub algorithm: String,
    pub digest: Option<String>,
}

/// Display a string field as the JSON it was read from (`"x"`, or `null` when missing).
pub fn shown(s: Option<&str>) -> String {
    serde_json::to_string(&s).expect("json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_statement_has_the_shape_the_signers_wrote_by_hand() {
        let d = Sha256Hex::of(b"x");
        let st = Statement::new(
            vec![Descriptor::file("a.whl", &d)],
            "https://example.org/p",
            serde_json::json!({"k": 1}),
        );
        let by_hand = serde_json::json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "a.whl", "digest": {"sha256": d.as_str()}}],
            "predicateType": "https://example.org/p",
            "predicate": {"k": 1},
        });
        assert_eq!(
            crate::model::canonical_json(&st.to_value()),
            crate::model::canonical_json(&by_hand)
        );
    }
    use crate::attest::bundle::{Bundle, Content, BUNDLE_MEDIA_TYPE};
    use crate::attest::statement::{publish_statement, PEP740_PUBLISH_V1};
    use crate::dsse::{b64, Envelope, INTOTO_PAYLOAD_TYPE};
    use crate::model::STATEMENT_TYPE;
    use serde_json::json;

    #[test]
    fn typed_documents_serialize_to_the_bytes_written_before() {
        // The publish statement, as it was built with `json!`.
        let sha = Sha256Hex::of(b"wheel");
        let old = json!({
            "_type": STATEMENT_TYPE,
            "subject": [{"name": "a.whl", "digest": {"sha256": sha}}],
            "predicateType": PEP740_PUBLISH_V1,
            "predicate": null,
        });
        assert_eq!(
            crate::model::canonical_json(&publish_statement("a.whl", &sha)),
            crate::model::canonical_json(&old)
        );
        // Both kinds of bundle.
        let key = crate::keys::SecretKey::generate().unwrap();
        let mut env = Envelope::new(INTOTO_PAYLOAD_TYPE, b"{}".to_vec());
        env.sign(&key);
        let id = key.public().key_id().to_string();
        let b = Bundle::dsse(&env, &id).unwrap();
        let mut v = json!({
            "mediaType": BUNDLE_MEDIA_TYPE,
            "verificationMaterial": {"publicKey": {"hint": id}},
        });
        v["dsseEnvelope"] = serde_json::to_value(env.to_json_value()).unwrap();
        let mut want = serde_json::to_vec_pretty(&v).unwrap();
        want.push(b'\n');
        assert_eq!(b.to_json(), want);
        assert_eq!(Bundle::from_json(&want).unwrap(), b);
        let m = Bundle {
            hint: id.clone(),
            content: Content::Message {
                sha256: vec![7; 32],
                signature: vec![9; 64],
            },
        };
        let v = json!({
            "mediaType": BUNDLE_MEDIA_TYPE,
            "verificationMaterial": {"publicKey": {"hint": id}},
            "messageSignature": {
                "messageDigest": {"algorithm": "SHA2_256", "digest": b64(&[7; 32])},
                "signature": b64(&[9; 64]),
            },
        });
        let mut want = serde_json::to_vec_pretty(&v).unwrap();
        want.push(b'\n');
        assert_eq!(m.to_json(), want);
        assert_eq!(Bundle::from_json(&want).unwrap(), m);
    }

    #[test]
    fn statements_keep_the_strict_reader_and_name_missing_fields() {
        use crate::attest::statement::{parse_provenance, parse_publish};
        let e = parse_publish(br#"{"_type":"x","_type":"y"}"#).unwrap_err();
        assert!(e.contains("duplicate key \"_type\""), "{e}");
        let e = parse_publish(
            br#"{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://docs.pypi.org/attestations/publish/v1","subject":[{"digest":{}}]}"#,
        )
        .unwrap_err();
        assert_eq!(e, "subject[0].name: missing");
        let e = parse_provenance(br#"{"predicateType":"p"}"#).unwrap_err();
        assert_eq!(e, "/_type: missing or not a string");
        let e =
            parse_provenance(br#"{"_type":"https://in-toto.io/Statement/v1","predicateType":"p"}"#)
                .unwrap_err();
        assert_eq!(
            e,
            "predicateType: expected=https://slsa.dev/provenance/v1, got=p"
        );
    }
}
