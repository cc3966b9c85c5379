import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.ts';
import { openDatabase } from '../../src/db/orm.ts';
import { loadOrCreateCa } from '../../src/pki/ca.ts';
import { issueAgentCertificate } from '../../src/pki/issue.ts';
import { generateAgentKey } from '../../src/pki/keys.ts';
import { signToken } from '../../src/sdk/token.ts';
import { startServer } from '../../src/server/server.ts';
import { dialects } from '../support/databases.ts';
import { runningServer, testEnvironment } from '../support/server.ts';

type Json = Record<string, unknown>;

const AUDIENCE = 'https://api.example';
const DAY_MS = 86_400_000;

/** JSON over REST against a real listener. */
function restClient(base: string) {
  return async (method: string, path: string, body?: unknown): Promise<Json> => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    expect(response.status, `${method} ${path}`).toBe(method === 'POST' && path === '/v1/agents' ? 201 : 200);
    return (await response.json()) as Json;
  };
}

/** The samples of one metric in a /metrics page, keyed by their label set as printed, e.g. `{kind="token",...}`. */
async function metric(base: string, name: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const samples: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const match = /^(\w+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (match?.[1] === name) samples[match[2] ?? ''] = Number(match[3]);
  }
  return samples;
}

const verificationEvents = async (call: ReturnType<typeof restClient>) =>
  ((await call('GET', '/v1/audit?event_type=cert.verified&limit=100'))['events'] as Json[]).map((event) => event['metadata'] as Json);

let scratch: string;
/** A certificate for the agent's name from a CA this registry does not trust. */
let foreignCertificate: (agentName: string) => Promise<string>;

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'atr-verification-audit-'));
  const foreignCa = await loadOrCreateCa({ dir: join(scratch, 'foreign-ca'), validityDays: 10, trustDomain: 'atr.local', crlUrl: 'http://foreign.invalid/crl' });
  foreignCertificate = async (agentName) => {
    const { key } = await generateAgentKey();
    return (await issueAgentCertificate(foreignCa, { agentName, key, validityDays: 1 })).pem;
  };
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/**
 * Two certificate verifications (the agent's own, one from a foreign CA) and two token verifications (a fresh
 * token, then the same one again): two verified, two refused.
 */
async function verifyFour(call: ReturnType<typeof restClient>, agentName: string): Promise<void> {
  const agent = await call('POST', '/v1/agents', { agent_name: agentName, owner: 'audit' });
  const certPem = agent['cert_pem'] as string;
  expect(await call('POST', '/v1/verify/cert', { cert_pem: certPem })).toMatchObject({ verified: true, reason: 'verified' });
  const foreign = await call('POST', '/v1/verify/cert', { cert_pem: await foreignCertificate(agentName) });
  expect(foreign).toMatchObject({ verified: false, reason: 'untrusted_issuer' });
  const token = await signToken({ agentName, keyPem: agent['private_key_pem'] as string, certPem, audience: AUDIENCE });
  expect(await call('POST', '/v1/verify/token', { token, audience: AUDIENCE })).toMatchObject({ verified: true, reason: 'verified' });
  expect(await call('POST', '/v1/verify/token', { token, audience: AUDIENCE })).toMatchObject({ verified: false, reason: 'replayed' });
}

const kept: Record<Config['auditVerifications'], string[]> = {
  // Newest first, as the audit trail lists them.
  all: ['token:replayed', 'token:verified', 'certificate:untrusted_issuer', 'certificate:verified'],
  refusals: ['token:replayed', 'certificate:untrusted_issuer'],
  none: [],
};

const cases = dialects.flatMap((dialect) =>
  (['all', 'refusals', 'none'] as const).flatMap((choice) => [false, true].map((logged) => ({ dialect, choice, logged }))),
);

describe.each(cases)('AUDIT_VERIFICATIONS=$choice on $dialect, verifications logged: $logged', ({ dialect, choice, logged }) => {
  let started: Awaited<ReturnType<typeof runningServer>>;
  let call: ReturnType<typeof restClient>;
  beforeAll(async () => {
    started = await runningServer(dialect, { auditVerifications: choice, transparencyLogVerifyEvents: logged });
    call = restClient(started.server.url);
  });
  afterAll(() => started.cleanup());

  it('audits the verifications the setting names, logs every one when asked, and counts every one', async () => {
    await verifyFour(call, `${choice}.audit.test`);

    const audited = await verificationEvents(call);
    expect(audited.map((event) => `${String(event['kind'] ?? 'certificate')}:${String(event['reason'])}`)).toEqual(kept[choice]);
    // The rest of the audit trail does not depend on the setting.
    expect((await call('GET', '/v1/audit?event_type=agent.registered'))['total']).toBe(1);

    const leaves = (await call('GET', '/v1/log/entries?event_type=cert.verified'))['entries'] as Json[];
    expect(leaves.map((leaf) => (leaf['event'] as Json)['reason'])).toEqual(
      logged ? ['verified', 'untrusted_issuer', 'verified', 'replayed'] : [],
    );

    expect(await metric(started.server.url, 'atr_verifications_total')).toEqual({
      '{kind="certificate",result="verified"}': 1,
      '{kind="certificate",result="untrusted_issuer"}': 1,
      '{kind="token",result="verified"}': 1,
      '{kind="token",result="replayed"}': 1,
    });
  });
});

describe.each(dialects)('pruning verification audit events on %s', (dialect) => {
  it('deletes verification events past the retention, soon after start and every interval, and nothing else', async () => {
    const environment = await testEnvironment(dialect, {
      auditVerificationRetentionDays: 1,
      auditPruneIntervalSeconds: 1,
    });
    const server = await startServer(environment.config);
    const database = await openDatabase(environment.config.databaseUrl);
    try {
      const call = restClient(server.url);
      await verifyFour(call, 'old.prune.test');
      const knex = database.orm.em.getKnex();
      // Setup: everything so far happened two days ago, past the one-day retention.
      await knex('audit_events').update({ created_at: new Date(Date.now() - 2 * DAY_MS) });
      await verifyFour(call, 'new.prune.test');

      const deadline = Date.now() + 20_000;
      while ((await verificationEvents(call)).length > 4 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const remaining = (await call('GET', '/v1/audit?limit=100'))['events'] as Json[];
      expect(remaining.map((event) => `${String(event['event_type'])} ${String(event['agent_name'])}`).sort()).toEqual([
        'agent.registered new.prune.test',
        'agent.registered old.prune.test',
        ...Array<string>(4).fill('cert.verified new.prune.test'),
      ]);
      expect(await metric(server.url, 'atr_audit_pruned_total')).toEqual({ '': 4 });
      // The counters are totals: pruning the audit trail takes nothing from them.
      expect((await metric(server.url, 'atr_verifications_total'))['{kind="token",result="verified"}']).toBe(2);
    } finally {
      await database.close();
      await server.close();
      await environment.cleanup();
    }
  });
});
