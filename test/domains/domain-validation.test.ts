// Domain validation end to end through the real listener: challenges answered in a real BIND the test controls
// (TXT records published with nsupdate and TSIG), an HTTP challenge served by a loopback web server, WHOIS from a
// loopback port-43 stand-in; every refusal says its rule and writes nothing but its audit event.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { type Server as HttpServer, createServer as createHttpServer } from 'node:http';
import { type Server as TcpServer, createServer as createTcpServer } from 'node:net';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Code } from '@connectrpc/connect';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { AgentStatus } from '../../gen/atr/v1/agent_pb.js';
import { ApiKeyRole } from '../../gen/atr/v1/api_key_pb.js';
import { DomainMethod, DomainStatus } from '../../gen/atr/v1/domain_pb.js';
import type { Config } from '../../src/config/schema.ts';
import { type RegistryClient, createRegistryClient } from '../../src/sdk/client.ts';
import type { RunningServer } from '../../src/server/server.ts';
import { dialects } from '../support/databases.ts';
import { runAtr } from '../support/cli.ts';
import { rpcError } from '../support/rpc.ts';
import { runningServer } from '../support/server.ts';
import { type Bind, freePort, startBind } from './bind.ts';

const DAY_MS = 86_400_000;
const dnsValueOf = (token: string, owner: string) => createHash('sha256').update(`${token}.${owner}`).digest('base64url');

interface Registry {
  readonly server: RunningServer;
  readonly admin: RegistryClient;
  readonly acme: RegistryClient;
  readonly umbrella: RegistryClient;
  readonly reader: RegistryClient;
  readonly anonymous: RegistryClient;
  /** acme's owner key, for the CLI. */
  readonly acmeKey: string;
  /** The domain.* audit events about a domain, oldest first. */
  domainEvents(domain: string): Promise<{ eventType: string; metadata: Record<string, unknown> }[]>;
  cleanup(): Promise<void>;
}

/** A registry with API keys on, validation on, and owner keys for acme and umbrella. */
async function registry(dialect: 'sqlite' | 'postgresql', overrides: Partial<Config>): Promise<Registry> {
  const started = await runningServer(dialect, { apiKeyEnabled: true, domainValidationEnabled: true, ...overrides });
  const baseUrl = started.server.url;
  const admin = createRegistryClient({ baseUrl, apiKey: readFileSync(started.environment.config.adminKeyFile, 'utf8').trim() });
  const secretFor = async (role: ApiKeyRole, owner = '') => (await admin.keys.createApiKey({ role, owner })).secret;
  const keyFor = async (role: ApiKeyRole, owner = '') => createRegistryClient({ baseUrl, apiKey: await secretFor(role, owner) });
  const acmeKey = await secretFor(ApiKeyRole.OWNER, 'acme');
  return {
    server: started.server,
    admin,
    acmeKey,
    acme: createRegistryClient({ baseUrl, apiKey: acmeKey }),
    umbrella: await keyFor(ApiKeyRole.OWNER, 'umbrella'),
    reader: await keyFor(ApiKeyRole.READER),
    anonymous: createRegistryClient({ baseUrl }),
    async domainEvents(domain) {
      const { events } = await admin.registry.listAuditEvents({ agentName: domain, limit: 500 });
      return events
        .filter((event) => event.eventType.startsWith('domain.'))
        .sort((a, b) => Number(a.id - b.id))
        .map((event) => ({ eventType: event.eventType, metadata: (event.metadata ?? {}) as Record<string, unknown> }));
    },
    cleanup: started.cleanup,
  };
}

