import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/server/app.ts';
import { type RegistryClient, createRegistryClient, registryClientOver } from '../../src/sdk/client.ts';
import { type PeerVerdict, type PeerVerifier, createPeerVerifier, tlsAuthorizer } from '../../src/sdk/peer-verifier.ts';
import { dialects } from '../support/databases.ts';
import { runningServer, testEnvironment } from '../support/server.ts';

/** Authorizes until the verdict is a refusal; the verdict and how long it took. */
async function refusedWithin(verifier: PeerVerifier, certPem: string, timeoutMs: number): Promise<{ verdict: PeerVerdict; ms: number }> {
  const started = performance.now();
  for (;;) {
    const verdict = await verifier.authorize(certPem);
    const ms = performance.now() - started;
    if (!verdict.ok || ms > timeoutMs) return { verdict, ms };
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A registry whose streams fail as if the server could not serve them; unary calls go through. */
function clientWithBrokenStreams(baseUrl: string): RegistryClient {
  const breakStreams: Interceptor = (next) => async (request) => {
    if (request.stream) throw new ConnectError('streams are down', Code.Unavailable);
    return next(request);
  };
  const transport = createConnectTransport({ baseUrl, httpVersion: '1.1', interceptors: [breakStreams] });
  return registryClientOver(transport);
}

describe.each(dialects)('peer verifier against a running registry, %s', (dialect) => {
  let url: string;
  let client: RegistryClient;
  let verifier: PeerVerifier;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    const started = await runningServer(dialect);
    url = started.server.url;
    cleanup = started.cleanup;
    client = createRegistryClient({ baseUrl: url });
    verifier = createPeerVerifier({ registry: client });
  });
  afterAll(async () => {
    verifier?.close();
    await cleanup?.();
  });

  const register = async (label: string) => {
    const agentName = `${label}.peer.${dialect}.example`;
    const { certPem, privateKeyPem, chainPem, agent } = await client.registry.registerAgent({ agentName, owner: 'peer' });
    return { agentName, certPem, privateKeyPem, chainPem, fingerprint: agent!.certFingerprint };
  };

  it('accepts a current certificate and refuses it within a second of its revocation, before the cache expires', async () => {
    const peer = await register('revoked');
    expect(await verifier.authorize(peer.certPem)).toEqual({ ok: true, agentName: peer.agentName, fingerprint: peer.fingerprint });
    await client.registry.revokeAgent({ agentName: peer.agentName, reason: 'keyCompromise' });
    const { verdict, ms } = await refusedWithin(verifier, peer.certPem, 3_000);
    expect(verdict).toEqual({ ok: false, reason: 'revoked' });
    expect(ms).toBeLessThan(1_000);
  });

  it('refuses a certificate superseded by a rotation and accepts its successor', async () => {
    const peer = await register('rotated');
    expect((await verifier.authorize(peer.certPem)).ok).toBe(true);
    const rotated = await client.registry.rotateCertificate({ agentName: peer.agentName });
    const { verdict, ms } = await refusedWithin(verifier, peer.certPem, 3_000);
    expect(verdict).toEqual({ ok: false, reason: 'superseded' });
    expect(ms).toBeLessThan(1_000);
    expect(await verifier.authorize(rotated.certPem)).toMatchObject({ ok: true, agentName: peer.agentName });
  });

  it('refuses a certificate from another CA with the same names as untrusted', async () => {
    const foreign = await testEnvironment('sqlite');
    const foreignApp = await createApp(foreign.config);
    try {
      const issued = await foreignApp.registry.register({ agentName: `foreign.peer.${dialect}.example`, owner: 'o', capabilities: [] }, 'test');
      // Same names as the registry's intermediate: only the signature check can tell them apart.
      const { intermediatePem } = await client.verify.getTrustBundle({});
      expect(foreignApp.ca.intermediate.subject).toBe(new X509Certificate(intermediatePem).subject);
      expect(await verifier.authorize(issued.certPem)).toEqual({ ok: false, reason: 'untrusted' });
      expect(await verifier.authorize('not a certificate')).toEqual({ ok: false, reason: 'malformed' });
    } finally {
      await foreignApp.close();
      await foreign.cleanup();
    }
  });

  it('falls back to the CRL while the revocation stream is down', async () => {
    const broken = clientWithBrokenStreams(url);
    const fallback = createPeerVerifier({ registry: broken, crlPollMs: 100, retryMs: 50 });
    try {
      const peer = await register('crl');
      expect((await fallback.authorize(peer.certPem)).ok).toBe(true);
      await client.registry.revokeAgent({ agentName: peer.agentName, reason: 'keyCompromise' });
      const { verdict } = await refusedWithin(fallback, peer.certPem, 5_000);
      expect(verdict).toEqual({ ok: false, reason: 'revoked' });
    } finally {
      fallback.close();
    }
  });

  it("serves an agent's own TLS server: a peer with a current certificate is let through, a revoked one's connection closed", async () => {
    const server = await register('tls-server');
    const authorize = tlsAuthorizer(verifier);
    const verdicts: PeerVerdict[] = [];
    const tlsServer = tls.createServer(
      { cert: server.certPem, key: server.privateKeyPem, ca: server.chainPem, requestCert: true, rejectUnauthorized: true },
      (socket) =>
        void authorize(socket).then((verdict) => {
          verdicts.push(verdict);
          if (verdict.ok) socket.end(`hello ${verdict.agentName}`);
        }),
    );
    tlsServer.listen(0, '127.0.0.1');
    await once(tlsServer, 'listening');
    const answerTo = async (peer: Awaited<ReturnType<typeof register>>) => {
      const socket = tls.connect({
        host: '127.0.0.1',
        port: (tlsServer.address() as AddressInfo).port,
        cert: peer.certPem,
        key: peer.privateKeyPem,
        ca: peer.chainPem,
        checkServerIdentity: () => undefined,
      });
      let answer = '';
      socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
      socket.on('error', () => undefined);
      await once(socket, 'close');
      return answer;
    };
    try {
      const peer = await register('tls-client');
      expect(await answerTo(peer)).toBe(`hello ${peer.agentName}`);
      expect(verdicts).toEqual([{ ok: true, agentName: peer.agentName, fingerprint: peer.fingerprint }]);
      await client.registry.revokeAgent({ agentName: peer.agentName, reason: 'keyCompromise' });
      await refusedWithin(verifier, peer.certPem, 3_000);
      expect(await answerTo(peer)).toBe('');
      expect(verdicts.at(-1)).toEqual({ ok: false, reason: 'revoked' });
    } finally {
      tlsServer.close();
    }
  });
});
