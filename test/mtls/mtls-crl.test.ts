// The CRL check and the session-ticket keys of the mTLS listener: the serials a CRL lists, read back from the DER the
// registry signs; a root CRL that revokes the intermediate, which makes the listener refuse every agent; and the
// ticket keys every process sharing a PKI directory derives alike.
import { execFileSync } from 'node:child_process';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CertificateAuthority, loadOrCreateCa } from '../../src/pki/ca.ts';
import { readCaKey } from '../../src/pki/ca-key.ts';
import { keyIdOf, subjectNameOf } from '../../src/pki/certificate.ts';
import { buildCrl } from '../../src/pki/crl.ts';
import { crlEntries } from '../../src/pki/crl-entries.ts';
import { serialOf } from '../../src/pki/fingerprint.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { TICKET_KEY_PERIOD_MS, TicketKeys } from '../../src/server/mtls-ticket-keys.ts';
import { type RunningServer, startServer } from '../../src/server/server.ts';
import { type TestEnvironment, testEnvironment } from '../support/server.ts';

/** The CA as the root signs: buildCrl signs with the CA's signing key, name and key identifier. */
function rootSigner(ca: CertificateAuthority, pkiDir: string): CertificateAuthority {
  return { ...ca, signingKey: readCaKey(join(pkiDir, 'root.key'), undefined), intermediateName: subjectNameOf(ca.root.raw), intermediateKeyId: keyIdOf(ca.root) };
}

describe('the mTLS listener\'s CRL check', () => {
  let environment: TestEnvironment;
  let ca: CertificateAuthority;
  let pki: string;

  beforeAll(async () => {
    environment = await testEnvironment('sqlite');
    pki = environment.config.pkiRootDir;
    ca = await loadOrCreateCa({ dir: pki, validityDays: 365, trustDomain: environment.config.trustDomain, crlUrl: 'http://127.0.0.1/v1/crl' });
  });
  afterAll(() => environment?.cleanup());

  it('reads back every serial and reason of a CRL the registry signs, as openssl lists them', async () => {
    const entries = [
      { serial: '7f' + '01'.repeat(15), revokedAt: new Date(), reason: 'keyCompromise' as const },
      { serial: '0a0b', revokedAt: new Date(), reason: 'superseded' as const },
      { serial: '00ff', revokedAt: new Date(), reason: 'unspecified' as const },
    ];
    const der = await buildCrl(ca, entries, { crlNumber: 7 });
    expect(crlEntries(der, ca.intermediate.publicKey)).toEqual(new Map([['7f' + '01'.repeat(15), 1], ['0a0b', 4], ['ff', 0]]));
    const listed = execFileSync('openssl', ['crl', '-inform', 'DER', '-noout', '-text'], { input: der }).toString();
    expect(listed.match(/Serial Number: ([0-9A-F]+)/g)).toEqual(['Serial Number: 7F' + '01'.repeat(15), 'Serial Number: 0A0B', 'Serial Number: FF']);
    expect(crlEntries(await buildCrl(ca, [], { crlNumber: 8 }))).toEqual(new Map());
    // Signed by the intermediate, not the root.
    expect(() => crlEntries(der, ca.root.publicKey)).toThrow('not signed');
  });

  it('refuses every agent when root.crl revokes the intermediate', async () => {
    const crl = await buildCrl(rootSigner(ca, pki), [{ serial: serialOf(ca.intermediate), revokedAt: new Date(), reason: 'cACompromise' }], { crlNumber: 1 });
    writeFileSync(join(pki, 'root.crl'), crl);
    let server: RunningServer | undefined;
    try {
      server = await startServer(environment.config);
      const issued = await server.app.registry.register({ agentName: 'any.crl.example', owner: 'crl', capabilities: [] }, 'test');
      const closedWithout = await new Promise<string>((resolve) => {
        let answer = '';
        const socket = tls.connect({ host: '127.0.0.1', port: server?.mtlsPort ?? 0, ca: ca.trustBundlePem, cert: issued.certPem, key: issued.privateKeyPem ?? '' });
        socket.once('secureConnect', () => socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'));
        socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
        socket.on('error', () => {});
        socket.once('close', () => resolve(answer));
      });
      expect(closedWithout).toBe('');
      expect(server.mtls?.refusals()).toEqual({ issuer_revoked: 1 });
    } finally {
      await server?.close();
    }
  });
});

describe('session-ticket keys', () => {
  let environment: TestEnvironment;
  beforeAll(async () => (environment = await testEnvironment('sqlite')));
  afterAll(() => environment?.cleanup());

  it('are the same for every process sharing the PKI directory, kept in a 0600 file, and change every period', () => {
    const dir = join(environment.dir, 'tickets');
    mkdirSync(dir);
    const first = TicketKeys.load(dir, silentLogger);
    const second = TicketKeys.load(dir, silentLogger);
    const now = Date.now();
    expect(first.keysAt(now)).toHaveLength(48);
    expect(second.keysAt(now)).toEqual(first.keysAt(now));
    expect(second.sessionIdContext()).toBe(first.sessionIdContext());
    expect(first.keysAt(now + TICKET_KEY_PERIOD_MS)).not.toEqual(first.keysAt(now));
    expect(statSync(join(dir, 'mtls-ticket.secret')).mode & 0o777).toBe(0o600);
    // Another directory, another registry: keys of its own.
    const other = join(environment.dir, 'other');
    mkdirSync(other);
    expect(TicketKeys.load(other, silentLogger).keysAt(now)).not.toEqual(first.keysAt(now));
  });
});
