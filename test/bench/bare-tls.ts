// The limit of the mTLS handshake rows (test/bench/mtls.ts): a bare Node HTTPS server on the registry's CA in
// PKI_ROOT_DIR, with a server certificate issued as the mTLS listener issues its own, the same trust anchors, client
// certificates required and verified by OpenSSL, and nothing else: no CRLs, no registry check, no HTTP/2 hand-over.
// GET /healthz answers 200. Prints its URL as one JSON line.
import https from 'node:https';
import { loadConfig } from '../../src/config/load.ts';
import { loadOrCreateCa } from '../../src/pki/ca.ts';
import { issueServerCertificate } from '../../src/pki/server-certificate.ts';

const config = loadConfig();
const ca = await loadOrCreateCa({
  dir: config.pkiRootDir,
  passphrase: config.caKeyPassphrase,
  validityDays: config.caValidityDays,
  trustDomain: config.trustDomain,
  crlUrl: 'http://unused/v1/crl',
});
const serverCertificate = await issueServerCertificate(ca, { hostnames: config.mtlsHostnames, validityDays: 7 });
const server = https.createServer(
  {
    key: serverCertificate.keyPem,
    cert: serverCertificate.chainPem,
    ca: [ca.rootPem, ca.intermediatePem],
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
  },
  (req, res) => {
    res.writeHead(req.url === '/healthz' ? 200 : 404, { 'content-type': 'application/json' });
    res.end('{"status":"ok"}');
  },
);
await new Promise<void>((resolve) => server.listen(config.mtlsPort, config.mtlsHost ?? config.host, resolve));
const bound = server.address();
if (bound === null || typeof bound === 'string') throw new Error('not bound to a TCP port');
console.log(JSON.stringify({ url: `https://${bound.address}:${bound.port}` }));
process.on('SIGINT', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
