// TLS session resumption on the mTLS listener. OpenSSL verifies nothing when a session is resumed: the certificate
// and verdict are those of the handshake that made the session. So the registry's check runs on every resumed
// connection, and an agent retired since (revoked, superseded, expired) cannot get back in on an old ticket. The
// processes of one registry derive the same ticket keys from the PKI directory and resume each other's sessions.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { loadOrCreateCa } from '../../src/pki/ca.ts';
import { fingerprintOf } from '../../src/pki/fingerprint.ts';
import { issueAgentCertificate } from '../../src/pki/issue.ts';
import { generateAgentKey } from '../../src/pki/keys.ts';
import { Registry } from '../../src/registry/registry.ts';
import type { RunningServer } from '../../src/server/server.ts';
import { dialects } from '../support/databases.ts';
import { serverProcessPair } from '../support/server-process.ts';
import { runningServer } from '../support/server.ts';

interface Identity {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

interface Attempt {
  /** The HTTP status line's code; empty when the connection was closed without an answer. */
  readonly status: string;
  /** Whether the TLS handshake resumed the session offered. */
  readonly resumed: boolean;
  /** The last session ticket the server sent on this connection. */
  readonly session: Buffer | undefined;
}

/** One connection to `port` with `identity`, offering `session`: GET /healthz over HTTP/1.1, then wait for the close. */
function healthz(port: number, identity: Identity, session?: Buffer, maxVersion: tls.SecureVersion = 'TLSv1.3'): Promise<Attempt> {
  return new Promise((resolve) => {
    let answer = '';
    let ticket: Buffer | undefined;
    let resumed = false;
    const socket = tls.connect({ host: '127.0.0.1', port, ...identity, session, maxVersion, ALPNProtocols: ['http/1.1'] });
    socket.on('session', (next: Buffer) => (ticket = next));
    socket.once('secureConnect', () => {
      resumed = socket.isSessionReused();
      socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    });
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('error', () => {});
    socket.setTimeout(5_000, () => socket.destroy());
    socket.once('close', () => resolve({ status: /^HTTP\/1\.1 (\d{3}) /.exec(answer)?.[1] ?? '', resumed, session: ticket }));
  });
}

describe.each(dialects)('mTLS session resumption on %s', (dialect) => {
  let server: RunningServer;
  let cleanup: (() => Promise<void>) | undefined;
  let dir: string;
  let counter = 0;

  beforeAll(async () => {
    const started = await runningServer(dialect);
    server = started.server;
    cleanup = started.cleanup;
    dir = started.environment.dir;
  });
  afterAll(() => cleanup?.());

  const port = () => server.mtlsPort ?? 0;
  const refusals = (reason: string) => server.mtls?.refusals()[reason] ?? 0;
  const register = async (label: string, registry = server.app.registry): Promise<Identity & { name: string }> => {
    const name = `${label}-${(counter += 1)}.resume.example`;
    const issued = await registry.register({ agentName: name, owner: 'resume', capabilities: [] }, 'test');
    return { name, ca: server.app.ca.trustBundlePem, cert: issued.certPem, key: issued.privateKeyPem ?? '' };
  };
  /** An accepted first connection and the session ticket it was sent. */
  const sessionOf = async (identity: Identity, maxVersion?: tls.SecureVersion) => {
    const first = await healthz(port(), identity, undefined, maxVersion);
    expect(first).toMatchObject({ status: '200', resumed: false });
    expect(first.session).toBeDefined();
    return first.session;
  };
  const audited = async (identity: Identity) => {
    const fingerprint = fingerprintOf(new X509Certificate(identity.cert).raw);
    const { events } = await server.app.store.listAuditEvents({ eventType: 'cert.verified' }, { limit: 1000 });
    return events.map((event) => event.metadata).filter((metadata) => metadata['fingerprint'] === fingerprint);
  };

  it.each(['TLSv1.3', 'TLSv1.2'] as const)('resumes a current agent\'s session over %s and serves it', async (version) => {
    const agent = await register('current');
    const session = await sessionOf(agent, version);
    expect(await healthz(port(), agent, session, version)).toMatchObject({ status: '200', resumed: true });
  });

  it('refuses a resumed session once its agent is revoked, and audits it as revoked', async () => {
    const agent = await register('revoked');
    const session = await sessionOf(agent);
    await server.app.registry.revoke({ agentName: agent.name, reason: 'keyCompromise' }, 'test');
    const before = refusals('revoked');
    expect(await healthz(port(), agent, session)).toMatchObject({ status: '', resumed: true });
    expect(refusals('revoked')).toBe(before + 1);
    await expect.poll(() => audited(agent)).toEqual([expect.objectContaining({ kind: 'mtls', verified: false, reason: 'revoked' })]);
  });

  it('refuses a resumed session whose certificate was superseded, and serves the new certificate', async () => {
    const agent = await register('rotated');
    const session = await sessionOf(agent);
    const next = await server.app.registry.rotate({ agentName: agent.name }, 'test');
    const before = refusals('superseded');
    expect(await healthz(port(), agent, session)).toMatchObject({ status: '', resumed: true });
    expect(refusals('superseded')).toBe(before + 1);
    expect((await healthz(port(), { ...agent, cert: next.certPem, key: next.privateKeyPem ?? '' })).status).toBe('200');
  });

  it('refuses a resumed session whose certificate has expired since (OpenSSL does not look at it again)', async () => {
    // Valid for five more seconds: issued as if it were a day less five seconds ago.
    const lifetimeMs = 86_400_000;
    const issuedAt = Date.now() - lifetimeMs + 5_000;
    const expiring = new Registry({ store: server.app.store, ca: server.app.ca, certValidityDays: 1, now: () => new Date(issuedAt) });
    const agent = await register('expiring', expiring);
    const notAfter = Date.parse(new X509Certificate(agent.cert).validTo);
    const session = await sessionOf(agent);
    await new Promise((resolve) => setTimeout(resolve, notAfter - Date.now() + 1_000));
    const before = refusals('expired');
    expect(await healthz(port(), agent, session)).toMatchObject({ status: '', resumed: true });
    expect(refusals('expired')).toBe(before + 1);
  });

  it('gives a certificate from a foreign CA no session, and refuses it', async () => {
    const foreign = await loadOrCreateCa({ dir: join(dir, 'foreign-pki'), validityDays: 365, trustDomain: 'atr.local', crlUrl: 'http://127.0.0.1/v1/crl' });
    const { key, privateKeyPem } = await generateAgentKey();
    const issued = await issueAgentCertificate(foreign, { agentName: 'current-1.resume.example', key, validityDays: 1 });
    const before = refusals('untrusted_chain');
    const first = await healthz(port(), { ca: server.app.ca.trustBundlePem, cert: issued.pem, key: privateKeyPem });
    expect(first).toMatchObject({ status: '', session: undefined });
    expect(refusals('untrusted_chain')).toBe(before + 1);
  });

  it('refuses a certificate the registry never issued, on a new connection and on a resumed one', async () => {
    // Signed with the registry's intermediate key but not by the registry: OpenSSL accepts the chain.
    const { privateKeyPem } = await generateAgentKey();
    const keyFile = join(dir, 'unknown.key');
    writeFileSync(keyFile, privateKeyPem);
    const csr = execFileSync('openssl', ['req', '-new', '-key', keyFile, '-subj', '/O=atr.local/CN=unknown.resume.example']);
    const extensions = join(dir, 'unknown.ext');
    writeFileSync(extensions, 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n');
    const pki = join(dir, 'pki');
    const cert = execFileSync(
      'openssl',
      ['x509', '-req', '-CA', join(pki, 'intermediate.crt'), '-CAkey', join(pki, 'intermediate.key'), '-set_serial', '0x4321', '-days', '1', '-extfile', extensions],
      { input: csr },
    ).toString();
    const identity = { ca: server.app.ca.trustBundlePem, cert, key: privateKeyPem };
    const before = refusals('unknown_certificate');
    const first = await healthz(port(), identity);
    expect(first.status).toBe('');
    // The registry's check is asynchronous, so a ticket may have gone out before the refusal; it buys nothing.
    const again = await healthz(port(), identity, first.session);
    expect(again.status).toBe('');
    expect(refusals('unknown_certificate')).toBe(before + 2);
  });
});

describe.each(dialects)('two registry processes on one %s database and PKI directory', (dialect) => {
  let a: { url: string; mtlsUrl: string | undefined };
  let b: { url: string; mtlsUrl: string | undefined };
  let stop: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    ({ a, b, stop } = await serverProcessPair(dialect));
  }, 60_000);
  afterAll(() => stop?.());

  it('resume each other\'s sessions, and both refuse a resumed session once the agent is revoked', async () => {
    const registry = createClient(RegistryService, createConnectTransport({ baseUrl: a.url, httpVersion: '1.1' }));
    const registered = await registry.registerAgent({ agentName: `shared.${dialect}.resume.example`, owner: 'resume' });
    const identity = { ca: registered.chainPem, cert: registered.certPem, key: registered.privateKeyPem };
    const portOf = (url: string | undefined) => Number(new URL(url ?? '').port);
    const first = await healthz(portOf(a.mtlsUrl), identity);
    expect(first).toMatchObject({ status: '200', resumed: false });
    expect(await healthz(portOf(b.mtlsUrl), identity, first.session)).toMatchObject({ status: '200', resumed: true });

    await registry.revokeAgent({ agentName: `shared.${dialect}.resume.example`, reason: 'keyCompromise' });
    // B learns of the revoke within a second (test/mtls/two-processes.test.ts).
    await expect
      .poll(async () => healthz(portOf(b.mtlsUrl), identity, first.session), { timeout: 3_000, interval: 200 })
      .toMatchObject({ status: '', resumed: true });
    expect(await healthz(portOf(a.mtlsUrl), identity, first.session)).toMatchObject({ status: '', resumed: true });
  });
});
