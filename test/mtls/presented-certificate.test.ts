// The client certificate as the mTLS listener reads it: after a full handshake from Node's summary of it, on a resumed
// session from its X509Certificate (each the cheaper there). Both must say the same of the same certificate.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprintOf } from '../../src/pki/fingerprint.ts';
import { type PresentedCertificate, presentedCertificate } from '../../src/server/peer-check.ts';

describe('the presented client certificate', () => {
  const dir = mkdtempSync(join(tmpdir(), 'atr-presented-'));
  const path = (name: string) => join(dir, name);
  const seen: { reused: boolean; certificate: PresentedCertificate | undefined }[] = [];
  let server: tls.Server;
  let client: { ca: string; cert: string; key: string };

  beforeAll(async () => {
    const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-subj', '/CN=presented test CA', '-days', '1');
    openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=presented.example');
    writeFileSync(path('client.ext'), 'basicConstraints=critical,CA:FALSE\nextendedKeyUsage=clientAuth,serverAuth\nsubjectAltName=URI:spiffe://atr.local/agent/presented.example\n');
    // A serial with a leading zero byte, which the two readings print differently before normalizing.
    openssl('x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', '0x00a1b2c3d4', '-days', '1', '-extfile', 'client.ext', '-out', 'client.pem');
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key', '-out', 'server.pem', '-subj', '/CN=localhost', '-days', '1');
    const read = (name: string) => readFileSync(path(name), 'utf8');
    client = { ca: read('server.pem'), cert: read('client.pem'), key: read('client.key') };
    server = tls.createServer({ key: read('server.key'), cert: read('server.pem'), ca: read('ca.pem'), requestCert: true, rejectUnauthorized: false }, (socket) => {
      seen.push({ reused: socket.isSessionReused(), certificate: presentedCertificate(socket) });
      socket.end('ok');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
  });
  afterAll(() => {
    server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** One connection offering `session`; the last session ticket it was sent. */
  const connect = async (session?: Buffer): Promise<Buffer | undefined> => {
    let ticket: Buffer | undefined;
    const socket = tls.connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, ...client, session, checkServerIdentity: () => undefined });
    socket.on('session', (next: Buffer) => (ticket = next));
    socket.resume();
    await once(socket, 'close');
    return ticket;
  };

  it('is read alike after a full handshake and on the session it resumes', async () => {
    const ticket = await connect();
    await connect(ticket);
    expect(seen.map((connection) => connection.reused)).toEqual([false, true]);
    const expected: PresentedCertificate = {
      fingerprint: fingerprintOf(new X509Certificate(client.cert).raw),
      serial: 'a1b2c3d4',
      ca: false,
      extendedKeyUsage: ['1.3.6.1.5.5.7.3.2', '1.3.6.1.5.5.7.3.1'],
      chainError: undefined,
    };
    expect(seen.map((connection) => connection.certificate)).toEqual([expected, expected]);
  });
});
