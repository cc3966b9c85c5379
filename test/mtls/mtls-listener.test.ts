import { spawn, execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Code, createClient } from '@connectrpc/connect';
import BetterSqlite3 from 'better-sqlite3';
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyRole, ApiKeyService } from '../../gen/atr/v1/api_key_pb.js';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { configWith } from '../../src/config/load.ts';
import { loadOrCreateCa } from '../../src/pki/ca.ts';
import { fingerprintOf } from '../../src/pki/fingerprint.ts';
import { issueAgentCertificate } from '../../src/pki/issue.ts';
import { generateAgentKey } from '../../src/pki/keys.ts';
import { Registry } from '../../src/registry/registry.ts';
import { type RunningServer, startServer } from '../../src/server/server.ts';
import { keyAndCsr } from '../support/keys.ts';
import { rpcError } from '../support/rpc.ts';

interface Identity {
  readonly name: string;
  readonly cert: string;
  readonly key: string;
}

describe('the mTLS listener', () => {
  let dir: string;
  let server: RunningServer;
  let bundle: string;
  let counter = 0;

  const file = (name: string, content: string) => {
    const path = join(dir, `${name}-${(counter += 1)}`);
    writeFileSync(path, content);
    return path;
  };
  const register = async (label: string): Promise<Identity> => {
    const name = `${label}.mtls.example`;
    const issued = await server.app.registry.register({ agentName: name, owner: 'mtls', capabilities: [] }, 'test');
    return { name, cert: issued.certPem, key: issued.privateKeyPem ?? '' };
  };
  /** `openssl s_client` sending GET /healthz right after the handshake; resolves with all it printed. */
  const healthzWith = (identity: Pick<Identity, 'cert' | 'key'> | undefined) =>
    new Promise<string>((resolve) => {
      const auth = identity ? ['-cert', file('cert', identity.cert), '-key', file('key', identity.key)] : [];
      const client = spawn('openssl', [
        's_client', '-connect', `127.0.0.1:${server.mtlsPort}`, '-CAfile', bundle, '-alpn', 'http/1.1', '-quiet', '-ign_eof', ...auth,
      ]);
      let output = '';
      client.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      client.stderr.on('data', () => {});
      const timer = setTimeout(() => client.kill(), 5_000);
      client.on('close', () => {
        clearTimeout(timer);
        resolve(output);
      });
      client.stdin.end('GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    });
  const accepted = (output: string) => expect(output).toMatch(/^HTTP\/1\.1 200 /);
  const refused = (output: string) => expect(output).toBe('');
  const refusals = (reason: string) => server.mtls?.refusals()[reason] ?? 0;
  /** The audit events of refused mTLS connections with this certificate. */
  const refusalsAudited = async (cert: string) => {
    const fingerprint = fingerprintOf(new X509Certificate(cert).raw);
    const { events } = await server.app.store.listAuditEvents({ eventType: 'cert.verified' }, { limit: 1000 });
    return events.map((event) => event.metadata).filter((metadata) => metadata['kind'] === 'mtls' && metadata['fingerprint'] === fingerprint);
  };
  const transports = (identity: Identity) => {
    const nodeOptions = { ca: server.app.ca.trustBundlePem, cert: identity.cert, key: identity.key };
    return {
      grpc: createGrpcTransport({ baseUrl: server.mtlsUrl ?? '', nodeOptions }),
      connect: createConnectTransport({ baseUrl: server.mtlsUrl ?? '', httpVersion: '2', nodeOptions }),
    };
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'atr-mtls-'));
    server = await startServer(
      configWith({ port: 0, mtlsPort: 0, databaseUrl: `sqlite:///${dir}/atr.db`, pkiRootDir: join(dir, 'pki'), keysRootDir: join(dir, 'keys') }),
    );
    bundle = file('bundle', server.app.ca.trustBundlePem);
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves an agent with a current certificate, even when it sends its request right after the handshake', async () => {
    expect(server.mtlsUrl).toBe(`https://127.0.0.1:${server.mtlsPort}`);
    accepted(await healthzWith(await register('good')));
  });

  it('refuses a client without a certificate, and counts it', async () => {
    const before = refusals('no_certificate');
    refused(await healthzWith(undefined));
    expect(refusals('no_certificate')).toBe(before + 1);
  });

  it('refuses revoked and superseded certificates, and audits the refusal once', async () => {
    const revoked = await register('revoked');
    await server.app.registry.revoke({ agentName: revoked.name, reason: 'keyCompromise' }, 'test');
    refused(await healthzWith(revoked));

    const rotated = await register('rotated');
    accepted(await healthzWith(rotated));
    const fresh = await server.app.registry.rotate({ agentName: rotated.name }, 'test');
    refused(await healthzWith(rotated));
    accepted(await healthzWith({ cert: fresh.certPem, key: fresh.privateKeyPem ?? '' }));
  });

  it('refuses a certificate the registry state refuses even when OpenSSL has no CRL entry for it yet', async () => {
    // Revoked behind the listener's back (no CRL refresh): only the registry check can refuse it.
    const agent = await register('unlisted');
    const refusalsBefore = server.mtls?.refusals().revoked ?? 0;
    await server.app.store.transaction(async (tx) => {
      const record = await tx.lockAgent(agent.name);
      await tx.updateAgent(record!, { state: 'revoked', revokedAt: new Date(), revocationReason: 'unspecified' }, new Date());
    });
    refused(await healthzWith(agent));
    refused(await healthzWith(agent));
    expect(server.mtls?.refusals().revoked).toBe(refusalsBefore + 2);
    await expect.poll(async () => (await server.app.store.listAuditEvents({ agentName: agent.name, eventType: 'cert.verified' }, { limit: 10 })).events.map((e) => e.metadata))
      .toEqual([{ kind: 'mtls', verified: false, reason: 'revoked', fingerprint: fingerprintOf(new X509Certificate(agent.cert).raw) }]);
  });

  it('refuses a certificate on the CRL even where registry state says it is current (MTLS_CRL_CHECK)', async () => {
    const agent = await register('crl');
    const before = refusals('revoked');
    // Listed on the CRL behind the registry's back: the agent stays active, so only the CRL check can refuse it.
    const database = new BetterSqlite3(join(dir, 'atr.db'));
    try {
      database.prepare("update certificates set revoked_at = ?, revocation_reason = 'keyCompromise' where fingerprint = ?").run(Date.now(), fingerprintOf(new X509Certificate(agent.cert).raw));
    } finally {
      database.close();
    }
    server.app.revocationList.invalidate();
    await expect.poll(async () => (await server.app.revocationList.current()).length).toBeGreaterThan(0);
    expect((await server.app.registry.get(agent.name)).state).toBe('active');
    // The listener reads the new CRL within its refresh interval (a second).
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    refused(await healthzWith(agent));
    expect(refusals('revoked')).toBe(before + 1);
    await expect.poll(() => refusalsAudited(agent.cert)).toEqual([expect.objectContaining({ verified: false, reason: 'revoked' })]);
  });

  it('refuses an expired certificate, counted and audited as expired by OpenSSL\'s verdict', async () => {
    const past = new Registry({ store: server.app.store, ca: server.app.ca, certValidityDays: 1, now: () => new Date(Date.now() - 3 * 86_400_000) });
    const issued = await past.register({ agentName: 'expired.mtls.example', owner: 'mtls', capabilities: [] }, 'test');
    const before = refusals('expired');
    refused(await healthzWith({ cert: issued.certPem, key: issued.privateKeyPem ?? '' }));
    expect(refusals('expired')).toBe(before + 1);
    await expect.poll(() => refusalsAudited(issued.certPem)).toEqual([expect.objectContaining({ reason: 'expired', chainError: 'CERT_HAS_EXPIRED' })]);
  });

  it('refuses a certificate from a foreign CA with the same names', async () => {
    const foreign = await loadOrCreateCa({ dir: join(dir, 'foreign-pki'), validityDays: 365, trustDomain: 'atr.local', crlUrl: 'http://127.0.0.1/v1/crl' });
    expect(foreign.intermediate.subject).toBe(server.app.ca.intermediate.subject);
    const { key, privateKeyPem } = await generateAgentKey();
    const issued = await issueAgentCertificate(foreign, { agentName: 'good.mtls.example', key, validityDays: 1 });
    const before = refusals('untrusted_chain');
    refused(await healthzWith({ cert: issued.pem, key: privateKeyPem }));
    // Counted and audited by OpenSSL's reason, not lost as a reset handshake.
    expect(refusals('untrusted_chain')).toBe(before + 1);
    expect(Object.keys(server.mtls?.refusals() ?? {}).filter((reason) => reason.startsWith('handshake:'))).toEqual([]);
    await expect.poll(() => refusalsAudited(issued.pem)).toEqual([
      expect.objectContaining({ reason: 'untrusted_chain', chainError: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }),
    ]);
  });

  it.each([
    ['a CA certificate', 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature,keyCertSign\nextendedKeyUsage=clientAuth\n', 'ca_certificate'],
    ['a serverAuth-only certificate', 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n', 'untrusted_chain'],
    ['a certificate without extended key usage', 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n', 'not_client_auth'],
  ])('refuses %s signed by the registry intermediate', async (_label, extensions, reason) => {
    const { privateKeyPem } = await generateAgentKey();
    const key = file('key', privateKeyPem);
    const csr = execFileSync('openssl', ['req', '-new', '-key', key, '-subj', '/O=atr.local/CN=good.mtls.example']);
    const pki = join(dir, 'pki');
    const cert = execFileSync(
      'openssl',
      ['x509', '-req', '-CA', join(pki, 'intermediate.crt'), '-CAkey', join(pki, 'intermediate.key'), '-set_serial', '0x1234', '-days', '1', '-extfile', file('ext', extensions)],
      { input: csr },
    ).toString();
    // It does chain to the registry: only the listener's own checks refuse it.
    expect(new X509Certificate(cert).verify(server.app.ca.intermediate.publicKey)).toBe(true);
    const before = refusals(reason);
    refused(await healthzWith({ cert, key: privateKeyPem }));
    expect(refusals(reason)).toBe(before + 1);
  });

  it('tells handlers who the agent is over gRPC and Connect, and lets it renew its certificate', async () => {
    const agent = await register('whoami');
    const fingerprint = fingerprintOf(new X509Certificate(agent.cert).raw);
    for (const transport of Object.values(transports(agent))) {
      const me = await createClient(RegistryService, transport).whoAmI({});
      expect({ name: me.agent?.agentName, fingerprint: me.certFingerprint }).toEqual({ name: agent.name, fingerprint });
    }
    const { csrPem, privateKeyPem } = await keyAndCsr();
    const renewed = await createClient(RegistryService, transports(agent).grpc).renewCertificate({ csrPem });
    expect(renewed.previousCertFingerprint).toBe(fingerprint);
    const next = { name: agent.name, cert: renewed.certPem, key: privateKeyPem };
    const me = await createClient(RegistryService, transports(next).connect).whoAmI({});
    expect(me.certFingerprint).toBe(fingerprintOf(new X509Certificate(renewed.certPem).raw));
    refused(await healthzWith(agent));
  });

  it('answers a renewal over HTTP/1.1 keep-alive before closing the connection its old certificate opened', async () => {
    const agent = await register('h1renew');
    const { csrPem } = await keyAndCsr();
    const agentOptions = { ca: server.app.ca.trustBundlePem, cert: agent.cert, key: agent.key, keepAlive: true, maxSockets: 1 };
    const keepAlive = new https.Agent(agentOptions);
    const post = (path: string, body: string) =>
      new Promise<{ status: number; body: string; reusedSocket: boolean }>((resolve, reject) => {
        const request = https.request(`${server.mtlsUrl}${path}`, { method: 'POST', agent: keepAlive, headers: { 'content-type': 'application/json' } }, (response) => {
          let text = '';
          response.on('data', (chunk: Buffer) => (text += chunk.toString()));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text, reusedSocket: request.reusedSocket }));
        });
        request.on('error', reject);
        request.end(body);
      });
    try {
      // A first request opens the connection; the renewal then supersedes the certificate that opened it.
      expect((await post('/atr.v1.RegistryService/WhoAmI', '{}')).status).toBe(200);
      const renewed = await post('/v1/renew', JSON.stringify({ csr_pem: csrPem }));
      expect(renewed.reusedSocket).toBe(true);
      expect(renewed.status).toBe(200);
      expect(JSON.parse(renewed.body)).toMatchObject({ agent_name: agent.name, previous_cert_fingerprint: fingerprintOf(new X509Certificate(agent.cert).raw) });
      // The old certificate's connection is closed after that answer, and the certificate opens no new one.
      await expect(post('/atr.v1.RegistryService/WhoAmI', '{}')).rejects.toThrow();
    } finally {
      keepAlive.destroy();
    }
  });

  it('refuses administrative calls to agent identities, REST included', async () => {
    const agent = await register('admin');
    const client = createClient(RegistryService, transports(agent).grpc);
    const registerError = await rpcError(client.registerAgent({ agentName: 'other.mtls.example', owner: 'mtls' }));
    expect(registerError.code).toBe(Code.PermissionDenied);
    expect(registerError.rawMessage).toContain('administrative operations are not available to agent identities');
    expect((await rpcError(client.revokeAgent({ agentName: agent.name }))).code).toBe(Code.PermissionDenied);
    expect((await server.app.registry.get(agent.name)).state).toBe('active');
    const keys = createClient(ApiKeyService, transports(agent).grpc);
    expect((await rpcError(keys.createApiKey({ role: ApiKeyRole.ADMIN }))).code).toBe(Code.PermissionDenied);

    const rest = (method: string, path: string) =>
      new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
        const request = https.request(
          { host: '127.0.0.1', port: server.mtlsPort, method, path, ca: server.app.ca.trustBundlePem, cert: agent.cert, key: agent.key, agent: false },
          (res) => {
            let body = '';
            res.on('data', (chunk: Buffer) => (body += chunk.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(body) as Record<string, unknown> }));
          },
        );
        request.on('error', reject);
        request.end(method === 'POST' ? '{}' : undefined);
      });
    const whoami = await rest('GET', '/v1/whoami');
    expect(whoami.status).toBe(200);
    expect(whoami.body).toMatchObject({ agent_name: agent.name, cert_fingerprint: fingerprintOf(new X509Certificate(agent.cert).raw) });
    expect((await rest('POST', `/v1/agents/${agent.name}/revoke`)).status).toBe(403);
  });

  it('closes an open HTTP/2 connection within about a second of its agent being revoked', async () => {
    const agent = await register('open');
    const session = http2.connect(server.mtlsUrl ?? '', { ca: server.app.ca.trustBundlePem, cert: agent.cert, key: agent.key });
    session.on('error', () => {});
    const status = await new Promise((resolve, reject) => {
      const stream = session.request({ ':path': '/healthz' });
      stream.on('response', (headers) => resolve(headers[':status']));
      stream.on('error', reject);
      stream.resume();
    });
    expect(status).toBe(200);
    const closed = new Promise<number>((resolve) => session.once('close', () => resolve(Date.now())));
    const revokedAt = Date.now();
    await server.app.registry.revoke({ agentName: agent.name }, 'test');
    const elapsed = (await Promise.race([closed, new Promise<number>((resolve) => setTimeout(() => resolve(Infinity), 3_000))])) - revokedAt;
    session.destroy();
    expect(elapsed).toBeLessThan(2_000);
  });
});
