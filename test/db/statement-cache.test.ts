import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from '../../src/db/orm.ts';
import { SqlRegistryStore } from '../../src/db/registry-store.ts';
import { cachePreparedStatements } from '../../src/db/statement-cache.ts';
import { createTestDatabase, type TestDatabase } from '../support/databases.ts';

type Statement = { run(...values: unknown[]): unknown; all(...values: unknown[]): unknown[] };
type Connection = { prepare(sql: string): Statement; exec(sql: string): void; close(): void };
const BetterSqlite = createRequire(import.meta.url)('better-sqlite3') as new (file: string) => Connection;

describe('prepared statements on SQLite', () => {
  it('are prepared once per SQL text and reused, the least recently used dropped past the bound', () => {
    const connection = new BetterSqlite(':memory:');
    cachePreparedStatements(connection);
    const first = connection.prepare('select 1 as one');
    expect(connection.prepare('select 1 as one')).toBe(first);
    for (let i = 0; i < 300; i++) connection.prepare(`select ${i + 2} as n`);
    expect(connection.prepare('select 1 as one')).not.toBe(first);
    connection.close();
  });

  it('keep answering after the schema changes under them', () => {
    const connection = new BetterSqlite(':memory:');
    cachePreparedStatements(connection);
    connection.exec('create table t (a integer)');
    connection.prepare('insert into t (a) values (?)').run(1);
    const select = connection.prepare('select * from t');
    expect(select.all()).toEqual([{ a: 1 }]);
    connection.exec('alter table t add column b text default \'x\'');
    expect(connection.prepare('select * from t')).toBe(select);
    expect(connection.prepare('select * from t').all()).toEqual([{ a: 1, b: 'x' }]);
    connection.close();
  });
});

describe("the registry's SQLite connection", () => {
  let testDatabase: TestDatabase;
  let database: Database;
  beforeAll(async () => {
    testDatabase = await createTestDatabase('sqlite');
    database = await openDatabase(testDatabase.url);
  });
  afterAll(async () => {
    await database.close();
    await testDatabase.drop();
  });

  it('reuses the statement of a query it runs again', async () => {
    const knex = database.orm.em.getConnection().getKnex();
    const connection = (await knex.client.acquireConnection()) as Connection;
    try {
      const sql = 'select count(*) as n from agents';
      expect(connection.prepare(sql)).toBe(connection.prepare(sql));
    } finally {
      await knex.client.releaseConnection(connection);
    }
  });

  it('writes verification audit batches with bound values, one statement for every batch of the same size', async () => {
    const store = await SqlRegistryStore.open(database);
    const knex = database.orm.em.getConnection().getKnex();
    const connection = (await knex.client.acquireConnection()) as Connection;
    const prepared = new Map<string, Set<Statement>>();
    const prepare = connection.prepare;
    connection.prepare = (sql: string) => {
      const statement = prepare(sql);
      if (sql.includes('audit_events')) prepared.set(sql, (prepared.get(sql) ?? new Set()).add(statement));
      return statement;
    };
    await knex.client.releaseConnection(connection);
    try {
      // One at a time, so each is a batch of one row; the actor and metadata differ as a verification's would.
      for (let i = 0; i < 20; i++) {
        await store.appendAudit({ eventType: 'cert.verified', actor: `anonymous@10.0.0.${i}`, agentName: 'a.example', metadata: { i } }, new Date());
      }
      expect([...prepared.keys()]).toHaveLength(1);
      expect([...prepared.values()][0]?.size).toBe(1);
      const rows = (await knex('audit_events').where('agent_name', 'a.example').orderBy('id').select('actor', 'metadata')) as { actor: string; metadata: string }[];
      expect(rows.map((row) => [row.actor, JSON.parse(row.metadata)])).toEqual(Array.from({ length: 20 }, (_, i) => [`anonymous@10.0.0.${i}`, { i }]));
    } finally {
      connection.prepare = prepare;
    }
  });
});
