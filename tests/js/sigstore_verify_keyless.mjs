// sigstore-js (@sigstore/verify) verifies relsign's keyless bundles: the certificate chains to
// the trusted root's CA and carries a valid SCT from its CT log, the transparency-log entry's
// promise, inclusion proof and body verify, the DSSE signature verifies with the certificate's
// key at the log's integrated time, and the signer's SAN and OIDC issuer are the ones given.
//
// usage: node sigstore_verify_keyless.mjs TRUSTED_ROOT ISSUER SUBJECT BUNDLE [BUNDLE ...]
// Prints "ok: sigstore-js verified N keyless bundle(s) by SUBJECT"; exits 1 naming the first
// bundle refused.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';

const [rootFile, issuer, subject, ...bundles] = process.argv.slice(2);
if (bundles.length === 0) {
  console.error('usage: sigstore_verify_keyless.mjs TRUSTED_ROOT ISSUER SUBJECT BUNDLE...');
  process.exit(2);
}
const root = TrustedRoot.fromJSON(JSON.parse(readFileSync(rootFile, 'utf8')));
const verifier = new Verifier(toTrustMaterial(root), {
  tlogThreshold: 1, ctlogThreshold: 1, timestampThreshold: 1,
});
const policy = { subjectAlternativeName: subject, extensions: { issuer } };
for (const path of bundles) {
  try {
    const bundle = bundleFromJSON(JSON.parse(readFileSync(path, 'utf8')));
    if (bundle.verificationMaterial.content.$case !== 'certificate') {
      throw new Error('not a keyless bundle (no certificate)');
    }
    verifier.verify(toSignedEntity(bundle), policy);
  } catch (e) {
    console.error(`refused: ${basename(path)}: ${e.code ?? ''} ${e.message}`);
    process.exit(1);
  }
}
console.log(`ok: sigstore-js verified ${bundles.length} keyless bundle(s) by ${subject}`);
