import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from '../../src/db/orm.ts';
import { createTestDatabase, dialects, type TestDatabase } from '../support/databases.ts';

// Closing waits for the queries in flight; a query asked for meanwhile must fail at once, not wait for a connection
// from a pool that is going away (that wait was the acquire timeout, 60 s, and hung shutdowns with it).
describe.each(dialects)('closing the %s database', (dialect) => {
  let testDatabase: TestDatabase;
  let database: Database;
  beforeAll(async () => {
    testDatabase = await createTestDatabase(dialect);
    database = await openDatabase(testDatabase.url);
  });
  afterAll(() => testDatabase.drop());

  it('lets the transaction in flight commit and refuses a new query at once', async () => {
    const knex = database.orm.em.getConnection().getKnex();
    let committed = false;
    const inFlight = knex.transaction(async (trx) => {
      await trx.raw('select 1');
      await sleep(300);
      committed = true;
    });
    await sleep(50);
    const closing = database.close();
    await expect(knex.raw('select 1')).rejects.toThrow(/closed|Unable to acquire/);
    await inFlight;
    await closing;
    expect(committed).toBe(true);
  });
});
