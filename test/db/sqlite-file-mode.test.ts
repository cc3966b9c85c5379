import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/orm.ts';
import { runningServer } from '../support/server.ts';

const modeOf = (path: string) => statSync(path).mode & 0o777;
const sqliteFiles = (path: string) => [path, `${path}-wal`, `${path}-shm`];

// The file holds API-key hashes, the audit trail and the agents: no one but its owner may read it, whatever the umask.
describe.each(['022', '002'])('the SQLite database under umask %s', (umask) => {
  const scratch = mkdtempSync(join(tmpdir(), 'atr-db-mode-'));
  let previousUmask: number;
  beforeAll(() => {
    previousUmask = process.umask(Number.parseInt(umask, 8));
  });
  afterAll(() => {
    process.umask(previousUmask);
    rmSync(scratch, { recursive: true, force: true });
  });

  describe('created by the server', () => {
    const path = join(scratch, 'new', 'var', 'atr.db');
    let base: string;
    let cleanup: () => Promise<void>;

    beforeAll(async () => {
      const started = await runningServer('sqlite', { databaseUrl: `sqlite:///${path}` });
      base = started.server.url;
      cleanup = started.cleanup;
    });
    afterAll(() => cleanup());

    it('is 0600, and so are the -wal and -shm files SQLite creates beside it', async () => {
      const response = await fetch(`${base}/v1/agents`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ agent_name: 'mode.agents.example', owner: 'security' }),
      });
      expect(response.status).toBe(201);
      for (const file of sqliteFiles(path)) expect(modeOf(file), file).toBe(0o600);
    });

    it('lives in a directory created 0700', () => {
      expect(modeOf(join(scratch, 'new', 'var'))).toBe(0o700);
    });
  });

  describe('left readable by an older version', () => {
    const path = join(scratch, 'old.db');
    let older: BetterSqlite3.Database | undefined;
    afterEach(() => older?.close());

    it('is tightened to 0600 when opened, with its -wal and -shm files', async () => {
      writeFileSync(path, '');
      chmodSync(path, 0o644);
      // An older process still has it open, so its -wal and -shm files exist, 0644 like the database.
      older = new BetterSqlite3(path);
      older.pragma('journal_mode = wal');
      older.exec('create table older_version (id integer primary key)');
      for (const file of sqliteFiles(path)) expect(modeOf(file), file).toBe(0o644);

      const database = await openDatabase(`sqlite:///${path}`);
      try {
        for (const file of sqliteFiles(path)) expect(modeOf(file), file).toBe(0o600);
      } finally {
        await database.close();
      }
    });
  });
});

describe('an in-memory SQLite database', () => {
  it('touches no file', async () => {
    const database = await openDatabase('sqlite::memory:');
    await database.close();
    expect(existsSync(':memory:')).toBe(false);
  });
});
