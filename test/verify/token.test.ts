import { execFileSync } from 'node:child_process';
import { createHash, createHmac, createPrivateKey, createPublicKey, randomUUID, sign, verify, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Code, createClient, type Client } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentStatus } from '../../gen/atr/v1/agent_pb.js';
import { VerifyReason, VerifyService } from '../../gen/atr/v1/verify_pb.js';
import { loadOrCreateCa } from '../../src/pki/ca.ts';
import { issueAgentCertificate } from '../../src/pki/issue.ts';
import { generateAgentKey } from '../../src/pki/keys.ts';
import { decodeToken, signToken } from '../../src/sdk/token.ts';
import type { App } from '../../src/server/app.ts';
import { InMemoryReplayGuard } from '../../src/verify/replay-guard.ts';
import { rpcError } from '../support/rpc.ts';
import { dialects } from '../support/databases.ts';
import { inProcessApp } from '../support/server.ts';

interface Agent {
  readonly agentName: string;
  readonly keyPem: string;
  readonly certPem: string;
}

const AUDIENCE = 'https://api.example';
const b64url = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const thumbprint = (certPem: string) => createHash('sha256').update(new X509Certificate(certPem).raw).digest('base64url');
const nowSeconds = () => Math.floor(Date.now() / 1000);

/** A token put together by hand, signed independently of the code under test (ES256 as raw r||s). */
function craft(header: Record<string, unknown>, payload: Record<string, unknown>, keyPem?: string): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  const signature = keyPem ? sign('sha256', Buffer.from(input), { key: keyPem, dsaEncoding: 'ieee-p1363' }) : Buffer.alloc(0);
  return `${input}.${signature.toString('base64url')}`;
}

function claimsFor(agentName: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const iat = nowSeconds();
  return { iss: agentName, sub: agentName, aud: AUDIENCE, iat, exp: iat + 60, jti: randomUUID(), ...overrides };
}

