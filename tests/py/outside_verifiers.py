"""Outside verifiers for a signed relsign release (run by tests/sign_verify.rs in the test venv).

usage: outside_verifiers.py RELEASE_DIR PUBKEY.pem [PUBKEY.pem ...]

* securesystemslib verifies the DSSE envelope with every given Ed25519 public key
  (threshold = number of keys), key ids as relsign computes them;
* the in-toto attestation models validate the statement (Statement v1, every
  ResourceDescriptor) and the SLSA provenance v1 predicate parses into its proto
  with no unknown field;
* sigstore-protobuf-specs parses every bundle, and its DSSE / message-signature
  content is checked against the envelope and the artifact files;
* cryptography verifies each signature: DSSE bundles over the PAE (an artifact's carries a
  PEP 740 publish statement naming the file and the SHA-256 computed here), and legacy
  message-signature bundles over the artifact bytes.
Prints one "ok: ..." line per check; raises on the first failure.
"""
import base64

import betterproto
import glob
import hashlib
import json
import os
import sys

from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)
from google.protobuf import json_format
from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.resource_descriptor import ResourceDescriptor
from in_toto_attestation.v1.statement import Statement
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey
from sigstore_protobuf_specs.dev.sigstore.bundle.v1 import Bundle

rel, pubs = sys.argv[1], sys.argv[2:]
keys = {}
for p in pubs:
    k = load_pem_public_key(open(p, "rb").read())
    der = k.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    kid = base64.b64encode(hashlib.sha256(der).digest()).decode()
    keys[kid] = (k, SSlibKey.from_crypto(k, keyid=kid, scheme="ed25519"))

env_json = json.load(open(os.path.join(rel, "attestations/provenance.dsse.json")))
env = Envelope.from_dict(env_json)
verified = env.verify([v[1] for v in keys.values()], len(keys))
assert set(verified) == set(keys), verified
print(f"ok: securesystemslib verified the DSSE envelope with {len(verified)} key(s)")

payload = base64.b64decode(env_json["payload"])
st = json.loads(payload)
pb = json_format.Parse(payload, statement_pb2.Statement())
Statement.copy_from_pb(pb).validate()
for rd in st["predicate"]["buildDefinition"]["resolvedDependencies"]:
    ResourceDescriptor.copy_from_pb(
        json_format.ParseDict(rd, ResourceDescriptor("").pb.__class__())
    ).validate()
for rd in st["predicate"]["runDetails"]["byproducts"]:
    ResourceDescriptor.copy_from_pb(
        json_format.ParseDict(rd, ResourceDescriptor("").pb.__class__())
    ).validate()
prov = json_format.ParseDict(st["predicate"], provenance_pb2.Provenance())
assert prov.build_definition.build_type, "buildType"
assert prov.run_details.builder.id, "builder.id"
assert st["predicateType"] == "https://slsa.dev/provenance/v1"
print(
    f"ok: in-toto attestation models validated the statement "
    f"({len(st['subject'])} subjects, "
    f"{len(prov.build_definition.resolved_dependencies)} resolved dependencies)"
)

release = json.load(open(os.path.join(rel, "release.json")))
files = {a["file"]: a for a in release["artifacts"]}
n = 0
statements_checked = 0
for path in sorted(glob.glob(os.path.join(rel, "attestations/*.sigstore.json"))):
    raw = open(path).read()
    b = Bundle.from_dict(json.loads(raw))
    assert b.media_type == "application/vnd.dev.sigstore.bundle.v0.3+json", b.media_type
    hint = b.verification_material.public_key.hint
    assert hint in keys, (path, hint)
    pk = keys[hint][0]
    which, _ = betterproto.which_one_of(b, "content")
    if which == "dsse_envelope":
        assert len(b.dsse_envelope.signatures) == 1, path
        assert b.dsse_envelope.signatures[0].keyid == hint, path
        # The statement this bundle carries: the provenance, or the named statement beside it
        # (test result, SBOM attestations), whose own envelope must hold the same payload.
        stem = os.path.basename(path)[: -len(".0123456789abcdef.sigstore.json")]
        if stem == "provenance":
            expected = payload
        elif os.path.isfile(os.path.join(rel, stem)):
            # An artifact's publish statement (PEP 740's shape): it names this file and the
            # SHA-256 computed here from its bytes.
            expected = b.dsse_envelope.payload
            st = json.loads(expected)
            assert st["predicateType"] == "https://docs.pypi.org/attestations/publish/v1", path
            assert st["predicate"] is None, path
            data = open(os.path.join(rel, stem), "rb").read()
            assert st["subject"] == [
                {"name": stem, "digest": {"sha256": hashlib.sha256(data).hexdigest()}}
            ], path
            # in-toto's Statement proto parses it (unknown fields refused); its validate() wants
            # a predicate object, which PEP 740's publish statement leaves null, so the fields
            # are checked above instead.
            pb = json_format.Parse(expected, statement_pb2.Statement())
            assert pb.type == "https://in-toto.io/Statement/v1", path
            statements_checked += 1
        else:
            other = json.load(open(os.path.join(rel, "attestations", stem + ".dsse.json")))
            expected = base64.b64decode(other["payload"])
            # in-toto's models validate the statement (test result, CycloneDX, SPDX).
            Statement.copy_from_pb(json_format.Parse(expected, statement_pb2.Statement())).validate()
            statements_checked += 1
        assert b.dsse_envelope.payload == expected, path
        pae = b"DSSEv1 %d %s %d %s" % (
            len(b.dsse_envelope.payload_type),
            b.dsse_envelope.payload_type.encode(),
            len(expected),
            expected,
        )
        pk.verify(b.dsse_envelope.signatures[0].sig, pae)
    else:
        ms = b.message_signature
        name = os.path.basename(path)[: -len(".0123456789abcdef.sigstore.json")]
        data = open(os.path.join(rel, name), "rb").read()
        assert ms.message_digest.digest == hashlib.sha256(data).digest(), path
        pk.verify(ms.signature, data)
    n += 1
print(f"ok: sigstore-protobuf-specs parsed {n} bundle(s); every signature verified")
print(f"ok: in-toto attestation models validated {statements_checked} test-result/SBOM/publish statement bundle(s)")
