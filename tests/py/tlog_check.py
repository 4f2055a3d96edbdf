"""An independent checker of relsign's transparency log, written from the C2SP texts
(signed-note, tlog-checkpoint, tlog-tiles, tlog-proof) and RFC 6962 (run by tests/tlog.rs in
the test venv; it shares no code with relsign).

usage: tlog_check.py LOG_DIR ORIGIN LOG_PUBKEY.pem [RELEASE_DIR ...]

* the checkpoint is a signed note with an Ed25519 signature (type 0x01) by the log key, key
  ID = SHA-256(origin || 0x0A || 0x01 || public key)[:4]; its text is origin, size, root;
* every entry bundle and every hash tile the tree of that size has is read: each entry's
  RFC 6962 leaf hash equals the level-0 tile's, each hash of a level L+1 tile is the tree
  hash of the full level-L tile below it, and the tree hash of all leaves (RFC 6962 MTH,
  computed from its recursive definition) is the checkpoint's root;
* each RELEASE_DIR/attestations/*.tlog-proof is a tlog-proof whose checkpoint verifies with the
  log key, whose inclusion proof leads from the entry at its index to that checkpoint's root
  (recomputed with RFC 6962's recursive PATH structure), whose root is the tree hash of the
  log's first `size` leaves, and whose entry names the release, the SHA-256 of its provenance
  payload and a key id that signed that envelope.
Prints one "ok: ..." line per check; exits 1 naming the first failure.
"""
import base64
import glob
import hashlib
import json
import os
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)


class Bad(Exception):
    pass


def b64(s):
    try:
        raw = base64.b64decode(s, validate=True)
    except Exception as e:
        raise Bad(f"not standard base64: {s!r}: {e}")
    if base64.b64encode(raw).decode() != s:
        raise Bad(f"not canonical base64: {s!r}")
    return raw


def leaf(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node(l, r):
    return hashlib.sha256(b"\x01" + l + r).digest()


def largest_pow2_below(n):
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(hashes):
    if len(hashes) == 0:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = largest_pow2_below(len(hashes))
    return node(mth(hashes[:k]), mth(hashes[k:]))


def open_note(data, name, pub):
    """The signed text of a note, or Bad."""
    try:
        s = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Bad("note: not UTF-8")
    if any(ord(c) < 0x20 and c != "\n" for c in s):
        raise Bad("note: a control character")
    if not s.endswith("\n"):
        raise Bad("note: does not end with a newline")
    cut = s[:-1].rfind("\n\n")
    if cut < 0:
        raise Bad("note: no blank line before the signatures")
    text, sigs = s[: cut + 1], s[cut + 2 :]
    raw = pub.public_bytes(Encoding.Raw, PublicFormat.Raw)
    kid = hashlib.sha256(name.encode() + b"\n\x01" + raw).digest()[:4]
    good = 0
    for line in sigs[:-1].split("\n"):
        if not line.startswith("\u2014 "):
            raise Bad(f"note: signature line {line!r} does not start with an em dash")
        n, _, sig = line[2:].partition(" ")
        blob = b64(sig)
        if n != name or blob[:4] != kid:
            continue
        if good:
            raise Bad("note: two signatures by the log key")
        try:
            pub.verify(blob[4:], text.encode())
        except InvalidSignature:
            raise Bad("note: the log key's signature does not verify")
        good += 1
    if not good:
        raise Bad("note: no signature by the log key")
    return text


def parse_checkpoint(text, origin):
    lines = text[:-1].split("\n")
    if len(lines) != 3:
        raise Bad(f"checkpoint: {len(lines)} lines")
    if lines[0] != origin:
        raise Bad(f"checkpoint: origin {lines[0]!r}, expected {origin!r}")
    if not lines[1].isdigit() or (len(lines[1]) > 1 and lines[1][0] == "0"):
        raise Bad(f"checkpoint: size {lines[1]!r}")
    root = b64(lines[2])
    if len(root) != 32:
        raise Bad("checkpoint: root is not 32 bytes")
    return int(lines[1]), root


def index_path(n):
    parts = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        parts.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(parts))


def read(log, rel, width, unit=None):
    path = os.path.join(log, rel if width == 256 else f"{rel}.p/{width}")
    with open(path, "rb") as f:
        data = f.read()
    if unit is not None and len(data) != unit * width:
        raise Bad(f"{path}: {len(data)} bytes, expected {unit * width}")
    return path, data


