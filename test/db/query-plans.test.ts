import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDatabaseUrl } from '../../src/config/database-url.ts';
import { type Database, openDatabase } from '../../src/db/orm.ts';
import { SqlRegistryStore } from '../../src/db/registry-store.ts';
import { SqlTlogStore } from '../../src/db/tlog-store.ts';
import { createTestDatabase, dialects, type TestDatabase } from '../support/databases.ts';

// Every listing the registry serves, run through the real stores, and the SQL they sent explained by the database: no
// filter and no deep page may read a large table from end to end. A page token is a keyset (id > last), so a deep
// page is a seek; offsets (REST's limit/offset) are not tested deep, since skipping N rows reads N index entries on
// any database, and a first page starts at the start of its index anyway. The one listing left out is the unfiltered
// count of agents (ListAgents' total without filters), which counts every agent by definition.
//
// SQLite: EXPLAIN QUERY PLAN, on the empty schema. Without sqlite_stat1 (nothing runs ANALYZE on a registry's file)
// the planner assumes every table is large, so the plan it shows here is the one a large registry gets. A SCAN of a
// large table (with or without an index) reads all of it; a SEARCH seeks. A page's ORDER BY must come from the index,
// not from a temporary B-tree that would sort every match first.
//
// PostgreSQL: EXPLAIN on 20,000 agents shaped like a registry's (100 owners, 2% revoked, 1% expired, a few pending,
// the capability asked for held by 1%)
// after ANALYZE, with enable_seqscan off. On tables this small a sequential scan is the planner's honest choice and
// says nothing of what it does at 10^6, so sequential scans are priced out and the question asked is the one that
// matters: is there an index that serves this filter? When none can, the plan still shows a Seq Scan, or an index
// walked without a condition on the filter, and the test fails.

const LARGE_TABLES = ['agents', 'certificates', 'audit_events', 'tlog_entries', 'tlog_nodes', 'agent_capabilities'];
const AGENTS = 20_000;
/** A page token from the middle of the listing. */
const AFTER = AGENTS / 2;

interface Query {
  readonly sql: string;
  readonly bindings: readonly unknown[];
}

/** A listing, run through a store, and the columns (any one) an index must be searched by to serve its filter. */
interface Listing {
  readonly name: string;
  readonly by: readonly string[];
  readonly run: () => Promise<unknown>;
}

