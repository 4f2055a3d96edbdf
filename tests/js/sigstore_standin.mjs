// Local stand-ins of Fulcio and Rekor for relsign's keyless tests, on loopback: npm's
// @sigstore/mock makes the real certificates (with an embedded SCT from a mock CT log) and
// the real log entries (SET and inclusion proof); this wraps its handlers in an HTTP server.
//
// usage: node sigstore_standin.mjs TRUSTED_ROOT_OUT
// Listens on 127.0.0.1 (a free port), writes the Sigstore trusted root naming its CA, CT log
// and transparency log to TRUSTED_ROOT_OUT, then prints "listening http://127.0.0.1:PORT".
// Serves POST /api/v2/signingCert (Fulcio) and POST /api/v1/log/entries (Rekor) until killed.
import { createServer } from 'node:http';
import { generateKeyPairSync, createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import {
  initializeCA, initializeCTLog, fulcioHandler, initializeTLog, rekorHandler,
} from '@sigstore/mock';

const [out] = process.argv.slice(2);
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
