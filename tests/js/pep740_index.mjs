// A PyPI-style index stand-in that checks PEP 740 attestations, for relsign's keyless tests.
//
// usage: node pep740_index.mjs TRUSTED_ROOT ISSUER SUBJECT
// Listens on 127.0.0.1 (a free port) and prints "listening http://127.0.0.1:PORT".
//   POST /            the legacy upload API (multipart/form-data, :action=file_upload). An
//                     upload must carry `attestations`: a JSON list of exactly one PEP 740
//                     attestation, verified with sigstore-js against TRUSTED_ROOT and the
//                     identity (SAN SUBJECT, OIDC issuer ISSUER), whose statement is PEP 740's
//                     publish/v1 with one subject: the uploaded file's name and SHA-256.
//                     Answers 400 naming what failed; else stores the file.
//   GET /simple/P/    the PEP 503 project page (links with #sha256=).
//   GET /files/F      a stored file.
//   GET /report       {"verified": [...], "refused": [...]} as JSON.
import { createServer } from 'node:http';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';

const [rootFile, issuer, subject] = process.argv.slice(2);
const root = TrustedRoot.fromJSON(JSON.parse(readFileSync(rootFile, 'utf8')));
const verifier = new Verifier(toTrustMaterial(root), {
  tlogThreshold: 1, ctlogThreshold: 1, timestampThreshold: 1,
});
const PUBLISH_V1 = 'https://docs.pypi.org/attestations/publish/v1';
const files = new Map();
const report = { verified: [], refused: [] };
const normalize = (n) => n.toLowerCase().replace(/[-_.]+/g, '-');

// One attestation against the uploaded file; throws naming what is wrong.
function check(att, filename, sha256) {
  if (att.version !== 1) throw new Error(`version ${att.version}, expected 1`);
  const vm = att.verification_material ?? {};
  const bundle = bundleFromJSON({
    mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
    verificationMaterial: {
      certificate: { rawBytes: vm.certificate },
      tlogEntries: vm.transparency_entries ?? [],
      timestampVerificationData: { rfc3161Timestamps: [] },
    },
    dsseEnvelope: {
      payload: att.envelope?.statement,
      payloadType: 'application/vnd.in-toto+json',
      signatures: [{ sig: att.envelope?.signature, keyid: '' }],
    },
  });
  verifier.verify(toSignedEntity(bundle), {
    subjectAlternativeName: subject, extensions: { issuer },
  });
  const st = JSON.parse(Buffer.from(att.envelope.statement, 'base64').toString('utf8'));
  if (st._type !== 'https://in-toto.io/Statement/v1') throw new Error(`_type ${st._type}`);
  if (st.predicateType !== PUBLISH_V1) throw new Error(`predicateType ${st.predicateType}`);
  if (st.subject?.length !== 1) throw new Error('expected exactly one subject');
  const [s] = st.subject;
  if (s.name !== filename || s.digest?.sha256 !== sha256) {
    throw new Error(`subject ${s.name} sha256:${s.digest?.sha256}, uploaded ${filename} sha256:${sha256}`);
  }
  return vm.transparency_entries[0].logIndex;
}

async function upload(req, body) {
  const form = await new Request('http://index/', {
    method: 'POST', headers: { 'content-type': req.headers['content-type'] }, body,
  }).formData();
  const content = form.get('content');
  const filename = content.name;
  const bytes = Buffer.from(await content.arrayBuffer());
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  try {
    if (form.get(':action') !== 'file_upload') throw new Error('not a file_upload');
    if (form.get('sha256_digest') !== sha256) throw new Error('sha256_digest is not the file\'s');
    const raw = form.get('attestations');
    if (raw === null) throw new Error('no attestations field');
    const atts = JSON.parse(raw);
    if (!Array.isArray(atts) || atts.length !== 1) throw new Error('attestations: expected a list of one');
    const logIndex = check(atts[0], filename, sha256);
    files.set(filename, { project: normalize(form.get('name')), bytes, sha256 });
    report.verified.push({ file: filename, sha256, subject, issuer, logIndex });
    return [200, 'OK\n'];
  } catch (e) {
    report.refused.push({ file: filename, reason: `${e.code ?? ''} ${e.message}`.trim() });
    return [400, `attestation refused: ${e.code ?? ''} ${e.message}\n`];
  }
}

function page(project) {
  const links = [...files.entries()].filter(([, f]) => f.project === project)
    .map(([n, f]) => `<a href="/files/${encodeURIComponent(n)}#sha256=${f.sha256}">${n}</a><br/>`);
  return links.length ? `<!DOCTYPE html><html><body>\n${links.join('\n')}\n</body></html>\n` : null;
}

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    const url = new URL(req.url, 'http://index');
    let m;
    if (req.method === 'POST' && url.pathname === '/') {
      const [status, text] = await upload(req, Buffer.concat(chunks));
      res.writeHead(status, { 'content-type': 'text/plain' }).end(text);
    } else if (req.method === 'GET' && url.pathname === '/report') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(report));
    } else if (req.method === 'GET' && url.pathname === '/simple/') {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body></body></html>\n');
    } else if (req.method === 'GET' && (m = url.pathname.match(/^\/simple\/([^/]+)\/$/)) && page(normalize(m[1]))) {
      res.writeHead(200, { 'content-type': 'text/html' }).end(page(normalize(m[1])));
    } else if (req.method === 'GET' && (m = url.pathname.match(/^\/files\/([^/]+)$/)) && files.has(decodeURIComponent(m[1]))) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(files.get(decodeURIComponent(m[1])).bytes);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
});
server.listen(0, '127.0.0.1', () => {
  console.log(`listening http://127.0.0.1:${server.address().port}`);
});
