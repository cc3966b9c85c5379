import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { Code, ConnectError, createClient, type Client } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentStatus } from '../../gen/atr/v1/agent_pb.js';
import { toJsonString } from '@bufbuild/protobuf';
import { GetAgentCertificateResponseSchema, RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { ResolveService } from '../../gen/atr/v1/resolve_pb.js';
import { VerifyReason, VerifyService } from '../../gen/atr/v1/verify_pb.js';
import type { App } from '../../src/server/app.ts';
import { dialects } from '../support/databases.ts';
import { rpcError } from '../support/rpc.ts';
import { keyAndCsr, publicKeyOf, publicKeyOfPrivate } from '../support/keys.ts';
import { inProcessApp } from '../support/server.ts';

describe.each(dialects)('registry services on %s', (dialect) => {
  let app: App;
  let cleanup: () => Promise<void>;
  let registry: Client<typeof RegistryService>;
  let verify: Client<typeof VerifyService>;
  let resolve: Client<typeof ResolveService>;
  let unique = 0;
  const nameFor = (label: string) => `${label}-${++unique}.agents.test`;

  beforeAll(async () => {
    const started = await inProcessApp(dialect);
    app = started.app;
    cleanup = started.cleanup;
    registry = createClient(RegistryService, started.transport);
    verify = createClient(VerifyService, started.transport);
    resolve = createClient(ResolveService, started.transport);
  });
  afterAll(() => cleanup());

  const auditOf = async (agentName: string) =>
    (await registry.listAuditEvents({ agentName, limit: 100 })).events.map((event) => event.eventType).reverse();

  it('registers with a server-generated key, returned once and matching the certificate', async () => {
    const agentName = nameFor('keygen');
    const response = await registry.registerAgent({ agentName, owner: 'team-a', capabilities: ['search', 'pay'] });
    const agent = response.agent!;
    expect(agent).toMatchObject({ agentName, owner: 'team-a', capabilities: ['search', 'pay'], status: AgentStatus.ACTIVE, version: 1 });
    expect(agent.spiffeId).toBe(`spiffe://atr.local/agent/${agentName}`);
    expect(publicKeyOfPrivate(response.privateKeyPem)).toBe(publicKeyOf(response.certPem));
    const certificate = new X509Certificate(response.certPem);
    expect(certificate.subjectAltName).toContain(`DNS:${agentName}`);
    expect(certificate.fingerprint256.replaceAll(':', '').toLowerCase()).toBe(agent.certFingerprint);
    expect(certificate.serialNumber.toLowerCase()).toBe(agent.certSerial);
    expect(response.chainPem).toBe(app.ca.trustBundlePem);
    // Returned once: nothing the registry serves later carries the key.
    const again = await registry.getAgentCertificate({ agentName });
    expect(toJsonString(GetAgentCertificateResponseSchema, again)).not.toContain('PRIVATE KEY');
    expect(await auditOf(agentName)).toEqual(['agent.registered']);
  });

  it('registers from a CSR: the certificate carries the CSR key and no key is returned', async () => {
    const agentName = nameFor('csr');
    const { csrPem, publicKeyPem } = await keyAndCsr('someone-else.example');
    const response = await registry.registerAgent({ agentName, owner: 'team-a', csrPem });
    expect(response.privateKeyPem).toBe('');
    expect(publicKeyOf(response.certPem)).toBe(publicKeyPem);
    // The CSR's subject and SANs are ignored: the registry names the certificate.
    expect(new X509Certificate(response.certPem).subjectAltName).not.toContain('someone-else');
  });

  it('refuses invalid input with the rule that failed and writes nothing', async () => {
    const before = (await registry.listAgents({})).total;
    const cases: [Record<string, unknown>, string][] = [
      [{ agentName: 'Bad_Name', owner: 'o' }, 'must be lowercase'],
      [{ agentName: 'a..b', owner: 'o' }, 'labels must not be empty'],
      [{ agentName: nameFor('x'), owner: '' }, 'owner: must not be empty'],
      [{ agentName: nameFor('x'), owner: 'o', capabilities: Array.from({ length: 65 }, (_, i) => `c${i}`) }, 'at most 64'],
      [{ agentName: nameFor('x'), owner: 'o', capabilities: ['c'.repeat(65)] }, '1 to 64 characters'],
      [{ agentName: nameFor('x'), owner: 'o', endpoints: ['not a uri'] }, 'endpoints'],
      [{ agentName: nameFor('x'), owner: 'o', csrPem: 'garbage' }, 'csr_pem'],
    ];
    for (const [request, rule] of cases) {
      const error = await rpcError(registry.registerAgent(request));
      expect(error.code, rule).toBe(Code.InvalidArgument);
      expect(error.rawMessage).toContain(rule);
    }
    expect((await registry.listAgents({})).total).toBe(before);
  });

  it('keeps names unique, revoked ones included', async () => {
    const agentName = nameFor('taken');
    await registry.registerAgent({ agentName, owner: 'o' });
    expect((await rpcError(registry.registerAgent({ agentName, owner: 'o' }))).code).toBe(Code.AlreadyExists);
    await registry.revokeAgent({ agentName });
    const error = await rpcError(registry.registerAgent({ agentName, owner: 'other' }));
    expect(error.code).toBe(Code.AlreadyExists);
    expect(error.rawMessage).toBe(`agent name ${agentName} is already taken`);
  });

  it('answers NotFound for an unknown agent on every read and write', async () => {
    const agentName = nameFor('missing');
    for (const call of [
      () => registry.getAgent({ agentName }),
      () => registry.getAgentCertificate({ agentName }),
      () => registry.rotateCertificate({ agentName }),
      () => registry.revokeAgent({ agentName }),
      () => registry.updateAgent({ agentName, description: 'x' }),
      () => resolve.resolveAgent({ agentName }),
    ]) {
      expect((await rpcError(call())).code).toBe(Code.NotFound);
    }
  });

  it('rotates: the new certificate verifies, the old one is superseded and in the CRL', async () => {
    const agentName = nameFor('rotate');
    const first = await registry.registerAgent({ agentName, owner: 'o' });
    const { csrPem, publicKeyPem } = await keyAndCsr();
    const rotated = await registry.rotateCertificate({ agentName, csrPem });
    expect(publicKeyOf(rotated.certPem)).toBe(publicKeyPem);
    expect(rotated.previousCertFingerprint).toBe(first.agent!.certFingerprint);
    expect(rotated.agent).toMatchObject({ version: 2, status: AgentStatus.ACTIVE });
    expect(rotated.agent!.certFingerprint).not.toBe(first.agent!.certFingerprint);

    const fresh = await verify.verifyCertificate({ certPem: rotated.certPem });
    expect(fresh).toMatchObject({ verified: true, reason: VerifyReason.VERIFIED, agentName, status: AgentStatus.ACTIVE });
    const old = await verify.verifyCertificate({ certPem: first.certPem });
    expect(old).toMatchObject({ verified: false, reason: VerifyReason.SUPERSEDED, agentName });

    const { crlDer } = await verify.getTrustBundle({});
    const serials = crlSerials(crlDer);
    expect(serials).toContain(bare(first.agent!.certSerial));
    expect(serials).not.toContain(bare(rotated.agent!.certSerial));
    expect(await auditOf(agentName)).toEqual(['agent.registered', 'agent.rotated', 'cert.verified', 'cert.verified']);
  });

  it('revokes with an RFC 5280 reason; a revoked agent cannot be rotated or updated', async () => {
    const agentName = nameFor('revoke');
    const registered = await registry.registerAgent({ agentName, owner: 'o' });
    expect((await rpcError(registry.revokeAgent({ agentName, reason: 'stolen' }))).code).toBe(Code.InvalidArgument);
    const { agent } = await registry.revokeAgent({ agentName, reason: 'keyCompromise' });
    expect(agent).toMatchObject({ status: AgentStatus.REVOKED, revocationReason: 'keyCompromise', version: 2 });
    expect(agent!.revokedAt).toBeDefined();

    const result = await verify.verifyCertificate({ certPem: registered.certPem });
    expect(result).toMatchObject({ verified: false, reason: VerifyReason.REVOKED, status: AgentStatus.REVOKED });
    expect(result.message).toContain('keyCompromise');

    const rotate = await rpcError(registry.rotateCertificate({ agentName }));
    expect(rotate.code).toBe(Code.FailedPrecondition);
    expect(rotate.rawMessage).toContain('revoked');
    expect((await rpcError(registry.updateAgent({ agentName, description: 'x' }))).code).toBe(Code.FailedPrecondition);
    expect((await rpcError(registry.revokeAgent({ agentName }))).code).toBe(Code.FailedPrecondition);
    expect(crlSerials((await verify.getTrustBundle({})).crlDer)).toContain(bare(registered.agent!.certSerial));
    expect((await resolve.resolveAgent({ agentName })).status).toBe(AgentStatus.REVOKED);
    expect(await auditOf(agentName)).toEqual(['agent.registered', 'agent.revoked', 'cert.verified']);
  });

  it('updates metadata with optimistic concurrency', async () => {
    const agentName = nameFor('update');
    await registry.registerAgent({ agentName, owner: 'o', capabilities: ['a'] });
    const { agent } = await registry.updateAgent({
      agentName,
      capabilities: ['b', 'c'],
      description: 'does things',
      endpoints: ['https://agent.example/rpc'],
      expectedVersion: 1,
    });
    expect(agent).toMatchObject({ capabilities: ['b', 'c'], description: 'does things', endpoints: ['https://agent.example/rpc'], version: 2 });
    const stale = await rpcError(registry.updateAgent({ agentName, description: 'late', expectedVersion: 1 }));
    expect(stale.code).toBe(Code.Aborted);
    expect(stale.rawMessage).toContain('version 2, not the expected 1');
    // An update mask can clear a field.
    const cleared = await registry.updateAgent({ agentName, updateMask: { paths: ['capabilities'] } });
    expect(cleared.agent).toMatchObject({ capabilities: [], description: 'does things', version: 3 });
    expect((await rpcError(registry.updateAgent({ agentName, updateMask: { paths: ['owner'] } }))).code).toBe(Code.InvalidArgument);
    const resolved = await resolve.resolveAgent({ agentName });
    expect(resolved).toMatchObject({ agentName, owner: 'o', description: 'does things', status: AgentStatus.ACTIVE });
  });

  it('lists with owner, status and capability filters, offsets and stable page tokens', async () => {
    const owner = `lister-${dialect}`;
    const names = [];
    for (let i = 0; i < 7; i++) {
      const agentName = nameFor('list');
      names.push(agentName);
      await registry.registerAgent({ agentName, owner, capabilities: i % 2 === 0 ? ['even', 'all'] : ['odd', 'all'] });
    }
    await registry.revokeAgent({ agentName: names[0]! });
    expect((await registry.listAgents({ owner })).total).toBe(7);
    const even = await registry.listAgents({ owner, capability: 'even' });
    expect(even.agents.map((a) => a.agentName)).toEqual([names[0], names[2], names[4], names[6]]);
    // Membership, not substring: "eve" matches nothing.
    expect((await registry.listAgents({ owner, capability: 'eve' })).total).toBe(0);
    expect((await registry.listAgents({ owner, status: AgentStatus.REVOKED })).agents.map((a) => a.agentName)).toEqual([names[0]]);
    expect((await registry.listAgents({ owner, status: AgentStatus.ACTIVE })).total).toBe(6);
    const offset = await registry.listAgents({ owner, limit: 2, offset: 2 });
    expect(offset).toMatchObject({ total: 7, limit: 2, offset: 2 });
    expect(offset.agents.map((a) => a.agentName)).toEqual(names.slice(2, 4));

    const first = await registry.listAgents({ owner, pageSize: 3 });
    expect(first.agents.map((a) => a.agentName)).toEqual(names.slice(0, 3));
    // A registration between pages does not shift what the next page holds.
    const late = nameFor('list-late');
    await registry.registerAgent({ agentName: late, owner });
    const second = await registry.listAgents({ owner, pageSize: 3, pageToken: first.nextPageToken });
    expect(second.agents.map((a) => a.agentName)).toEqual(names.slice(3, 6));
    const third = await registry.listAgents({ owner, pageSize: 3, pageToken: second.nextPageToken });
    expect(third.agents.map((a) => a.agentName)).toEqual([names[6], late]);
    expect(third.nextPageToken).toBe('');
    expect((await rpcError(registry.listAgents({ pageToken: 'bogus' }))).code).toBe(Code.InvalidArgument);
    expect((await rpcError(registry.listAgents({ pageSize: 501 }))).code).toBe(Code.InvalidArgument);
  });

  it('derives the expired status from the current certificate', async () => {
    const { Registry } = await import('../../src/registry/registry.ts');
    const past = new Registry({ store: app.store, ca: app.ca, certValidityDays: 1, now: () => new Date(Date.now() - 3 * 86_400_000) });
    const agentName = nameFor('expired');
    const issued = await past.register({ agentName, owner: 'expiry', capabilities: [] }, 'test');
    const { agent } = await registry.getAgent({ agentName });
    expect(agent!.status).toBe(AgentStatus.EXPIRED);
    expect((await registry.listAgents({ owner: 'expiry', status: AgentStatus.EXPIRED })).agents.map((a) => a.agentName)).toEqual([agentName]);
    expect((await registry.listAgents({ owner: 'expiry', status: AgentStatus.ACTIVE })).total).toBe(0);
    expect(await verify.verifyCertificate({ certPem: issued.certPem })).toMatchObject({ verified: false, reason: VerifyReason.EXPIRED });
    // Rotation brings an expired agent back.
    const rotated = await registry.rotateCertificate({ agentName });
    expect(rotated.agent!.status).toBe(AgentStatus.ACTIVE);
  });

  it('verifies the same certificate again against the time and the registry state of each call', async () => {
    const { Verifier } = await import('../../src/verify/verify.ts');
    let now = Date.now();
    const verifier = new Verifier({ store: app.store, ca: app.ca, audit: 'none', now: () => new Date(now) });
    const agentName = nameFor('reverify');
    const issued = await registry.registerAgent({ agentName, owner: 'reverify' });
    const notAfter = new Date(new X509Certificate(issued.certPem).validTo).getTime();
    const verdict = async () => (await verifier.verify({ pem: issued.certPem }, 'test')).reason;
    expect(await verdict()).toBe('verified');
    now = notAfter + 1000;
    expect(await verdict()).toBe('expired');
    now = new Date(new X509Certificate(issued.certPem).validFrom).getTime() - 1000;
    expect(await verdict()).toBe('not_yet_valid');
    now = Date.now();
    expect(await verdict()).toBe('verified');
    await registry.revokeAgent({ agentName, reason: 'keyCompromise' });
    expect(await verdict()).toBe('revoked');
  });

  it('verifies in the documented order: malformed, untrusted issuer, validity, unknown agent', async () => {
    // Input that is not one certificate's PEM or DER is a bad request; well-formed DER that is no certificate is malformed.
    expect((await rpcError(verify.verifyCertificate({ certPem: 'not a certificate' }))).rawMessage).toBe('cert_pem: must be a PEM block labelled CERTIFICATE');
    const { certPem } = await registry.registerAgent({ agentName: nameFor('twice'), owner: 'o' });
    const twice = await rpcError(verify.verifyCertificate({ certPem: certPem + certPem }));
    expect([twice.code, twice.rawMessage]).toEqual([Code.InvalidArgument, 'cert_pem: must be exactly one PEM block, found 2']);
    expect(await verify.verifyCertificate({ certDer: Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x01) })).toMatchObject({ verified: false, reason: VerifyReason.MALFORMED });
    expect(await verify.verifyCertificate({ certDer: new X509Certificate(certPem).raw })).toMatchObject({ reason: VerifyReason.VERIFIED });

    const { loadOrCreateCa } = await import('../../src/pki/ca.ts');
    const { issueAgentCertificate } = await import('../../src/pki/issue.ts');
    const { generateAgentKey } = await import('../../src/pki/keys.ts');
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const foreign = await loadOrCreateCa({
      dir: join(mkdtempSync(join(tmpdir(), 'atr-foreign-')), 'pki'),
      validityDays: 365,
      trustDomain: 'atr.local',
      crlUrl: 'http://127.0.0.1/v1/crl',
    });
    const agentName = nameFor('impostor');
    await registry.registerAgent({ agentName, owner: 'o' });
    const { key } = await generateAgentKey();
    const forged = await issueAgentCertificate(foreign, { agentName, key, validityDays: 30 });
    expect(await verify.verifyCertificate({ certPem: forged.pem })).toMatchObject({ verified: false, reason: VerifyReason.UNTRUSTED_ISSUER });

    const day = 86_400_000;
    const old = await issueAgentCertificate(app.ca, { agentName, key, validityDays: 1, now: new Date(Date.now() - 3 * day) });
    expect(await verify.verifyCertificate({ certPem: old.pem })).toMatchObject({ reason: VerifyReason.EXPIRED });
    const future = await issueAgentCertificate(app.ca, { agentName, key, validityDays: 30, now: new Date(Date.now() + 3 * day) });
    expect(await verify.verifyCertificate({ certPem: future.pem })).toMatchObject({ reason: VerifyReason.NOT_YET_VALID });
    const unknown = await issueAgentCertificate(app.ca, { agentName: nameFor('ghost'), key, validityDays: 30 });
    expect(await verify.verifyCertificate({ certPem: unknown.pem })).toMatchObject({ reason: VerifyReason.UNKNOWN_AGENT });
    // Issued by the registry for a registered name, but never recorded as that agent's certificate.
    const stray = await issueAgentCertificate(app.ca, { agentName, key, validityDays: 30 });
    expect(await verify.verifyCertificate({ certPem: stray.pem })).toMatchObject({ reason: VerifyReason.UNKNOWN_AGENT });

    const huge = await rpcError(verify.verifyCertificate({ certPem: 'A'.repeat(64 * 1024 + 1) }));
    expect(huge.code).toBe(Code.InvalidArgument);
    expect(huge.rawMessage).toContain('at most 65536 bytes');
    expect((await rpcError(verify.verifyCertificate({}))).code).toBe(Code.InvalidArgument);
  });

  it('lets exactly one of 20 concurrent registrations of a name succeed', async () => {
    const agentName = nameFor('race');
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => registry.registerAgent({ agentName, owner: 'o' })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(ConnectError.from(r.reason).code).toBe(Code.AlreadyExists);
    expect(await auditOf(agentName)).toEqual(['agent.registered']);
  });

  it('never leaves two current certificates under concurrent rotations', async () => {
    const agentName = nameFor('rotations');
    await registry.registerAgent({ agentName, owner: 'o' });
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => registry.rotateCertificate({ agentName })));
    const rotated = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    expect(rotated.length).toBeGreaterThan(0);
    const { agent } = await registry.getAgent({ agentName });
    expect(agent!.version).toBe(1 + rotated.length);
    // Exactly one of all the certificates ever issued to the agent verifies.
    const verdicts = await Promise.all(rotated.map((r) => verify.verifyCertificate({ certPem: r.certPem })));
    expect(verdicts.filter((v) => v.verified)).toHaveLength(1);
    expect(verdicts.find((v) => v.verified)!.certFingerprint).toBe(agent!.certFingerprint);
    expect((await registry.listAuditEvents({ agentName, eventType: 'agent.rotated' })).total).toBe(rotated.length);
  });

  it('registers 50 agents concurrently with 50 audit events', async () => {
    const owner = `bulk-${dialect}`;
    const names = Array.from({ length: 50 }, () => nameFor('bulk'));
    await Promise.all(names.map((agentName) => registry.registerAgent({ agentName, owner })));
    expect((await registry.listAgents({ owner, limit: 100 })).total).toBe(50);
    const events = await registry.listAuditEvents({ eventType: 'agent.registered', limit: 500 });
    expect(events.events.filter((e) => names.includes(e.agentName))).toHaveLength(50);
  });

  it('survives 200 concurrent verifications', async () => {
    const { certPem } = await registry.registerAgent({ agentName: nameFor('busy'), owner: 'o' });
    const results = await Promise.all(Array.from({ length: 200 }, () => verify.verifyCertificate({ certPem })));
    expect(results.every((r) => r.verified)).toBe(true);
  });
});

const bare = (serial: string) => serial.toLowerCase().replace(/^0+/, '');

/** Serial numbers in a DER CRL, read with OpenSSL. */
function crlSerials(der: Uint8Array): string[] {
  const text = execFileSync('openssl', ['crl', '-inform', 'DER', '-noout', '-text'], { input: der }).toString();
  return [...text.matchAll(/Serial Number: ([0-9A-F]+)/gi)].map((m) => bare(m[1]!));
}
