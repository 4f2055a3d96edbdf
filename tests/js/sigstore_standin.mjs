// Local stand-ins of Fulcio and Rekor for relsign's keyless tests, on loopback: npm's
// @sigstore/mock makes the real certificates (with an embedded SCT from a mock CT log) and
// the real log entries (SET and inclusion proof); this wraps its handlers in an HTTP server.
//
// A Rekor `dsse` 0.0.1 proposed entry (spec.proposedContent: the envelope as a JSON string and
// the signers' keys or certificates, base64 of PEM) is turned into the entry Rekor stores before
// it is logged, as Rekor does (its dsse type, from the schema's description): every envelope
// signature must verify over the DSSE PAE with one of the keys; the stored spec holds
// envelopeHash (SHA-256 of the envelope string), payloadHash (SHA-256 of the decoded payload)
// and signatures (each with its key, sorted by signature). The mock alone would log the
// proposed entry as it came.
//
// usage: node sigstore_standin.mjs TRUSTED_ROOT_OUT
// Listens on 127.0.0.1 (a free port), writes the Sigstore trusted root naming its CA, CT log
// and transparency log to TRUSTED_ROOT_OUT, then prints "listening http://127.0.0.1:PORT".
// Serves POST /api/v2/signingCert (Fulcio) and POST /api/v1/log/entries (Rekor) until killed.
import { createServer } from 'node:http';
import { generateKeyPairSync, createHash, createPublicKey, verify, X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import {
  initializeCA, initializeCTLog, fulcioHandler, initializeTLog, rekorHandler,
} from '@sigstore/mock';

const [out] = process.argv.slice(2);
const sha256 = (b) => createHash('sha256').update(b).digest('hex');

// The stored form of a proposed dsse entry; throws when a signature does not verify.
function dsseEntry(proposed) {
  const { envelope, publicKeys } = proposed.spec.proposedContent;
  const env = JSON.parse(envelope);
  const payload = Buffer.from(env.payload, 'base64');
  const type = Buffer.from(env.payloadType, 'utf8');
  const pae = Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload,
  ]);
  const keyOf = (b64) => {
    const pem = Buffer.from(b64, 'base64').toString('utf8');
    return pem.includes('CERTIFICATE') ? new X509Certificate(pem).publicKey : createPublicKey(pem);
  };
  const signatures = env.signatures.map(({ sig }) => {
    const key = publicKeys.find((k) => verify('sha256', pae, keyOf(k), Buffer.from(sig, 'base64')));
    if (!key) throw new Error('a signature of the envelope verifies with none of the keys');
    return { signature: sig, publicKey: key };
  }).sort((a, b) => (a.signature < b.signature ? -1 : 1));
  return {
    apiVersion: proposed.apiVersion,
    kind: 'dsse',
    spec: {
      envelopeHash: { algorithm: 'sha256', value: sha256(Buffer.from(envelope, 'utf8')) },
      payloadHash: { algorithm: 'sha256', value: sha256(payload) },
      signatures,
    },
  };
}
const ec = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const caKeys = ec();
const tlogKeys = ec();
const routes = {};
const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    const h = req.method === 'POST' ? routes[req.url] : undefined;
    if (!h) {
      res.writeHead(404).end(`no route ${req.method} ${req.url}\n`);
      return;
    }
    const r = await h.fn(Buffer.concat(chunks).toString('utf8'));
    res.writeHead(r.statusCode, { 'content-type': r.contentType ?? 'text/plain' });
    res.end(r.response);
  });
});
server.listen(0, '127.0.0.1', async () => {
  const url = `http://127.0.0.1:${server.address().port}`;
  const ctlog = await initializeCTLog(caKeys);
  const ca = await initializeCA(caKeys, ctlog);
  const tlog = await initializeTLog(url, tlogKeys);
  for (const h of [fulcioHandler(ca), rekorHandler(tlog)]) routes[h.path] = h;
  const rekor = routes['/api/v1/log/entries'].fn;
  routes['/api/v1/log/entries'] = {
    fn: async (body) => {
      let proposed;
      try {
        proposed = JSON.parse(body);
        if (proposed.kind === 'dsse' && proposed.spec?.proposedContent) proposed = dsseEntry(proposed);
      } catch (e) {
        return { statusCode: 400, response: `${e.message}\n` };
      }
      return rekor(JSON.stringify(proposed));
    },
  };
  const spki = (k) => k.publicKey.export({ format: 'der', type: 'spki' });
  const key = (k) => ({
    rawBytes: spki(k).toString('base64'),
    keyDetails: 'PKIX_ECDSA_P256_SHA_256',
    validFor: { start: '1970-01-01T00:00:00Z' },
  });
  const logId = (k) => ({ keyId: createHash('sha256').update(spki(k)).digest('base64') });
  const root = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [{ baseUrl: url, hashAlgorithm: 'SHA2_256', publicKey: key(tlogKeys), logId: logId(tlogKeys) }],
    certificateAuthorities: [{
      subject: { organization: 'sigstore.mock', commonName: 'sigstore' },
      uri: url,
      certChain: { certificates: [{ rawBytes: ca.rootCertificate.toString('base64') }] },
      validFor: { start: '1970-01-01T00:00:00Z' },
    }],
    ctlogs: [{ baseUrl: url, hashAlgorithm: 'SHA2_256', publicKey: key(caKeys), logId: logId(caKeys) }],
    timestampAuthorities: [],
  };
  writeFileSync(out, JSON.stringify(root, null, 2));
  console.log(`listening ${url}`);
});
