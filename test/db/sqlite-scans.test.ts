import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteScans } from '../../src/db/sqlite-scans.ts';
import { openedTestDatabase } from '../support/databases.ts';

// Counting on a SQLite file runs in a worker thread: better-sqlite3 runs a query on the thread that asks, and a count
// over 10^6 agents on the event loop held the whole server for seconds.
describe('counts on a SQLite file', () => {
  const opened = openedTestDatabase('sqlite');
  let scans: SqliteScans;
  beforeAll(() => {
    scans = new SqliteScans(opened.database.location.target);
  });
  afterAll(() => scans.close());
  /** The one value a count selects. */
  const count = async (query: Parameters<SqliteScans['rows']>[0]) => Number(Object.values((await scans.rows(query))[0] ?? {})[0]);

  it('leave the event loop free while they run', async () => {
    const knex = opened.database.orm.em.getKnex();
    // A count that takes SQLite a good fraction of a second.
    const slow = knex.raw('with recursive n(i) as (select 1 union all select i + 1 from n where i < ?) select count(*) from n', [3_000_000]);
    let ticks = 0;
    const ticking = setInterval(() => (ticks += 1), 1);
    const started = performance.now();
    const counted = await count(slow);
    const tookMs = performance.now() - started;
    clearInterval(ticking);
    expect(counted).toBe(3_000_000);
    // At least a tick for every 10 ms the count took (a timer that ran on a blocked loop would fire at most once).
    expect(ticks).toBeGreaterThan(Math.floor(tookMs / 10));
  });

  it('see what was committed before they started, with dates bound as the query builder stores them', async () => {
    const knex = opened.database.orm.em.getKnex();
    const at = new Date('2026-01-02T03:04:05Z');
    await knex('audit_events').insert(
      [1, 2, 3].map((i) => ({ event_type: 'agent.updated', actor: 'scan', agent_name: `scan${i}.example`, metadata: '{}', created_at: new Date(at.valueOf() + i * 1000) })),
    );
    const since = (when: Date) => knex('audit_events').where('actor', 'scan').where('created_at', '>', when).count({ total: '*' });
    expect(await count(since(at))).toBe(3);
    expect(await count(since(new Date(at.valueOf() + 2000)))).toBe(1);
  });

  it('return the rows a query selects, as the query builder reads them on the event loop', async () => {
    const knex = opened.database.orm.em.getKnex();
    const query = () => knex('audit_events').where('actor', 'scan').orderBy('id', 'desc').limit(2).select('agent_name', 'created_at');
    const rows = await scans.rows(query());
    expect(rows).toEqual(await query());
    expect(rows.map((row) => row['agent_name'])).toEqual(['scan3.example', 'scan2.example']);
  });

  it('fail a query the database refuses, and answer the next', async () => {
    const knex = opened.database.orm.em.getKnex();
    await expect(count(knex('no_such_table').count({ total: '*' }))).rejects.toThrow(/no such table: no_such_table/);
    expect(await count(knex('audit_events').where('actor', 'scan').count({ total: '*' }))).toBe(3);
  });

  it('answer many counts asked at once, each with its own result', async () => {
    const knex = opened.database.orm.em.getKnex();
    const counts = await Promise.all([0, 1, 2, 3, 0, 1].map((above) => count(knex('audit_events').where('actor', 'scan').where('agent_name', '>', `scan${above}.example`).count({ total: '*' }))));
    expect(counts).toEqual([3, 2, 1, 0, 3, 2]);
  });
});
