// The SDK's renewing identity against a real registry (SQLite, 30-second certificates, the mTLS listener on):
// renewals over real TLS, the registry's verdict on the old and new certificates, revocation, and a registry that
// is down for a while.
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configWith } from '../../src/config/load.ts';
import {
  type RegistryClient,
  type RenewalError,
  type RenewedCertificate,
  type RenewingIdentity,
  type RenewingIdentityEvents,
  type RetiredCertificate,
  VerifyReason,
  createRegistryClient,
  createRenewingIdentity,
  generateKeyAndCsr,
} from '../../src/sdk/index.ts';
import { type RunningServer, startServer } from '../../src/server/server.ts';
import { healthzOverMtls } from '../support/mtls.ts';
import { type TestEnvironment, runningServer, testEnvironment } from '../support/server.ts';

const SHORT_LIVED = { certValiditySeconds: 30 } as const;

interface Registered {
  readonly name: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly chainPem: string;
  readonly fingerprint: string;
}

/** Registers an agent through the public API with a key made here, as an agent would. */
async function register(client: RegistryClient, name: string): Promise<Registered> {
  const { privateKeyPem, csrPem } = await generateKeyAndCsr(name);
  const issued = await client.registry.registerAgent({ agentName: name, owner: 'renewal', csrPem });
  return { name, certPem: issued.certPem, keyPem: privateKeyPem, chainPem: issued.chainPem, fingerprint: issued.agent?.certFingerprint ?? '' };
}

/** Everything an identity emits, in order. */
function record(identity: RenewingIdentity) {
  const events = {
    renewed: [] as RenewedCertificate[],
    revoked: [] as RetiredCertificate[],
    errors: [] as RenewalError[],
    expired: 0,
  };
  identity.on('renewed', (renewed) => events.renewed.push(renewed));
  identity.on('revoked', (retired) => events.revoked.push(retired));
  identity.on('error', (error) => events.errors.push(error));
  identity.on('expired', () => (events.expired += 1));
  return events;
}

/** The next time the identity emits `event` (events.once would reject on the identity's 'error' events). */
function next<E extends 'renewed' | 'revoked'>(identity: RenewingIdentity, event: E) {
  return new Promise<RenewingIdentityEvents[E][0]>((resolve) => identity.once(event, resolve as never));
}

const notAfterOf = (certPem: string) => Date.parse(new X509Certificate(certPem).validTo);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** WhoAmI over grpc-js with channel credentials that follow the identity's certificate provider. */
function grpcWhoAmI(address: string, identity: RenewingIdentity) {
  const definition = protoLoader.loadSync('atr/v1/registry.proto', {
    includeDirs: [fileURLToPath(new URL('../../proto', import.meta.url))],
    keepCase: true,
  });
  const { atr } = grpc.loadPackageDefinition(definition) as unknown as { atr: { v1: { RegistryService: grpc.ServiceClientConstructor } } };
  const provider = identity.grpcCertificateProvider();
  const credentials = grpc.experimental.createCertificateProviderChannelCredentials(provider, provider);
  const client = new atr.v1.RegistryService(address, credentials) as unknown as grpc.Client & {
    WhoAmI(request: object, callback: (error: grpc.ServiceError | null, answer: { cert_fingerprint: string }) => void): void;
  };
  return {
    fingerprint: () =>
      new Promise<string>((resolve, reject) => client.WhoAmI({}, (error, answer) => (error ? reject(error) : resolve(answer.cert_fingerprint)))),
    close: () => client.close(),
  };
}