/** A WHOIS stand-in on a loopback port: answers every query as a gTLD registry would, and remembers the queries. */
async function whoisServer(): Promise<{ server: TcpServer; address: string; queries: string[] }> {
  const queries: string[] = [];
  const server = createTcpServer((socket) => {
    socket.once('data', (data) => {
      queries.push(data.toString());
      socket.end('Domain Name: EXAMPLE.TEST\r\nRegistrar: Loopback Registrar Inc.\r\nCreation Date: 2001-02-03T04:05:06Z\r\n');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, address: `127.0.0.1:${(server.address() as { port: number }).port}`, queries };
}

describe.each(dialects)('domain validation on %s', (dialect) => {
  let bind: Bind;
  let otherBind: Bind;
  let web: HttpServer;
  let whois: Awaited<ReturnType<typeof whoisServer>>;
  // What the loopback web server answers, by path.
  const pages = new Map<string, { status: number; body?: string; location?: string }>();
  let main: Registry;

  beforeAll(async () => {
    [bind, otherBind, whois] = await Promise.all([startBind(['example.test', 'site.test', 'split.test', 'cli.test']), startBind(['split.test']), whoisServer()]);
    const httpPort = await freePort();
    web = createHttpServer((req, res) => {
      const page = pages.get(req.url ?? '');
      res.writeHead(page?.status ?? 404, page?.location === undefined ? {} : { location: page.location });
      res.end(page?.body ?? 'not here');
    });
    web.listen(httpPort, '127.0.0.1');
    await once(web, 'listening');
    main = await registry(dialect, { dnsResolver: [bind.address], whoisServer: [whois.address], domainHttpPort: httpPort, domainGraceDays: 0 });
  });
  afterAll(async () => {
    await main?.cleanup();
    web?.close();
    whois?.server.close();
    await Promise.all([bind?.stop(), otherBind?.stop()]);
  });
  afterEach(() => vi.useRealTimers());

  it('opens a challenge for the canonical name (no trailing dot, lowercase), bound to its owner', async () => {
    const { challenge } = await main.acme.domains.createDomainChallenge({ domain: 'Example.TEST.' });
    expect(challenge).toMatchObject({ domain: 'example.test', owner: 'acme', dnsName: '_atr-challenge.example.test' });
    expect(challenge?.token).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(challenge?.dnsValue).toBe(dnsValueOf(challenge?.token ?? '', 'acme'));
    expect(challenge?.httpUrl).toBe(`http://example.test/.well-known/atr-challenge/${challenge?.token}`);
    expect(challenge?.httpBody).toBe(`${challenge?.token}.acme`);
  });

  it('refuses names that are not registrable domains, each with its rule', async () => {
    const cases: [string, string][] = [
      ['127.0.0.1', 'domain: must be a DNS name, not an IP address'],
      ['[::1]', 'domain: must be a DNS name, not an IP address'],
      ['localhost', 'domain: must have at least two labels'],
      ['test.', 'domain: must have at least two labels'],
      ['co.uk', 'is a public suffix'],
      ['exa_mple.test', 'domain: label "exa_mple" may contain only a-z, 0-9 and hyphens'],
      ['-bad.test', 'must not start or end with a hyphen'],
      ['a..test', 'domain: labels must not be empty'],
    ];
    for (const [domain, rule] of cases) {
      const error = await rpcError(main.acme.domains.createDomainChallenge({ domain }));
      expect(error.code, domain).toBe(Code.InvalidArgument);
      expect(error.rawMessage, domain).toContain(rule);
    }
  });

  it('refuses a TXT record with another value, and writes nothing but the refusal\'s audit event', async () => {
    const { challenge } = await main.acme.domains.createDomainChallenge({ domain: 'example.test' });
    await bind.setTxt('_atr-challenge.example.test', [dnsValueOf('AAAAAAAAAAAAAAAAAAAAAA', 'acme')]);
    const error = await rpcError(main.acme.domains.verifyDomain({ domain: 'example.test', method: DomainMethod.DNS }));
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(error.rawMessage).toBe(`domain: _atr-challenge.example.test TXT does not hold the expected value (${bind.address}: mismatch)`);
    expect((await main.admin.domains.listDomains({})).domains).toEqual([]);
    const events = await main.domainEvents('example.test');
    expect(events.map((e) => e.eventType)).not.toContain('domain.verified');
    expect(events.at(-1)).toMatchObject({ eventType: 'domain.verification_failed', metadata: { owner: 'acme', reason: error.rawMessage } });
    // The challenge is still open: the right value answers it.
    await bind.setTxt('_atr-challenge.example.test', [challenge?.dnsValue ?? '']);
  });

  it('verifies the domain through the resolver, with WHOIS as evidence, an audit event and a log leaf', async () => {
    const { domain, logIndex } = await main.acme.domains.verifyDomain({ domain: 'EXAMPLE.test.' });
    expect(domain).toMatchObject({ domain: 'example.test', owner: 'acme', status: DomainStatus.VERIFIED, method: DomainMethod.DNS });
    expect(domain?.evidence?.resolvers).toEqual([expect.objectContaining({ resolver: bind.address, outcome: 'match' })]);
    expect(domain?.evidence?.whois).toMatchObject({ server: whois.address, registrar: 'Loopback Registrar Inc.', created: '2001-02-03T04:05:06Z', error: '' });
    expect(whois.queries).toContain('example.test\r\n');
    const nextCheck = Number(domain?.nextCheckAt?.seconds) * 1000 - Number(domain?.verifiedAt?.seconds) * 1000;
    expect(nextCheck).toBe(30 * DAY_MS);
    expect((await main.domainEvents('example.test')).at(-1)).toMatchObject({ eventType: 'domain.verified', metadata: { owner: 'acme', method: 'dns', whois_registrar: 'Loopback Registrar Inc.' } });
    const { entry } = await main.admin.log.getEntry({ index: logIndex ?? -1n });
    expect(entry?.event).toMatchObject({ eventType: 'domain.verified', agentName: 'example.test', status: 'verified', reason: 'owner=acme; method=dns' });
    const listed = await main.reader.domains.listDomains({ owner: 'acme' });
    expect(listed.domains.map((d) => d.domain)).toEqual(['example.test']);
  });

  it('serves the same over REST', async () => {
    const headers = { authorization: `Bearer ${main.acmeKey}`, 'content-type': 'application/json' };
    const opened = await fetch(`${main.server.url}/v1/domains/Site.test./challenge`, { method: 'POST', headers, body: '{}' });
    expect(opened.status).toBe(201);
    expect(await opened.json()).toMatchObject({ domain: 'site.test', owner: 'acme', dns_name: '_atr-challenge.site.test' });
    const listed = await fetch(`${main.server.url}/v1/domains?owner=acme`, { headers });
    expect(((await listed.json()) as { domains: unknown[] }).domains).toEqual([expect.objectContaining({ domain: 'example.test', status: 'verified', method: 'dns' })]);
    const missing = await fetch(`${main.server.url}/v1/domains/nowhere.test`, { method: 'DELETE', headers });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ code: 'domain_not_found', detail: 'domain nowhere.test is not verified by anyone' });
  });

  it('does not let a token answer twice', async () => {
    const error = await rpcError(main.acme.domains.verifyDomain({ domain: 'example.test' }));
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(error.rawMessage).toContain('already answered a verification (a token answers once)');
  });

  it('keeps the domain its owner\'s: another owner can neither claim it nor register under it', async () => {
    const claim = await rpcError(main.umbrella.domains.createDomainChallenge({ domain: 'example.test' }));
    expect(claim.code).toBe(Code.AlreadyExists);
    expect(claim.rawMessage).toBe('domain: example.test is already verified by another owner');
    const verify = await rpcError(main.umbrella.domains.verifyDomain({ domain: 'example.test' }));
    expect(verify.code).toBe(Code.AlreadyExists);
    const register = await rpcError(main.umbrella.registry.registerAgent({ agentName: 'b.example.test' }));
    expect(register.code).toBe(Code.PermissionDenied);
    expect(register.rawMessage).toBe('agent_name: b.example.test lies under no domain verified by owner umbrella');
    expect(await rpcError(main.umbrella.domains.removeDomain({ domain: 'example.test' }))).toMatchObject({ code: Code.PermissionDenied });
    const other = await rpcError(main.umbrella.domains.createDomainChallenge({ domain: 'example.test', owner: 'acme' }));
    expect(other.rawMessage).toBe('owner: this key manages domains only for owner "umbrella"');
    await expect(main.admin.registry.getAgent({ agentName: 'b.example.test' })).rejects.toMatchObject({ code: Code.NotFound });
  });

  it('lets the owner register under its domain, on label boundaries only', async () => {
    const { agent } = await main.acme.registry.registerAgent({ agentName: 'a.example.test' });
    expect(agent).toMatchObject({ owner: 'acme', domainStatus: 'verified' });
    const { events } = await main.admin.registry.listAuditEvents({ agentName: 'a.example.test', eventType: 'agent.registered' });
    expect(events[0]?.metadata).toMatchObject({ domain: 'example.test' });
    for (const agentName of ['a.example.test.evil.test', 'aexample.test', 'example.test.evil.test']) {
      const error = await rpcError(main.acme.registry.registerAgent({ agentName }));
      expect(error.code, agentName).toBe(Code.PermissionDenied);
      expect(error.rawMessage).toBe(`agent_name: ${agentName} lies under no domain verified by owner acme`);
      await expect(main.admin.registry.getAgent({ agentName })).rejects.toMatchObject({ code: Code.NotFound });
    }
  });

  it('lets an admin override the rule, and the audit event says so', async () => {
    await main.admin.registry.registerAgent({ agentName: 'z.example.test', owner: 'umbrella' });
    const { events } = await main.admin.registry.listAuditEvents({ agentName: 'z.example.test', eventType: 'agent.registered' });
    expect(events[0]?.metadata).toMatchObject({ domain_override: true, domain_rule: 'agent_name: z.example.test lies under no domain verified by owner umbrella' });
    // The domain is not umbrella's: the agent shows no domain standing.
    expect((await main.admin.registry.getAgent({ agentName: 'z.example.test' })).agent?.domainStatus).toBe('');
  });

  it('verifies over HTTP from the domain\'s own address, and follows no redirect to another host', async () => {
    const { challenge } = await main.acme.domains.createDomainChallenge({ domain: 'site.test' });
    const path = `/.well-known/atr-challenge/${challenge?.token}`;
    pages.set(path, { status: 302, location: 'http://elsewhere.test/' });
    const redirected = await rpcError(main.acme.domains.verifyDomain({ domain: 'site.test', method: DomainMethod.HTTP }));
    expect(redirected.rawMessage).toContain('redirects to another host, scheme or port are not followed');
    expect((await main.admin.domains.listDomains({ owner: 'acme' })).domains.map((d) => d.domain)).toEqual(['example.test']);
    pages.set(path, { status: 200, body: `${challenge?.httpBody}\n` });
    const { domain } = await main.acme.domains.verifyDomain({ domain: 'site.test', method: DomainMethod.HTTP });
    expect(domain).toMatchObject({ status: DomainStatus.VERIFIED, method: DomainMethod.HTTP });
    expect(domain?.evidence).toMatchObject({ httpUrl: challenge?.httpUrl, httpAddress: '127.0.0.1' });
  });

  it('refuses an expired challenge', async () => {
    await main.acme.domains.createDomainChallenge({ domain: 'late.example.test' });
    await bind.setTxt('_atr-challenge.late.example.test', ['irrelevant']);
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + main.server.app.config.domainChallengeTtlSeconds * 1000 + 1000 });
    const error = await rpcError(main.acme.domains.verifyDomain({ domain: 'late.example.test' }));
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(error.rawMessage).toMatch(/^domain: the challenge for late\.example\.test expired at .*; create a new one$/);
    expect((await main.domainEvents('late.example.test')).map((e) => e.eventType)).toEqual(['domain.challenge_created', 'domain.verification_failed']);
  });

  it('flags a domain whose TXT record is gone, suspends it after the grace period, and restores it when it is back', async () => {
    const domains = main.server.app.domainValidation.domains;
    const { challenge } = await main.acme.domains.createDomainChallenge({ domain: 'example.test' });
    await bind.setTxt('_atr-challenge.example.test', [challenge?.dnsValue ?? '']);
    await main.acme.domains.verifyDomain({ domain: 'example.test' });
    await bind.setTxt('_atr-challenge.example.test', []);
    const start = Date.now();
    vi.useFakeTimers({ toFake: ['Date'], now: start + 30 * DAY_MS + 1000 });
    expect(await domains.revalidateDue('test')).toBeGreaterThan(0);
    const flagged = (await main.admin.domains.listDomains({ owner: 'acme' })).domains.find((d) => d.domain === 'example.test');
    expect(flagged).toMatchObject({ status: DomainStatus.FLAGGED, failure: `domain: _atr-challenge.example.test TXT has no record (${bind.address}: no_record)` });
    // Flagged is a warning: registrations go on during the grace period.
    expect((await main.acme.registry.registerAgent({ agentName: 'during-grace.example.test' })).agent?.domainStatus).toBe('flagged');
    expect(await domains.revalidateDue('test')).toBeGreaterThan(0);
    const suspended = (await main.admin.domains.listDomains({ owner: 'acme' })).domains.find((d) => d.domain === 'example.test');
    expect(suspended?.status).toBe(DomainStatus.SUSPENDED);
    const refused = await rpcError(main.acme.registry.registerAgent({ agentName: 'after.example.test' }));
    expect(refused.code).toBe(Code.PermissionDenied);
    expect(refused.rawMessage).toContain('agent_name: after.example.test lies under example.test, which is suspended');
    // Suspension refuses new names; agents already registered keep their certificates.
    const kept = (await main.admin.registry.getAgent({ agentName: 'a.example.test' })).agent;
    expect(kept?.status).not.toBe(AgentStatus.REVOKED);
    expect(kept?.revocationReason).toBe('');
    const listed = await main.admin.registry.listAgents({ owner: 'acme' });
    expect(listed.agents.filter((a) => a.agentName.endsWith('.example.test')).map((a) => a.domainStatus)).toEqual(['suspended', 'suspended']);
    const transitions = (await main.domainEvents('example.test')).filter((e) => e.metadata['revalidation'] === true);
    expect(transitions.map((e) => [e.eventType, e.metadata['status']])).toEqual([
      ['domain.flagged', 'flagged'],
      ['domain.suspended', 'suspended'],
    ]);
    for (const eventType of ['domain.flagged', 'domain.suspended']) {
      const { entries } = await main.admin.log.listEntries({ agentName: 'example.test', eventType });
      expect(entries.map((e) => e.event?.status), eventType).toEqual([eventType.slice('domain.'.length)]);
    }
    await bind.setTxt('_atr-challenge.example.test', [challenge?.dnsValue ?? '']);
    vi.setSystemTime(start + 32 * DAY_MS);
    expect(await domains.revalidateDue('test')).toBeGreaterThan(0);
    const restored = (await main.admin.domains.listDomains({ owner: 'acme' })).domains.find((d) => d.domain === 'example.test');
    expect(restored).toMatchObject({ status: DomainStatus.VERIFIED, failure: '' });
  });

  it('gives a domain up; its token cannot verify it again, for its owner or another', async () => {
    const { logIndex } = await main.acme.domains.removeDomain({ domain: 'example.test.' });
    expect((await main.admin.log.getEntry({ index: logIndex ?? -1n })).entry?.event).toMatchObject({ eventType: 'domain.removed', agentName: 'example.test', status: 'removed' });
    expect((await main.admin.domains.listDomains({ owner: 'acme' })).domains.map((d) => d.domain)).toEqual(['site.test']);
    // The TXT record is still published: a replay of the used token.
    const replay = await rpcError(main.acme.domains.verifyDomain({ domain: 'example.test' }));
    expect(replay.rawMessage).toContain('already answered a verification');
    await main.umbrella.domains.createDomainChallenge({ domain: 'example.test' });
    const other = await rpcError(main.umbrella.domains.verifyDomain({ domain: 'example.test', method: DomainMethod.DNS }));
    expect(other.rawMessage).toContain('_atr-challenge.example.test TXT does not hold the expected value');
    expect((await main.admin.domains.listDomains({})).domains.map((d) => d.domain)).toEqual(['site.test']);
  });

  it('runs the whole workflow from the CLI: challenge, verify, list, remove', async () => {
    const env = { ATR_SERVER: main.server.url, ATR_API_KEY: main.acmeKey };
    const opened = await runAtr(['domains', 'challenge', 'CLI.test.'], tmpdir(), env);
    expect(opened.code, opened.stderr).toBe(0);
    const txt = /^ {2}DNS: {2}_atr-challenge\.cli\.test TXT "([A-Za-z0-9_-]{43})"$/m.exec(opened.stdout);
    expect(txt, opened.stdout).not.toBeNull();
    await bind.setTxt('_atr-challenge.cli.test', [txt?.[1] ?? '']);
    const verified = await runAtr(['domains', 'verify', 'cli.test', '--method', 'dns'], tmpdir(), env);
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(/^status: +verified$/m);
    expect(verified.stdout).toContain(`resolvers:    ${bind.address} match`);
    const listed = await runAtr(['domains', 'list', '--owner', 'acme', '--json'], tmpdir(), env);
    expect(listed.code, listed.stderr).toBe(0);
    expect((JSON.parse(listed.stdout) as { domains: { domain: string; status: string }[] }).domains).toContainEqual(expect.objectContaining({ domain: 'cli.test', status: 'DOMAIN_STATUS_VERIFIED' }));
    const again = await runAtr(['domains', 'verify', 'cli.test'], tmpdir(), env);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already answered a verification');
    const removed = await runAtr(['domains', 'remove', 'cli.test'], tmpdir(), env);
    expect(removed.code, removed.stderr).toBe(0);
    expect((await main.admin.domains.listDomains({})).domains.map((d) => d.domain)).not.toContain('cli.test');
  });

  it('lets no anonymous caller or reader key manage domains', async () => {
    expect(await rpcError(main.anonymous.domains.createDomainChallenge({ domain: 'x.test' }))).toMatchObject({ code: Code.Unauthenticated });
    expect(await rpcError(main.anonymous.domains.listDomains({}))).toMatchObject({ code: Code.Unauthenticated });
    expect(await rpcError(main.reader.domains.verifyDomain({ domain: 'x.test' }))).toMatchObject({ code: Code.PermissionDenied });
    expect(await rpcError(main.admin.domains.createDomainChallenge({ domain: 'x.test' }))).toMatchObject({ code: Code.InvalidArgument, rawMessage: 'owner: is required: name the owner the domain is verified for' });
  });

  it('refuses when the resolvers disagree, and writes nothing but the refusal', async () => {
    // WHOIS answers nothing here: it is evidence only, and never decides.
    const split = await registry(dialect, { dnsResolver: [bind.address, otherBind.address], whoisServer: [`127.0.0.1:${await freePort()}`] });
    try {
      const { challenge } = await split.acme.domains.createDomainChallenge({ domain: 'split.test' });
      await bind.setTxt('_atr-challenge.split.test', [challenge?.dnsValue ?? '']);
      await otherBind.setTxt('_atr-challenge.split.test', ['a value from somewhere else']);
      const error = await rpcError(split.acme.domains.verifyDomain({ domain: 'split.test', method: DomainMethod.DNS }));
      expect(error.code).toBe(Code.FailedPrecondition);
        expect(error.rawMessage).toBe(
        `domain: the resolvers disagree on _atr-challenge.split.test TXT (${bind.address}: match, ${otherBind.address}: mismatch); every resolver that answers must see the challenge`,
      );
      expect((await split.admin.domains.listDomains({})).total).toBe(0);
      expect((await split.domainEvents('split.test')).map((e) => e.eventType)).toEqual(['domain.challenge_created', 'domain.verification_failed']);
      // Once both see it, it verifies.
      await otherBind.setTxt('_atr-challenge.split.test', [challenge?.dnsValue ?? '']);
      const { domain } = await split.acme.domains.verifyDomain({ domain: 'split.test', method: DomainMethod.DNS });
      expect(domain?.evidence?.resolvers.map((r) => r.outcome)).toEqual(['match', 'match']);
      expect(domain?.evidence?.whois).toMatchObject({ registrar: '', error: 'ECONNREFUSED' });
    } finally {
      await split.cleanup();
    }
  });

  it('answers Unavailable when no resolver answers, and writes nothing', async () => {
    const down = await registry(dialect, { dnsResolver: [`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`] });
    try {
      await down.acme.domains.createDomainChallenge({ domain: 'example.test' });
      const error = await rpcError(down.acme.domains.verifyDomain({ domain: 'example.test' }));
      expect(error.code).toBe(Code.Unavailable);
      expect(error.rawMessage).toMatch(/^domain: no resolver answered for _atr-challenge\.example\.test \(127\.0\.0\.1:\d+: no_answer: \w+, 127\.0\.0\.1:\d+: no_answer: \w+\)$/);
      expect((await down.admin.domains.listDomains({})).total).toBe(0);
      expect((await down.domainEvents('example.test')).map((e) => e.eventType)).toEqual(['domain.challenge_created']);
    } finally {
      await down.cleanup();
    }
  });
});
