"""Outside check of a release's vulnerability attestation (run by tests/policy.rs in the test venv).

usage: vulns_attestation.py RELEASE_DIR PUBKEY.pem [PUBKEY.pem ...]

* securesystemslib verifies attestations/vulns.dsse.json with every given Ed25519 public key
  (threshold = number of keys), key ids as relsign computes them;
* the in-toto attestation models validate the statement (Statement v1, every subject);
* the predicate has the fields the vulns v0.1 predicate requires (scanner.uri, scanner.db
  .lastUpdate, scanner.result with an id and a severity list per entry, metadata
  .scanStartedOn/.scanFinishedOn), its subjects are release.json's artifacts, and the report
  it names has the sha256 computed here from scan/vulnerabilities.json.
Prints one "ok: ..." line per check; raises on the first failure.
"""
import base64
import hashlib
import json
import os
import sys
from datetime import datetime

from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)
from google.protobuf import json_format
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey

rel, pubs = sys.argv[1], sys.argv[2:]
keys = []
for p in pubs:
    k = load_pem_public_key(open(p, "rb").read())
    der = k.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    kid = base64.b64encode(hashlib.sha256(der).digest()).decode()
    keys.append(SSlibKey.from_crypto(k, keyid=kid, scheme="ed25519"))

env_json = json.load(open(os.path.join(rel, "attestations/vulns.dsse.json")))
env = Envelope.from_dict(env_json)
verified = env.verify(keys, len(keys))
assert len(verified) == len(keys), verified
print(f"ok: securesystemslib verified attestations/vulns.dsse.json with {len(verified)} key(s)")

payload = base64.b64decode(env_json["payload"])
st = json.loads(payload)
Statement.copy_from_pb(json_format.Parse(payload, statement_pb2.Statement())).validate()
print(f"ok: in-toto attestation models validated the vulns statement ({len(st['subject'])} subjects)")

assert st["predicateType"] == "https://in-toto.io/attestation/vulns/v0.1", st["predicateType"]
release = json.load(open(os.path.join(rel, "release.json")))
want = sorted((a["file"], a["sha256"]) for a in release["artifacts"])
got = sorted((s["name"], s["digest"]["sha256"]) for s in st["subject"])
assert got == want, (got, want)
pred = st["predicate"]
scanner = pred["scanner"]
assert isinstance(scanner["uri"], str) and scanner["uri"], "scanner.uri"
datetime.fromisoformat(scanner["db"]["lastUpdate"].replace("Z", "+00:00"))
assert isinstance(scanner["result"], list), "scanner.result"
for r in scanner["result"]:
    assert isinstance(r["id"], str) and r["id"], r
    for sev in r["severity"]:
        assert isinstance(sev["method"], str) and isinstance(sev["score"], str), r
for k in ("scanStartedOn", "scanFinishedOn"):
    datetime.fromisoformat(pred["metadata"][k].replace("Z", "+00:00"))
report = pred["relsign"]["report"]
data = open(os.path.join(rel, report["name"]), "rb").read()
assert report["digest"]["sha256"] == hashlib.sha256(data).hexdigest(), report
assert pred["relsign"]["result"] == "PASSED", pred["relsign"]["result"]
print(
    f"ok: the predicate has the vulns v0.1 fields; {len(scanner['result'])} result(s); "
    "the report's sha256 matches"
)