describe.each(dialects)('list queries on %s', (dialect) => {
  let testDatabase: TestDatabase;
  let database: Database;
  let registry: SqlRegistryStore;
  let tlog: SqlTlogStore;
  let explain: (query: Query) => Promise<Plan>;
  let closeExplainer: () => Promise<void>;
  const sent: Query[] = [];

  beforeAll(async () => {
    testDatabase = await createTestDatabase(dialect);
    database = await openDatabase(testDatabase.url);
    registry = await SqlRegistryStore.open(database);
    tlog = new SqlTlogStore(database);
    if (dialect === 'postgresql') await fillRegistry(database);
    database.orm.em.getKnex().on('query', (query: { sql: string; bindings?: unknown[] }) => sent.push({ sql: query.sql, bindings: query.bindings ?? [] }));
    ({ explain, close: closeExplainer } = await explainer(dialect, testDatabase.url));
  });
  afterAll(async () => {
    await closeExplainer?.();
    await registry?.close();
    await testDatabase?.drop();
  });

  const now = new Date();
  const page = { limit: 50, afterId: AFTER };
  const listings: Listing[] = [
    { name: 'agents by owner, deep page', by: ['owner'], run: () => registry.listAgents({ owner: 'owner-7' }, page, now) },
    { name: 'agents by owner, offset page', by: ['owner'], run: () => registry.listAgents({ owner: 'owner-7' }, { limit: 50, offset: 100 }, now) },
    { name: 'revoked agents, deep page', by: ['status'], run: () => registry.listAgents({ status: 'revoked' }, page, now) },
    { name: 'active agents, deep page', by: ['status', 'id'], run: () => registry.listAgents({ status: 'active' }, page, now) },
    { name: 'expired agents, deep page', by: ['status', 'not_after'], run: () => registry.listAgents({ status: 'expired' }, page, now) },
    { name: 'pending agents, deep page', by: ['current_certificate_id'], run: () => registry.listAgents({ status: 'pending' }, page, now) },
    { name: 'agents by capability, deep page', by: ['capability'], run: () => registry.listAgents({ capability: 'payments' }, page, now) },
    { name: 'agents by owner and capability', by: ['owner', 'capability'], run: () => registry.listAgents({ owner: 'owner-7', capability: 'payments' }, page, now) },
    { name: 'agents by owner and status', by: ['owner', 'status'], run: () => registry.listAgents({ owner: 'owner-7', status: 'revoked' }, page, now) },
    { name: 'all agents, deep page', by: ['id', 'rowid'], run: () => registry.listAgents({}, page, now) },
    { name: 'audit events of an agent', by: ['agent_name'], run: () => registry.listAuditEvents({ agentName: 'agent-7.seed.example' }, { limit: 50, offset: 0 }) },
    { name: 'audit events of a type', by: ['event_type'], run: () => registry.listAuditEvents({ eventType: 'agent.revoked' }, { limit: 50, offset: 0 }) },
    { name: 'log entries of an agent, deep page', by: ['agent_name'], run: () => tlog.listEntries({ agentName: 'agent-7.seed.example' }, AFTER, 50) },
    { name: 'log entries of a type, deep page', by: ['event_type'], run: () => tlog.listEntries({ eventType: 'agent.revoked' }, AFTER, 50) },
    { name: 'log entries, deep page', by: ['idx', 'rowid'], run: () => tlog.listEntries({}, AFTER, 50) },
    // Not a listing anyone asks for: the revocation feed's poll, every 250 ms in every process.
    { name: 'certificates retired in the last minute', by: ['revoked_at'], run: () => registry.listRetiredSince(new Date(Date.now() - 60_000)) },
  ];

  /** The statements a listing sends, with what its plan shows; the unfiltered agent count is left out (see top). */
  async function plansOf(listing: Listing): Promise<{ query: Query; plan: Plan }[]> {
    sent.length = 0;
    await listing.run();
    const queries = sent.filter((query) => !(listing.name.startsWith('all agents') && /count\(/i.test(query.sql)));
    expect(queries.length).toBeGreaterThan(0);
    return Promise.all(queries.map(async (query) => ({ query, plan: await explain(query) })));
  }

  it.each(listings.map((listing) => [listing.name, listing] as const))('%s: served by an index', async (_name, listing) => {
    for (const { query, plan } of await plansOf(listing)) {
      expect(plan.fullScans, `${query.sql}\n${plan.text}`).toEqual([]);
      // A seek that does not use the filter (the primary key from the page's start, say) still reads every row after it.
      expect(listing.by.some((column) => plan.searchedBy.includes(column)), `searched by ${plan.searchedBy.join(', ')}:\n${query.sql}\n${plan.text}`).toBe(true);
      if (/ limit /i.test(query.sql) && /order by/i.test(query.sql)) expect(plan.sortsEverything, `${query.sql}\n${plan.text}`).toBe(false);
    }
  });

  it('fails a listing whose index is gone', async () => {
    const knex = database.orm.em.getKnex();
    await knex.raw('drop index agents_owner_id_index');
    try {
      const plans = await plansOf(listings[0]!);
      expect(plans.some(({ plan }) => plan.fullScans.length > 0 || !plan.searchedBy.includes('owner'))).toBe(true);
    } finally {
      await knex.raw('create index agents_owner_id_index on agents (owner, id)');
    }
  });
});

/** PostgreSQL rows with a registry's proportions, and their statistics (see the top). */
async function fillRegistry(database: Database): Promise<void> {
  const knex = database.orm.em.getKnex();
  const name = "'agent-' || i || '.seed.example'";
  await knex.raw(`insert into agents (id, name, owner, capabilities, description, endpoints, status, version, created_at, updated_at)
    select i, ${name}, 'owner-' || (i % 100), jsonb_build_array(case when i % 100 = 3 then 'payments' else (array['chat', 'search', 'code'])[1 + i % 3] end), '', '[]',
      case when i % 50 = 0 then 'revoked' else 'active' end, 1, now(), now()
    from generate_series(1, ${AGENTS}) i`);
  // The last ten have no certificate yet (pending); one in a hundred has expired.
  await knex.raw(`insert into certificates (id, agent_id, serial, fingerprint, pem, not_before, not_after, created_at)
    select i, i, md5('s' || i), md5('f' || i), '', now(), now() + case when i % 100 = 1 then interval '-1 day' else interval '30 days' end, now()
    from generate_series(1, ${AGENTS - 10}) i`);
  await knex.raw('update agents set current_certificate_id = id where id <= ?', [AGENTS - 10]);
  // The revoked agents' certificates were retired over the last weeks, one every few minutes.
  await knex.raw("update certificates set revoked_at = now() - (id || ' minutes')::interval, revocation_reason = 'unspecified' where id % 50 = 0");
  const eventType = "case when i % 50 = 0 then 'agent.revoked' else 'agent.registered' end";
  await knex.raw(`insert into audit_events (event_type, actor, agent_name, metadata, created_at)
    select ${eventType}, 'seed', ${name}, '{}', now() from generate_series(1, ${AGENTS}) i`);
  await knex.raw(`insert into tlog_entries (idx, data, leaf_hash, agent_name, event_type, created_at)
    select i, '\\x00', decode(md5('l' || i), 'hex'), ${name}, ${eventType}, now() from generate_series(1, ${AGENTS}) i`);
  await knex.raw('analyze');
}

interface Plan {
  /** The large tables the plan reads from end to end. */
  readonly fullScans: string[];
  /** The columns an index is searched by anywhere in the plan (equality or range). */
  readonly searchedBy: string[];
  /** Whether every match is sorted before the first row comes out (SQLite's temporary B-tree for ORDER BY). */
  readonly sortsEverything: boolean;
  readonly text: string;
}

/** Explains statements on a connection of its own, so that session settings stay with it. */
async function explainer(dialect: 'sqlite' | 'postgresql', url: string): Promise<{ explain(query: Query): Promise<Plan>; close(): Promise<void> }> {
  if (dialect === 'sqlite') {
    const connection = new BetterSqlite3(parseDatabaseUrl(url).target, { readonly: true });
    return {
      async explain({ sql, bindings }) {
        // A read checks the schema's version, so a plan is made against the schema as it is now, not as last read.
        connection.prepare('select count(*) from sqlite_schema').get();
        const rows = connection.prepare(`explain query plan ${sql}`).all(...bindings.map(sqliteValue)) as { detail: string }[];
        const lines = rows.map((row) => row.detail);
        const fullScans = lines.filter((line) => LARGE_TABLES.includes(scannedTable(line, sql) ?? ''));
        // SEARCH a USING INDEX agents_owner_id_index (owner=? AND id>?)
        const searchedBy = lines.flatMap((line) => [...(/^SEARCH .*\((.*)\)$/.exec(line)?.[1] ?? '').matchAll(/(\w+)[=<>]/g)].map((match) => match[1]!));
        return { fullScans, searchedBy, sortsEverything: lines.some((line) => line.includes('TEMP B-TREE FOR ORDER BY')), text: lines.join('\n') };
      },
      close: async () => {
        connection.close();
      },
    };
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('set enable_seqscan = off');
  return {
    async explain({ sql, bindings }) {
      let n = 0;
      const numbered = sql.replace(/\?/g, () => `$${++n}`);
      const result = await client.query(`explain (format json) ${numbered}`, [...bindings]);
      const root = (result.rows[0] as { 'QUERY PLAN': { Plan: PgNode }[] })['QUERY PLAN'][0]!.Plan;
      const fullScans: string[] = [];
      const searchedBy: string[] = [];
      walk(root, (node) => {
        // Index Cond: ((owner)::text = 'owner-7'::text) AND (id > 123456)
        const condition = node['Index Cond'] ?? node['Recheck Cond'] ?? '';
        searchedBy.push(...[...condition.matchAll(/(\w+)\)?(?:::\w+)? *(?:=|>|<|@>|IS NULL)/g)].map((match) => match[1]!));
      });
      walk(root, (node) => {
        const table = node['Relation Name'];
        if (table === undefined || !LARGE_TABLES.includes(table)) return;
        const conditioned = node['Index Cond'] !== undefined || node['Recheck Cond'] !== undefined;
        if (node['Node Type'] === 'Seq Scan' || !conditioned) fullScans.push(`${node['Node Type']} on ${table}`);
      });
      // A bitmap heap scan's condition is on its child, the bitmap index scan, which names no table.
      walk(root, (node) => {
        if (node['Node Type'] === 'Bitmap Index Scan' && node['Index Cond'] === undefined) fullScans.push(`Bitmap Index Scan on ${node['Index Name']}`);
      });
      return { fullScans, searchedBy, sortsEverything: false, text: JSON.stringify(root, null, 1) };
    },
    close: () => client.end(),
  };
}

interface PgNode {
  readonly 'Node Type': string;
  readonly 'Relation Name'?: string;
  readonly 'Index Name'?: string;
  readonly 'Index Cond'?: string;
  readonly 'Recheck Cond'?: string;
  readonly Plans?: PgNode[];
}

function walk(node: PgNode, visit: (node: PgNode) => void): void {
  visit(node);
  for (const child of node.Plans ?? []) walk(child, visit);
}

/** The table a SQLite plan line's alias stands for in the statement (`agents as a` shows as `SCAN a`). */
function scannedTable(line: string, sql: string): string | undefined {
  const alias = /^SCAN (\w+)/.exec(line)?.[1];
  if (alias === undefined) return undefined;
  if (LARGE_TABLES.includes(alias)) return alias;
  return new RegExp(`[\`"]?(\\w+)[\`"]? as [\`"]?${alias}[\`"]?(\\s|$)`).exec(sql)?.[1];
}

/** Bindings as the store's driver sends them to SQLite: dates as milliseconds (MikroORM's SQLite representation). */
const sqliteValue = (value: unknown) => (value instanceof Date ? value.getTime() : value);
