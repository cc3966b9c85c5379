// The lifecycle sweep's search for due certificates stops at the horizon the longest validity sets: it must still
// find every due certificate, including one issued after an earlier search with a longer validity than any before.
import { describe, expect, it } from 'vitest';
import { SqlLifecycleStore } from '../../src/db/lifecycle-store.ts';
import { dialects, openedTestDatabase } from '../support/databases.ts';

const DAY = 86_400_000;
const RENEW_AT = 0.67;

describe.each(dialects)('the lifecycle store on %s', (dialect) => {
  const opened = openedTestDatabase(dialect);
  const now = new Date('2026-12-06T12:00:00Z');
  let count = 0;

  /** An active agent whose current certificate is `validityDays` long and `elapsed` (a fraction) through it. */
  const agentWith = async (validityDays: number, elapsed: number) => {
    const knex = opened.database.orm.em.getKnex();
    const name = `agent-${(count += 1)}.lifecycle.example`;
    const notBefore = new Date(now.getTime() - elapsed * validityDays * DAY);
    const notAfter = new Date(notBefore.getTime() + validityDays * DAY);
    const [agent] = (await knex('agents')
      .insert({ name, owner: 'o', capabilities: '[]', description: '', endpoints: '[]', status: 'active', version: 1, created_at: now, updated_at: now })
      .returning('id')) as { id: number }[];
    const [certificate] = (await knex('certificates')
      .insert({ agent_id: agent!.id, serial: `0${count}`, fingerprint: `f${count}`.padEnd(64, '0'), pem: '', not_before: notBefore, not_after: notAfter, created_at: now })
      .returning('id')) as { id: number }[];
    await knex('agents').where('id', agent!.id).update({ current_certificate_id: certificate!.id });
    return name;
  };
  const due = async (store: SqlLifecycleStore) => (await store.due('expiring', now, RENEW_AT, 100)).map((candidate) => candidate.agentName).sort();

  it('finds the certificates past the renewal point, also one longer than any read before, and no others', async () => {
    const store = new SqlLifecycleStore(opened.database);
    const dueSoon = await agentWith(30, 0.8);
    await agentWith(30, 0.5);
    expect(await due(store)).toEqual([dueSoon]);
    // Issued since (by any process): a year-long certificate 70% through expires 110 days from now, far past the
    // horizon 30-day certificates set; one 60% through is not due yet.
    const dueLong = await agentWith(365, 0.7);
    await agentWith(365, 0.6);
    expect(await due(store)).toEqual([dueLong, dueSoon].sort());
    // A store opened afterwards reads every certificate at its first search.
    expect(await due(new SqlLifecycleStore(opened.database))).toEqual([dueLong, dueSoon].sort());
  });
});
