import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { type Dialect, parseDatabaseUrl } from '../../src/config/database-url.ts';

/** SQLite always; PostgreSQL when DATABASE_URL or ATR_TEST_POSTGRES_URL names a server. */
export function benchDialects(): Dialect[] {
  return postgresServer() ? ['sqlite', 'postgresql'] : ['sqlite'];
}

function postgresServer(): string | undefined {
  return [process.env['DATABASE_URL'], process.env['ATR_TEST_POSTGRES_URL']]
    .filter((url): url is string => Boolean(url))
    .map(parseDatabaseUrl)
    .find((location) => location.dialect === 'postgresql')?.target;
}

/** A fresh database: a SQLite file in a temporary directory, or a new database on the PostgreSQL server. */
export async function createBenchDatabase(dialect: Dialect): Promise<{ url: string; drop(): Promise<void> }> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'atr-bench-'));
    return { url: `sqlite:///${join(dir, 'log.db')}`, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const server = postgresServer() ?? '';
  const name = `atr_bench_${randomBytes(6).toString('hex')}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: server });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`create database ${name}`);
  const url = new URL(server);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => admin(`drop database if exists ${name} with (force)`) };
}
