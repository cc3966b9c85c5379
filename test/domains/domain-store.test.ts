// The domain store on SQLite and PostgreSQL (when ATR_TEST_POSTGRES_URL names a server): one suite for both.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dialect } from '../../src/config/database-url.ts';
import { SqlDomainStore } from '../../src/db/domain-store.ts';
import { type Database, openDatabase } from '../../src/db/orm.ts';
import type { DomainState } from '../../src/domains/store.ts';
import { createTestDatabase, dialects, type TestDatabase } from '../support/databases.ts';

const t0 = new Date('2030-01-01T00:00:00.000Z');
const at = (minutes: number) => new Date(t0.getTime() + minutes * 60_000);

function state(domain: string, owner: string, nextCheckAt: Date): DomainState {
  return {
    domain,
    owner,
    status: 'verified',
    method: 'dns',
    token: `token-${domain}`,
    verifiedAt: t0,
    lastCheckedAt: t0,
    nextCheckAt,
    flaggedAt: undefined,
    failure: '',
    evidence: { method: 'dns', resolvers: [{ resolver: '127.0.0.1:53', outcome: 'match' }], httpUrl: '', httpAddress: '', whois: undefined, checkedAt: t0.toISOString() },
  };
}

describe.each(dialects)('domain store on %s', (dialect: Dialect) => {
  let testDatabase: TestDatabase;
  let database: Database;
  let store: SqlDomainStore;

  beforeAll(async () => {
    testDatabase = await createTestDatabase(dialect);
    database = await openDatabase(testDatabase.url);
    store = new SqlDomainStore(database);
  });
  afterAll(async () => {
    await database.orm.close(true);
    await testDatabase.drop();
  });

  it('saves, finds, replaces and removes a domain, with its evidence', async () => {
    const saved = await store.change((tx) => tx.save(state('store.test', 'acme', at(60))));
    expect(saved).toMatchObject({ domain: 'store.test', owner: 'acme', status: 'verified', nextCheckAt: at(60), flaggedAt: undefined });
    expect(saved.evidence.resolvers).toEqual([{ resolver: '127.0.0.1:53', outcome: 'match' }]);
    expect(await store.find('store.test')).toEqual(saved);
    const flagged = await store.change((tx) => tx.save({ ...state('store.test', 'acme', at(60)), status: 'flagged', flaggedAt: at(5), failure: 'gone' }));
    expect(flagged).toMatchObject({ id: saved.id, status: 'flagged', flaggedAt: at(5), failure: 'gone' });
    expect((await store.findAll(['store.test', 'other.test'])).map((d) => d.domain)).toEqual(['store.test']);
    // Another owner's save never takes the domain over, even without a lock on a row that exists.
    await expect(store.change((tx) => tx.save(state('store.test', 'umbrella', at(60))))).rejects.toMatchObject({ code: 'domain_taken' });
    expect((await store.find('store.test'))?.owner).toBe('acme');
    await store.change((tx) => tx.remove('store.test'));
    expect(await store.find('store.test')).toBeUndefined();
  });

  it('uses a challenge once, and finds the owner\'s latest', async () => {
    const challenge = (token: string, minutes: number) => ({ token, domain: 'once.test', owner: 'acme', createdAt: at(minutes), expiresAt: at(minutes + 60), usedAt: undefined });
    await store.change((tx) => tx.insertChallenge(challenge('first-token', 0)));
    await store.change((tx) => tx.insertChallenge(challenge('second-token', 1)));
    expect((await store.latestChallenge('once.test', 'acme'))?.token).toBe('second-token');
    expect(await store.latestChallenge('once.test', 'someone-else')).toBeUndefined();
    expect(await store.change((tx) => tx.useChallenge('second-token', at(2)))).toBe(true);
    expect(await store.change((tx) => tx.useChallenge('second-token', at(3)))).toBe(false);
    expect((await store.latestChallenge('once.test', 'acme'))?.usedAt).toEqual(at(2));
    await expect(store.change((tx) => tx.insertChallenge(challenge('second-token', 4)))).rejects.toThrow();
  });

  it('lists by owner with keyset pages and a total', async () => {
    for (const name of ['p1.list.test', 'p2.list.test', 'p3.list.test']) await store.change((tx) => tx.save(state(name, 'lister', at(60))));
    await store.change((tx) => tx.save(state('x.list.test', 'other', at(60))));
    const first = await store.list({ owner: 'lister' }, { limit: 2 });
    expect(first.total).toBe(3);
    expect(first.domains.map((d) => d.domain)).toEqual(['p1.list.test', 'p2.list.test']);
    const second = await store.list({ owner: 'lister' }, { limit: 2, afterId: first.domains[1]?.id });
    expect(second.domains.map((d) => d.domain)).toEqual(['p3.list.test']);
  });

  it('hands a due domain to one worker at a time, until its claim lapses', async () => {
    await store.change((tx) => tx.save(state('due.claim.test', 'acme', at(10))));
    await store.change((tx) => tx.save(state('later.claim.test', 'acme', at(100))));
    expect(await store.due(at(20), 100)).toContain('due.claim.test');
    expect(await store.due(at(20), 100)).not.toContain('later.claim.test');
    const claims = await Promise.all([store.claim('due.claim.test', 'a', at(20), at(25)), store.claim('due.claim.test', 'b', at(20), at(25))]);
    expect(claims.filter((claim) => claim !== undefined)).toHaveLength(1);
    expect(await store.due(at(21), 100)).not.toContain('due.claim.test');
    expect(await store.claim('due.claim.test', 'c', at(21), at(26))).toBeUndefined();
    // A worker that died: its claim lapses and another takes the domain.
    expect(await store.claim('due.claim.test', 'c', at(30), at(35))).toBeDefined();
    await store.postpone('due.claim.test', 'c', at(90));
    expect(await store.due(at(40), 100)).not.toContain('due.claim.test');
    expect((await store.find('due.claim.test'))?.nextCheckAt).toEqual(at(90));
    // A save (the check's verdict) releases the claim.
    expect(await store.claim('due.claim.test', 'd', at(95), at(200))).toBeDefined();
    await store.change((tx) => tx.save(state('due.claim.test', 'acme', at(96))));
    expect(await store.due(at(97), 100)).toContain('due.claim.test');
  });
});