describe.each(dialects)('VerifyService.VerifyToken on %s', (dialect) => {
  let app: App;
  let cleanup: () => Promise<void>;
  let client: Client<typeof VerifyService>;
  let work: string;
  let unique = 0;
  const nameFor = (label: string) => `${label}-${++unique}.tokens.test`;

  beforeAll(async () => {
    const started = await inProcessApp(dialect);
    app = started.app;
    cleanup = started.cleanup;
    work = mkdtempSync(join(tmpdir(), 'atr-token-'));
    client = createClient(VerifyService, started.transport);
  });
  afterAll(async () => {
    rmSync(work, { recursive: true, force: true });
    await cleanup();
  });

  async function register(label: string, csrPem?: string, keyPem?: string): Promise<Agent> {
    const agentName = nameFor(label);
    const issued = await app.registry.register({ agentName, owner: 'team-t', capabilities: [], csrPem }, 'test');
    return { agentName, certPem: issued.certPem, keyPem: keyPem ?? issued.privateKeyPem ?? '' };
  }

  /** An agent registered from an openssl-made CSR, e.g. `ed25519` or `rsa:2048`. */
  function registerWithOpensslKey(label: string, newKey: string): Promise<Agent> {
    const keyPath = join(work, `${++unique}.key`);
    const csrPath = join(work, `${unique}.csr`);
    execFileSync('openssl', ['req', '-new', '-newkey', newKey, '-nodes', '-keyout', keyPath, '-out', csrPath, '-subj', '/CN=ignored'], { stdio: 'pipe' });
    return register(label, readFileSync(csrPath, 'utf8'), readFileSync(keyPath, 'utf8'));
  }

  const tokenOf = (agent: Agent, options: { audience?: string | string[]; ttlSeconds?: number; now?: Date } = {}) =>
    signToken({ ...agent, audience: options.audience ?? AUDIENCE, ...options });

  const verifyToken = (token: string, audience = AUDIENCE) => client.verifyToken({ token, audience });

  it('verifies an ES256 token naming its certificate by x5t#S256, returning the claims, and audits it', async () => {
    const agent = await register('es256');
    const token = await signToken({ ...agent, audience: AUDIENCE, claims: { scope: 'read' } });
    const response = await verifyToken(token);
    expect(response).toMatchObject({
      verified: true,
      reason: VerifyReason.VERIFIED,
      agentName: agent.agentName,
      status: AgentStatus.ACTIVE,
      certFingerprint: createHash('sha256').update(new X509Certificate(agent.certPem).raw).digest('hex'),
    });
    const claims = decodeToken(token).claims;
    expect(response.claims).toEqual(claims);
    expect(claims).toMatchObject({ iss: agent.agentName, sub: agent.agentName, aud: AUDIENCE, scope: 'read' });
    expect(Number(response.expiresAt?.seconds)).toBe(claims['exp']);
    const { events } = await app.registry.auditEvents({ agentName: agent.agentName, eventType: 'cert.verified' }, { limit: 10 });
    expect(events.map((event) => event.metadata)).toEqual([
      expect.objectContaining({ kind: 'token', verified: true, reason: 'verified', audience: AUDIENCE, jti: claims['jti'] }),
    ]);
  });

  it('signs ES256 as a standard JWS: raw r||s over header.payload, checkable with the certificate alone', async () => {
    const agent = await register('standard');
    const [header, payload, signature] = (await tokenOf(agent)).split('.') as [string, string, string];
    expect(decodeToken(`${header}.${payload}.${signature}`).header).toEqual({ alg: 'ES256', typ: 'JWT', 'x5t#S256': thumbprint(agent.certPem) });
    const key = new X509Certificate(agent.certPem).publicKey;
    expect(Buffer.from(signature, 'base64url')).toHaveLength(64);
    expect(verify('sha256', Buffer.from(`${header}.${payload}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(signature, 'base64url'))).toBe(true);
  });

  it('verifies a token that sends its certificate in x5c', async () => {
    const agent = await register('x5c');
    const x5c = [new X509Certificate(agent.certPem).raw.toString('base64')];
    const response = await verifyToken(craft({ alg: 'ES256', x5c }, claimsFor(agent.agentName), agent.keyPem));
    expect(response).toMatchObject({ verified: true, reason: VerifyReason.VERIFIED, agentName: agent.agentName });
  });

  it('verifies EdDSA and RS256 tokens from agents registered with CSRs', async () => {
    for (const [newKey, alg] of [['ed25519', 'EdDSA'], ['rsa:2048', 'RS256']] as const) {
      const agent = await registerWithOpensslKey(newKey.replace(':', ''), newKey);
      const token = await tokenOf(agent);
      expect(decodeToken(token).header['alg']).toBe(alg);
      expect(await verifyToken(token)).toMatchObject({ verified: true, reason: VerifyReason.VERIFIED, agentName: agent.agentName });
    }
  });

  it('checks aud: one of an array passes, anything else is WRONG_AUDIENCE', async () => {
    const agent = await register('aud');
    expect((await verifyToken(await tokenOf(agent, { audience: ['https://other.example', AUDIENCE] }))).reason).toBe(VerifyReason.VERIFIED);
    const wrong = await verifyToken(await tokenOf(agent), 'https://elsewhere.example');
    expect(wrong).toMatchObject({ verified: false, reason: VerifyReason.WRONG_AUDIENCE });
    expect(wrong.claims).toMatchObject({ aud: AUDIENCE });
  });

  it('refuses expired tokens, tokens from the future, and lifetimes over 5 minutes', async () => {
    const agent = await register('time');
    const expired = await verifyToken(await tokenOf(agent, { now: new Date(Date.now() - 120_000) }));
    expect(expired).toMatchObject({ verified: false, reason: VerifyReason.EXPIRED });
    const future = await verifyToken(await tokenOf(agent, { now: new Date(Date.now() + 120_000) }));
    expect(future).toMatchObject({ verified: false, reason: VerifyReason.NOT_YET_VALID });
    // Within the 60 s skew a signer's clock may run ahead.
    expect((await verifyToken(await tokenOf(agent, { now: new Date(Date.now() + 30_000) }))).reason).toBe(VerifyReason.VERIFIED);
    const iat = nowSeconds();
    const long = await verifyToken(craft({ alg: 'ES256', 'x5t#S256': thumbprint(agent.certPem) }, claimsFor(agent.agentName, { iat, exp: iat + 301 }), agent.keyPem));
    expect(long).toMatchObject({ verified: false, reason: VerifyReason.INVALID_TOKEN, message: expect.stringMatching(/301 s after iat/) });
    const atLimit = await verifyToken(craft({ alg: 'ES256', 'x5t#S256': thumbprint(agent.certPem) }, claimsFor(agent.agentName, { iat, exp: iat + 300 }), agent.keyPem));
    expect(atLimit.reason).toBe(VerifyReason.VERIFIED);
  });

  it('accepts a jti once: the second presentation is REPLAYED', async () => {
    const agent = await register('replay');
    const token = await tokenOf(agent);
    expect((await verifyToken(token)).reason).toBe(VerifyReason.VERIFIED);
    expect(await verifyToken(token)).toMatchObject({ verified: false, reason: VerifyReason.REPLAYED });
  });

  it('does not use up a jti on a token that failed another check', async () => {
    const agent = await register('replay-late');
    const token = await tokenOf(agent);
    expect((await verifyToken(token, 'https://elsewhere.example')).reason).toBe(VerifyReason.WRONG_AUDIENCE);
    expect((await verifyToken(token)).reason).toBe(VerifyReason.VERIFIED);
  });

  it('refuses alg none and HS256 keyed with the agent certificate public key', async () => {
    const agent = await register('alg');
    const claims = claimsFor(agent.agentName);
    const none = await verifyToken(craft({ alg: 'none', 'x5t#S256': thumbprint(agent.certPem) }, claims));
    expect(none).toMatchObject({ verified: false, reason: VerifyReason.INVALID_TOKEN, message: expect.stringMatching(/alg "none"/) });
    const publicPem = createPublicKey(agent.certPem).export({ format: 'pem', type: 'spki' });
    const input = `${b64url({ alg: 'HS256', 'x5t#S256': thumbprint(agent.certPem) })}.${b64url(claims)}`;
    const mac = createHmac('sha256', publicPem).update(input).digest('base64url');
    const hs256 = await verifyToken(`${input}.${mac}`);
    expect(hs256).toMatchObject({ verified: false, reason: VerifyReason.INVALID_TOKEN, message: expect.stringMatching(/alg "HS256"/) });
  });

  it('refuses an alg that does not match the certificate key type', async () => {
    const agent = await register('mismatch');
    const ed = await registerWithOpensslKey('mismatch-ed', 'ed25519');
    const input = `${b64url({ alg: 'EdDSA', 'x5t#S256': thumbprint(agent.certPem) })}.${b64url(claimsFor(agent.agentName))}`;
    const signature = sign(null, Buffer.from(input), createPrivateKey(ed.keyPem)).toString('base64url');
    const response = await verifyToken(`${input}.${signature}`);
    expect(response).toMatchObject({ verified: false, reason: VerifyReason.INVALID_TOKEN, message: expect.stringMatching(/does not match/) });
  });

  it("refuses a token naming agent A's certificate but signed with agent B's key: BAD_SIGNATURE", async () => {
    const a = await register('sig-a');
    const b = await register('sig-b');
    const response = await verifyToken(craft({ alg: 'ES256', 'x5t#S256': thumbprint(a.certPem) }, claimsFor(a.agentName), b.keyPem));
    expect(response).toMatchObject({ verified: false, reason: VerifyReason.BAD_SIGNATURE, agentName: a.agentName });
    expect(response.claims).toBeUndefined();
  });

  it('refuses a token signed before its agent was revoked: REVOKED', async () => {
    const agent = await register('revoked');
    const token = await tokenOf(agent);
    await app.registry.revoke({ agentName: agent.agentName, reason: 'keyCompromise' }, 'test');
    expect(await verifyToken(token)).toMatchObject({ verified: false, reason: VerifyReason.REVOKED, status: AgentStatus.REVOKED });
  });

  it('refuses a token signed with a certificate its agent has rotated away from: SUPERSEDED', async () => {
    const agent = await register('rotated');
    const token = await tokenOf(agent);
    const rotated = await app.registry.rotate({ agentName: agent.agentName }, 'test');
    expect(await verifyToken(token)).toMatchObject({ verified: false, reason: VerifyReason.SUPERSEDED });
    const fresh = await tokenOf({ ...agent, certPem: rotated.certPem, keyPem: rotated.privateKeyPem ?? '' });
    expect((await verifyToken(fresh)).reason).toBe(VerifyReason.VERIFIED);
  });

  it('refuses an x5c certificate from a foreign CA (UNTRUSTED_ISSUER) and an unknown x5t#S256 (UNKNOWN_AGENT)', async () => {
    const agent = await register('foreign');
    const foreignCa = await loadOrCreateCa({ dir: join(work, 'foreign-ca'), validityDays: 10, trustDomain: app.ca.trustDomain, crlUrl: app.ca.crlUrl });
    const { key, privateKeyPem } = await generateAgentKey();
    const forged = await issueAgentCertificate(foreignCa, { agentName: agent.agentName, key, validityDays: 1 });
    const claims = claimsFor(agent.agentName);
    const viaX5c = await verifyToken(craft({ alg: 'ES256', x5c: [forged.der.toString('base64')] }, claims, privateKeyPem));
    expect(viaX5c).toMatchObject({ verified: false, reason: VerifyReason.UNTRUSTED_ISSUER });
    const viaThumbprint = await verifyToken(craft({ alg: 'ES256', 'x5t#S256': thumbprint(forged.pem) }, claims, privateKeyPem));
    expect(viaThumbprint).toMatchObject({ verified: false, reason: VerifyReason.UNKNOWN_AGENT });
  });

  it('refuses headers that name keys elsewhere (jku, x5u, jwk) and crit', async () => {
    const agent = await register('headers');
    for (const extra of [{ jku: 'https://attacker.example/jwks.json' }, { x5u: 'https://attacker.example/cert.pem' }, { jwk: { kty: 'EC' } }, { crit: ['exp'] }]) {
      const token = craft({ alg: 'ES256', 'x5t#S256': thumbprint(agent.certPem), ...extra }, claimsFor(agent.agentName), agent.keyPem);
      const response = await verifyToken(token);
      expect(response, Object.keys(extra)[0]).toMatchObject({ verified: false, reason: VerifyReason.INVALID_TOKEN });
      expect(response.message).toContain(Object.keys(extra)[0]);
    }
  });

  it('refuses iss different from sub, and iss/sub naming another agent than the certificate', async () => {
    const agent = await register('claims');
    const other = await register('claims-other');
    const header = { alg: 'ES256', 'x5t#S256': thumbprint(agent.certPem) };
    const split = await verifyToken(craft(header, claimsFor(agent.agentName, { sub: other.agentName }), agent.keyPem));
    expect(split).toMatchObject({ verified: false, reason: VerifyReason.INVALID_TOKEN, message: expect.stringMatching(/iss .* and sub .* must both be/) });
    const impersonating = await verifyToken(craft(header, claimsFor(other.agentName), agent.keyPem));
    expect(impersonating).toMatchObject({ verified: false, reason: VerifyReason.INVALID_TOKEN, message: expect.stringContaining(`certificate is ${agent.agentName}'s`) });
  });

  it('refuses tokens missing required claims or not in compact form', async () => {
    const agent = await register('shape');
    const header = { alg: 'ES256', 'x5t#S256': thumbprint(agent.certPem) };
    for (const missing of ['jti', 'aud', 'exp', 'iat', 'iss']) {
      const claims = claimsFor(agent.agentName);
      delete claims[missing];
      const response = await verifyToken(craft(header, claims, agent.keyPem));
      expect(response, missing).toMatchObject({ reason: VerifyReason.INVALID_TOKEN, message: expect.stringContaining(`claim ${missing}`) });
    }
    expect((await verifyToken('not.a-token')).reason).toBe(VerifyReason.INVALID_TOKEN);
    expect((await verifyToken(`${await tokenOf(agent)}=`)).reason).toBe(VerifyReason.INVALID_TOKEN);
  });

  it('answers InvalidArgument for a token over 64 KiB and for a request without an audience', async () => {
    const agent = await register('limits');
    const big = craft({ alg: 'ES256', 'x5t#S256': thumbprint(agent.certPem) }, claimsFor(agent.agentName, { pad: 'x'.repeat(64 * 1024) }), agent.keyPem);
    const tooLarge = await rpcError(verifyToken(big));
    expect(tooLarge.code).toBe(Code.InvalidArgument);
    expect(tooLarge.message).toMatch(/token: must be at most 65536 bytes/);
    const noAudience = await rpcError(verifyToken(await tokenOf(agent), ''));
    expect(noAudience.code).toBe(Code.InvalidArgument);
    expect(noAudience.message).toMatch(/audience/);
  });
});

describe('InMemoryReplayGuard', () => {
  const claim = (guard: InMemoryReplayGuard, agent: string, jti: string, expiresAtMs: number, nowMs: number) =>
    guard.claim({ agent, jti, expiresAtMs, nowMs }).outcome;

  it('remembers an id until its expiry, then lets it go', () => {
    const guard = new InMemoryReplayGuard({ tokensPerAgentPerMinute: 100 });
    expect(claim(guard, 'x', 'a', 2_000, 1_000)).toBe('claimed');
    expect(claim(guard, 'x', 'a', 2_000, 1_999)).toBe('replayed');
    expect(claim(guard, 'x', 'a', 3_000, 2_000)).toBe('claimed');
  });

  it('refuses new ids when full of live ones, and makes room as they expire', () => {
    const guard = new InMemoryReplayGuard({ tokensPerAgentPerMinute: 100, capacity: 2 });
    expect(claim(guard, 'x', 'a', 5_000, 0)).toBe('claimed');
    expect(claim(guard, 'y', 'b', 2_000, 0)).toBe('claimed');
    expect(claim(guard, 'z', 'c', 9_000, 1_000)).toBe('full');
    expect(claim(guard, 'z', 'c', 9_000, 2_000)).toBe('claimed');
    expect(claim(guard, 'x', 'a', 9_000, 2_000)).toBe('replayed');
  });
});
