import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import type { Dialect } from '../../src/config/database-url.ts';
import { type Database, openDatabase } from '../../src/db/orm.ts';
import { withPgClient } from '../../src/db/pg-client.ts';

/**
 * The databases every storage-touching suite runs on: SQLite always, PostgreSQL when ATR_TEST_POSTGRES_URL names
 * a server (as .ci/run does). Each test database is created for the suite and dropped after it.
 */
export const dialects: Dialect[] = process.env['ATR_TEST_POSTGRES_URL'] ? ['sqlite', 'postgresql'] : ['sqlite'];

export interface TestDatabase {
  readonly url: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(dialect: Dialect): Promise<TestDatabase> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'atr-db-'));
    return { url: `sqlite:///${join(dir, 'atr.db')}`, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const admin = process.env['ATR_TEST_POSTGRES_URL'] ?? '';
  const name = `atr_test_${randomBytes(6).toString('hex')}`;
  await withPgClient(admin, (client) => client.query(`create database ${name}`));
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      await withPgClient(admin, (client) => client.query(`drop database if exists ${name} with (force)`));
    },
  };
}

/**
 * A fresh database of `dialect` with the registry's schema, opened before the calling suite's tests and closed and
 * dropped after them; `database` is there from the first test on.
 */
export function openedTestDatabase(dialect: Dialect): { readonly database: Database } {
  let testDatabase: TestDatabase | undefined;
  let database: Database | undefined;
  beforeAll(async () => {
    testDatabase = await createTestDatabase(dialect);
    database = await openDatabase(testDatabase.url);
  });
  afterAll(async () => {
    await database?.close();
    await testDatabase?.drop();
  });
  return {
    get database() {
      if (database === undefined) throw new Error('the test database is opened in beforeAll');
      return database;
    },
  };
}
