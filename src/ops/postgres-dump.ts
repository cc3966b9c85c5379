import { spawn } from 'node:child_process';
import type pg from 'pg';
import { BackupError } from './backup-error.ts';
import { withPgClient } from '../db/pg-client.ts';

/**
 * The database as pg_dump's custom-format archive, read from its stdout into memory (never a file): pg_dump reads
 * every table in one REPEATABLE READ transaction, so the copy is consistent while the server writes.
 */
export async function dumpPostgres(url: string): Promise<Buffer> {
  return run('pg_dump', ['--format=custom'], url);
}

/**
 * Refuses a database that holds relations (unless `force`) or that other sessions are connected to: a server on it
 * would write between the restore's statements or keep caches of what was replaced.
 */
export async function checkPostgresTarget(url: string, force: boolean): Promise<void> {
  await withPgClient(url, async (client) => {
    const relations = await count(
      client,
      `select count(*)::int as n from pg_class c join pg_namespace s on s.oid = c.relnamespace
        where c.relkind in ('r', 'p', 'v', 'm', 'S') and s.nspname not in ('pg_catalog', 'information_schema') and s.nspname not like 'pg_toast%'`,
    );
    if (relations > 0 && !force) {
      throw new BackupError(`the database is not empty (${relations} tables, views or sequences): restore into an empty database, or give --force to replace what the backup holds`);
    }
    const sessions = await count(client, 'select count(*)::int as n from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()');
    if (sessions > 0) throw new BackupError(`the database is in use (${sessions} other sessions are connected): stop the server before restoring`);
  });
}

/** Loads a pg_dump archive in one transaction: all of it or, on any error, none. `replace` drops what it recreates. */
export async function restorePostgres(url: string, dump: Buffer, replace: boolean): Promise<void> {
  const clean = replace ? ['--clean', '--if-exists'] : [];
  await run('pg_restore', ['--single-transaction', '--exit-on-error', '--no-owner', '--no-privileges', ...clean], url, dump);
}

/** Runs a PostgreSQL client tool on the database, the password passed in its environment rather than its arguments. */
async function run(tool: string, args: readonly string[], url: string, input?: Buffer): Promise<Buffer> {
  const { connection, password } = withoutPassword(url);
  const env = { ...process.env, ...(password !== undefined && { PGPASSWORD: password }) };
  const child = spawn(tool, [...args, `--dbname=${connection}`], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  child.stdin.on('error', () => {}); // a tool that exits early closes its stdin; its exit status says why
  child.stdin.end(input);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'ENOENT' ? new BackupError(`${tool} is not installed: PostgreSQL backups need its client tools (version 15 or later)`) : error),
    );
    child.on('close', resolve);
  });
  if (code !== 0) throw new BackupError(`${tool} failed (exit ${code ?? 'signal'}): ${Buffer.concat(stderr).toString('utf8').trim()}`);
  return Buffer.concat(stdout);
}

function withoutPassword(url: string): { connection: string; password: string | undefined } {
  const parsed = new URL(url);
  const password = parsed.password === '' ? undefined : decodeURIComponent(parsed.password);
  parsed.password = '';
  return { connection: parsed.toString(), password };
}

async function count(client: pg.Client, sql: string): Promise<number> {
  const { rows } = await client.query<{ n: number }>(sql);
  return rows[0]?.n ?? 0;
}
