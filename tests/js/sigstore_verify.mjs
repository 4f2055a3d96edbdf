// sigstore-js (@sigstore/verify) verifies every Sigstore bundle of a relsign release with the
// given Ed25519 public keys (the bundles name their key by hint; there is no Fulcio
// certificate, transparency log entry or timestamp, so those thresholds are 0).
//
// usage: node sigstore_verify.mjs RELEASE_DIR KEY.pub [KEY.pub ...]
// Prints "ok: sigstore-js verified N bundle(s)"; exits 1 naming the first bundle refused.
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
const root = TrustedRoot.fromJSON({
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
const verifier = new Verifier(toTrustMaterial(root, finder), {
  tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0,
});
const att = join(rel, 'attestations');
let n = 0;
for (const name of readdirSync(att).filter((f) => f.endsWith('.sigstore.json')).sort()) {
  const bundle = bundleFromJSON(JSON.parse(readFileSync(join(att, name), 'utf8')));
  // A message-signature bundle signs an artifact's bytes: hand them over.
  const stem = name.slice(0, -'.0123456789abcdef.sigstore.json'.length);
  const artifact = bundle.content.$case === 'messageSignature' && existsSync(join(rel, stem))
    ? readFileSync(join(rel, stem)) : undefined;
  try {
    verifier.verify(toSignedEntity(bundle, artifact));
  } catch (e) {
    console.error(`refused: ${name}: ${e.code ?? ''} ${e.message}`);
    process.exit(1);
  }
  n += 1;
}
console.log(`ok: sigstore-js verified ${n} bundle(s)`);