def read_entries(log, size):
    entries = []
    for n in range((size + 255) // 256):
        width = min(256, size - n * 256)
        path, data = read(log, f"tile/entries/{index_path(n)}", width)
        got = []
        while data:
            if len(data) < 2:
                raise Bad(f"{path}: truncated")
            ln = int.from_bytes(data[:2], "big")
            if len(data) < 2 + ln:
                raise Bad(f"{path}: truncated entry")
            got.append(data[2 : 2 + ln])
            data = data[2 + ln :]
        if len(got) != width:
            raise Bad(f"{path}: {len(got)} entries, expected {width}")
        entries.extend(got)
    return entries


def check_tiles(log, size, leaves):
    """Every tile of the tree of `size` leaves, level by level, against the leaves."""
    level_hashes, level, count = leaves, 0, size
    while count > 0:
        tiles = 0
        for n in range((count + 255) // 256):
            width = min(256, count - n * 256)
            path, data = read(log, f"tile/{level}/{index_path(n)}", width, 32)
            want = b"".join(level_hashes[n * 256 : n * 256 + width])
            if data != want:
                raise Bad(f"{path}: the hashes differ from the level below")
            tiles += 1
        print(f"ok: level {level}: {tiles} tile(s) match the {count} hash(es) below")
        full = [level_hashes[i : i + 256] for i in range(0, (count // 256) * 256, 256)]
        level_hashes = [mth(t) for t in full]
        count //= 256
        level += 1


def root_from_path(index, size, leaf_hash, path):
    """RFC 6962 §2.1.1 PATH, walked recursively from the root down."""
    if size == 1:
        if path:
            raise Bad("proof: too many hashes")
        return leaf_hash
    if not path:
        raise Bad("proof: too few hashes")
    k = largest_pow2_below(size)
    if index < k:
        return node(root_from_path(index, k, leaf_hash, path[:-1]), path[-1])
    return node(path[-1], root_from_path(index - k, size - k, leaf_hash, path[:-1]))


def check_proof(path, leaves, entries, origin, pub, release):
    with open(path, "rb") as f:
        data = f.read().decode("utf-8")
    head, sep, note = data.partition("\n\n")
    if not sep:
        raise Bad(f"{path}: no blank line")
    lines = head.split("\n")
    if lines[0] != "c2sp.org/tlog-proof@v1":
        raise Bad(f"{path}: header {lines[0]!r}")
    if not lines[1].startswith("index ") or not lines[1][6:].isdigit():
        raise Bad(f"{path}: {lines[1]!r}")
    if len(lines[1]) > 7 and lines[1][6] == "0":
        raise Bad(f"{path}: leading zero in the index")
    index = int(lines[1][6:])
    hashes = [b64(h) for h in lines[2:]]
    if any(len(h) != 32 for h in hashes):
        raise Bad(f"{path}: a hash is not 32 bytes")
    size, root = parse_checkpoint(open_note(note.encode(), origin, pub), origin)
    if index >= size or size > len(leaves):
        raise Bad(f"{path}: index {index}, checkpoint size {size}, log size {len(leaves)}")
    if root_from_path(index, size, leaves[index], hashes) != root:
        raise Bad(f"{path}: the inclusion proof does not lead to the checkpoint's root")
    if mth(leaves[:size]) != root:
        raise Bad(f"{path}: the checkpoint's root is not the log's tree of {size} leaves")
    env = json.load(open(os.path.join(release, "attestations/provenance.dsse.json")))
    payload = base64.b64decode(env["payload"])
    fields = dict(l.split(" ", 1) for l in entries[index].decode().strip().split("\n")[1:])
    rel = json.load(open(os.path.join(release, "release.json")))
    want = {
        "name": rel["name"],
        "version": rel["version"],
        "provenance": "sha256:" + hashlib.sha256(payload).hexdigest(),
    }
    for k, v in want.items():
        if fields.get(k) != v:
            raise Bad(f"{path}: entry {index}: {k} {fields.get(k)!r}, expected {v!r}")
    if fields.get("keyid") not in {s["keyid"] for s in env["signatures"]}:
        raise Bad(f"{path}: entry {index}: key {fields.get('keyid')} did not sign the envelope")
    print(f"ok: {path}: entry {index} ({rel['name']} {rel['version']}) included under the checkpoint of size {size}")


def main():
    log, origin, pubfile, releases = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    pub = load_pem_public_key(open(pubfile, "rb").read())
    with open(os.path.join(log, "checkpoint"), "rb") as f:
        size, root = parse_checkpoint(open_note(f.read(), origin, pub), origin)
    print(f"ok: checkpoint of {origin} signed by the log key: size {size}")
    entries = read_entries(log, size)
    leaves = [leaf(e) for e in entries]
    check_tiles(log, size, leaves)
    if mth(leaves) != root:
        raise Bad("the tree hash of the entries is not the checkpoint's root")
    print(f"ok: the {size} entries hash to the checkpoint's root")
    for r in releases:
        proofs = sorted(glob.glob(os.path.join(r, "attestations/*.tlog-proof")))
        if not proofs:
            raise Bad(f"{r}: no proof")
        for p in proofs:
            check_proof(p, leaves, entries, origin, pub, r)


if __name__ == "__main__":
    try:
        main()
    except (Bad, OSError, ValueError, UnicodeDecodeError, KeyError) as e:
        print(f"refused: {e}")
        sys.exit(1)