describe('a renewing identity', () => {
  let server: RunningServer;
  let client: RegistryClient;
  let cleanup: () => Promise<void>;
  let environment: TestEnvironment;
  const identities: RenewingIdentity[] = [];
  const start = (agent: Registered, options: { renewAt?: number } = {}) => {
    const identity = createRenewingIdentity({
      mtlsUrl: server.mtlsUrl ?? '',
      certPem: agent.certPem,
      keyPem: agent.keyPem,
      trustBundlePem: agent.chainPem,
      registry: client,
      ...options,
    });
    identities.push(identity);
    return identity;
  };

  beforeAll(async () => {
    ({ server, environment, cleanup } = await runningServer('sqlite', SHORT_LIVED));
    client = createRegistryClient({ baseUrl: server.url });
  });
  afterAll(async () => {
    await Promise.all(identities.map((identity) => identity.stop()));
    await cleanup();
  });

  it('renews at two thirds of the lifetime with a new key; the registry holds the new certificate as current and the old as superseded', async () => {
    const agent = await register(client, 'renews.renewal.test');
    const identity = start(agent);
    const events = record(identity);
    const issuedAt = Date.now();
    // Two thirds of 30 s from issuance, not of the window that starts at the backdated notBefore.
    expect(identity.nextAttemptAt!.getTime() - issuedAt).toBeGreaterThan(18_000);
    expect(identity.nextAttemptAt!.getTime() - issuedAt).toBeLessThan(21_000);
    const before = identity.tlsOptions();
    const grpcClient = grpcWhoAmI(`127.0.0.1:${server.mtlsPort}`, identity);
    expect(await grpcClient.fingerprint()).toBe(agent.fingerprint);

    const renewed = await next(identity, 'renewed');
    expect(Date.now()).toBeLessThan(notAfterOf(agent.certPem));
    expect(renewed.previousFingerprint).toBe(agent.fingerprint);
    expect(renewed.fingerprint).not.toBe(agent.fingerprint);
    expect(renewed.keyPem).not.toBe(agent.keyPem);
    expect(renewed.notAfter.getTime()).toBeGreaterThan(notAfterOf(agent.certPem));
    expect(identity.fingerprint).toBe(renewed.fingerprint);
    expect(identity.tlsOptions()).toMatchObject({ cert: renewed.certPem, key: renewed.keyPem, ca: agent.chainPem });

    const { agent: record_ } = await client.registry.getAgent({ agentName: agent.name });
    expect(record_?.certFingerprint).toBe(renewed.fingerprint);
    const current = await client.verify.verifyCertificate({ certPem: renewed.certPem });
    expect({ verified: current.verified, fingerprint: current.certFingerprint }).toEqual({ verified: true, fingerprint: renewed.fingerprint });
    expect((await client.verify.verifyCertificate({ certPem: agent.certPem })).reason).toBe(VerifyReason.SUPERSEDED);

    const admitted = healthzOverMtls(server.mtlsUrl ?? '', identity.tlsOptions());
    expect(await admitted.status).toBe(200);
    admitted.session.destroy();
    const old = healthzOverMtls(server.mtlsUrl ?? '', before);
    expect(await old.status).not.toBe(200);
    old.session.destroy();
    // grpc-js: the registry closes the connection that presented the old certificate; the channel's next
    // connection presents the new one.
    await expect.poll(() => grpcClient.fingerprint().catch(() => 'failed'), { timeout: 5_000, interval: 250 }).toBe(renewed.fingerprint);
    grpcClient.close();

    await identity.stop();
    expect(identity.nextAttemptAt).toBeUndefined();
    expect(events).toMatchObject({ revoked: [], errors: [], expired: 0 });
    expect(events.renewed).toHaveLength(1);
  }, 90_000);

  it('keeps the key with newKey: false', async () => {
    const agent = await register(client, 'same-key.renewal.test');
    const identity = createRenewingIdentity({
      mtlsUrl: server.mtlsUrl ?? '',
      certPem: agent.certPem,
      keyPem: agent.keyPem,
      trustBundlePem: agent.chainPem,
      renewAt: 0.1,
      newKey: false,
    });
    identities.push(identity);
    const renewed = await next(identity, 'renewed');
    expect(renewed.keyPem).toBe(agent.keyPem);
    expect(renewed.fingerprint).not.toBe(agent.fingerprint);
    expect(new X509Certificate(renewed.certPem).publicKey.equals(new X509Certificate(agent.certPem).publicKey)).toBe(true);
    await identity.stop();
  }, 90_000);

  it('emits revoked once when the agent was revoked, and stops trying', async () => {
    const agent = await register(client, 'revoked.renewal.test');
    await client.registry.revokeAgent({ agentName: agent.name, reason: 'keyCompromise' });
    // Renewal due 3 s after issuance.
    const identity = start(agent, { renewAt: 0.1 });
    const events = record(identity);
    const retired = await next(identity, 'revoked');
    expect(retired).toMatchObject({ reason: 'revoked', fingerprint: agent.fingerprint });
    expect(identity.nextAttemptAt).toBeUndefined();
    await sleep(4_000);
    // The mTLS refusal was told apart from a network failure at the first attempt, and nothing followed.
    expect(events).toMatchObject({ renewed: [], errors: [], expired: 0 });
    expect(events.revoked).toHaveLength(1);
    expect(identity.fingerprint).toBe(agent.fingerprint);
  }, 90_000);

  it('emits revoked with reason superseded when an administrator rotated the certificate meanwhile', async () => {
    const agent = await register(client, 'rotated.renewal.test');
    const identity = start(agent, { renewAt: 0.1 });
    const events = record(identity);
    const rotated = await client.registry.rotateCertificate({ agentName: agent.name });
    const retired = await next(identity, 'revoked');
    expect(retired).toMatchObject({ reason: 'superseded', fingerprint: agent.fingerprint });
    expect(events).toMatchObject({ renewed: [], errors: [] });
    // The identity did not take the agent back from the administrator's certificate.
    expect((await client.registry.getAgent({ agentName: agent.name })).agent?.certFingerprint).toBe(rotated.agent?.certFingerprint);
  }, 90_000);

  it('runs examples/renewing-agent.ts: WhoAmI with the first certificate, then with the renewed one', async () => {
    const agent = await register(client, 'example.renewal.test');
    const keysDir = join(environment.dir, 'example-keys');
    mkdirSync(join(keysDir, agent.name), { recursive: true });
    writeFileSync(join(keysDir, agent.name, 'key.pem'), agent.keyPem, { mode: 0o600 });
    writeFileSync(join(keysDir, agent.name, 'cert.pem'), agent.certPem);
    writeFileSync(join(keysDir, agent.name, 'chain.pem'), agent.chainPem);
    const example = fileURLToPath(new URL('../../examples/renewing-agent.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', example, agent.name, server.mtlsUrl ?? '', server.url], {
      env: { ...process.env, KEYS_ROOT_DIR: keysDir },
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = once(child, 'exit');
    try {
      await expect.poll(() => output, { timeout: 60_000, interval: 500 }).toMatch(/renewed until .*certificate [0-9a-f]{64}/);
    } finally {
      child.kill('SIGINT');
    }
    const [code] = (await exited) as [number | null];
    expect(code).toBe(0);
    expect(output).toContain(`started: I am ${agent.name}, certificate ${agent.fingerprint}`);
    const current = (await client.registry.getAgent({ agentName: agent.name })).agent?.certFingerprint ?? '';
    expect(current).not.toBe(agent.fingerprint);
    expect(output).toContain(`I am ${agent.name}, certificate ${current}`);
  }, 90_000);
});

describe('a renewing identity whose registry is down for a while', () => {
  let environment: TestEnvironment;
  let server: RunningServer | undefined;

  beforeAll(async () => {
    environment = await testEnvironment('sqlite', SHORT_LIVED);
    server = await startServer(environment.config);
  });
  afterAll(async () => {
    await server?.close();
    await environment.cleanup();
  });

  it('backs off with growing waits while it cannot reach the registry, then renews once it is back', async () => {
    const running = server!;
    const ports = { port: running.port, mtlsPort: running.mtlsPort ?? 0 };
    const client = createRegistryClient({ baseUrl: running.url });
    const agent = await register(client, 'patient.renewal.test');
    // Due 6 s after issuance; the first wait after a failure is 500 ms.
    const identity = createRenewingIdentity({
      mtlsUrl: running.mtlsUrl ?? '',
      certPem: agent.certPem,
      keyPem: agent.keyPem,
      trustBundlePem: agent.chainPem,
      registry: client,
      renewAt: 0.2,
      retryMs: 500,
    });
    const events = record(identity);
    try {
      await running.close();
      server = undefined;
      await expect.poll(() => events.errors.length, { timeout: 20_000, interval: 100 }).toBeGreaterThanOrEqual(3);
      server = await startServer(configWith({ ...environment.config, ...ports }));
      const renewed = await next(identity, 'renewed');
      expect(Date.now()).toBeLessThan(notAfterOf(agent.certPem));
      expect(renewed.previousFingerprint).toBe(agent.fingerprint);
      expect((await client.registry.getAgent({ agentName: agent.name })).agent?.certFingerprint).toBe(renewed.fingerprint);
      const waits = events.errors.map((error) => error.retryInMs);
      expect(waits.slice(0, 3)).toEqual([500, 1_000, 2_000]);
      expect(events.errors[0]?.message).toContain('patient.renewal.test');
      // Unreachable is not revoked.
      expect(events.revoked).toEqual([]);
    } finally {
      await identity.stop();
    }
  }, 90_000);
});
