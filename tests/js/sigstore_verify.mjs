// sigstore-js (@sigstore/verify) verifies every Sigstore bundle of a relsign release with the
// given Ed25519 public keys (the bundles name their key by hint; there is no Fulcio
// certificate or timestamp, so those thresholds are 0).
//
// With $SIGSTORE_TRUSTED_ROOT (a trusted root JSON, e.g. `relsign log trusted-root`), its
// transparency logs are trusted: every tlog entry a bundle carries is verified (checkpoint
// signature, inclusion proof, body against the bundle), and a provenance bundle without one
// is refused (tlog threshold 1 for provenance bundles).
//
// usage: node sigstore_verify.mjs RELEASE_DIR KEY.pub [KEY.pub ...]
// Prints "ok: sigstore-js verified N bundle(s), M tlog entr(ies)"; exits 1 naming the first
// bundle refused.
import { createPublicKey, createHash } from 'node:crypto';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';

const [rel, ...pubs] = process.argv.slice(2);
// relsign's key id: sha256 of the SubjectPublicKeyInfo DER, hex.
const keys = {};
for (const p of pubs) {
  const key = createPublicKey(readFileSync(p));
  const id = createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest('hex');
  keys[id] = key;
}
const rootFile = process.env.SIGSTORE_TRUSTED_ROOT;
const root = TrustedRoot.fromJSON(rootFile ? JSON.parse(readFileSync(rootFile, 'utf8')) : {
  mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
  tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: [],
});
// sigstore-js hands the finder the hint it read; seen here as the base64 of the 32 bytes the
// hex key id spells, so both spellings are looked up.
const finder = (hint) => {
  const hex = /^[0-9a-f]{64}$/.test(hint) ? hint : Buffer.from(hint, 'base64').toString('hex');
  if (!keys[hex]) throw new Error(`no key for hint ${hint}`);
  return { publicKey: keys[hex], validFor: () => true };
};
const material = toTrustMaterial(root, finder);
const verifier = new Verifier(material, {
  tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0,
});
const logged = new Verifier(material, {
  tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: 0,
});
const att = join(rel, 'attestations');
let n = 0;
let tlog = 0;
for (const name of readdirSync(att).filter((f) => f.endsWith('.sigstore.json')).sort()) {
  const bundle = bundleFromJSON(JSON.parse(readFileSync(join(att, name), 'utf8')));
  // A message-signature bundle signs an artifact's bytes: hand them over.
  const stem = name.slice(0, -'.0123456789abcdef.sigstore.json'.length);
  const artifact = bundle.content.$case === 'messageSignature' && existsSync(join(rel, stem))
    ? readFileSync(join(rel, stem)) : undefined;
  try {
    const v = rootFile && name.startsWith('provenance.') ? logged : verifier;
    v.verify(toSignedEntity(bundle, artifact));
  } catch (e) {
    console.error(`refused: ${name}: ${e.code ?? ''} ${e.message}`);
    process.exit(1);
  }
  n += 1;
  tlog += bundle.verificationMaterial.tlogEntries.length;
}
console.log(`ok: sigstore-js verified ${n} bundle(s), ${tlog} tlog entr${tlog === 1 ? 'y' : 'ies'}`);
