import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiKeyRole } from '../../gen/atr/v1/api_key_pb.js';
import { ApiKeys } from '../../src/auth/api-keys.ts';
import type { Config } from '../../src/config/schema.ts';
import { SqlApiKeyStore } from '../../src/db/api-key-store.ts';
import { openDatabase } from '../../src/db/orm.ts';
import { createRegistryClient } from '../../src/sdk/client.ts';
import { startServer } from '../../src/server/server.ts';
import { dialects } from '../support/databases.ts';
import { type TestEnvironment, testEnvironment } from '../support/server.ts';

const RACER = join(import.meta.dirname, 'bootstrap-racer.ts');
const RACERS = 4;

describe.each(dialects)('the bootstrap admin key on %s', (dialect) => {
  let environment: TestEnvironment | undefined;
  afterEach(async () => {
    await environment?.cleanup();
    environment = undefined;
  });

  /** Starts a real server on the environment's database, runs `work` against it, and stops it. */
  const withServer = async (config: Config, work: (url: string) => Promise<void>) => {
    const server = await startServer(config);
    try {
      await work(server.url);
    } finally {
      await server.close();
    }
  };
  const adminCall = (url: string, apiKey: string) => createRegistryClient({ baseUrl: url, apiKey }).keys.listApiKeys({ includeRevoked: true });

  it('refuses to start when the key file cannot be written, and bootstraps again on the next start once it can', async () => {
    environment = await testEnvironment(dialect);
    const blocked = join(environment.dir, 'secrets');
    writeFileSync(blocked, 'a file where the key directory should be');
    const config = { ...environment.config, apiKeyEnabled: true, adminKeyFile: join(blocked, 'admin.key') };

    await expect(startServer(config)).rejects.toThrow(/cannot write the bootstrap admin key to .*secrets\/admin\.key/);

    rmSync(blocked);
    mkdirSync(blocked, { mode: 0o700 });
    await withServer(config, async (url) => {
      const key = readFileSync(config.adminKeyFile, 'utf8').trim();
      expect(statSync(config.adminKeyFile).mode & 0o777).toBe(0o600);
      const keys = (await adminCall(url, key)).apiKeys;
      expect(keys.map((k) => [k.createdBy, k.role, k.revokedAt !== undefined])).toEqual([
        ['bootstrap', ApiKeyRole.ADMIN, true],
        ['bootstrap', ApiKeyRole.ADMIN, false],
      ]);
      const audit = await createRegistryClient({ baseUrl: url, apiKey: key }).registry.listAuditEvents({});
      const keyEvents = audit.events.filter((event) => event.eventType.startsWith('key.')).map((event) => [event.eventType, event.actor, event.metadata?.['bootstrap']]);
      expect(keyEvents).toEqual(
        expect.arrayContaining([
          ['key.created', 'bootstrap', true],
          ['key.revoked', 'bootstrap', undefined],
          ['key.created', 'bootstrap', true],
        ]),
      );
      expect(keyEvents).toHaveLength(3);
    });
    // An active admin key exists now: the next start leaves the file and the keys alone.
    const before = readFileSync(config.adminKeyFile, 'utf8');
    await withServer(config, async (url) => {
      expect(readFileSync(config.adminKeyFile, 'utf8')).toBe(before);
      expect((await adminCall(url, before.trim())).apiKeys).toHaveLength(2);
    });
  });

  it('makes exactly one key when processes start together on a registry without an active admin key', async () => {
    environment = await testEnvironment(dialect);
    const database = await openDatabase(environment.config.databaseUrl);
    try {
      const keys = new ApiKeys(new SqlApiKeyStore(database));
      const first = await race(environment.config.databaseUrl);
      expect(first.filter((made) => made !== 'none')).toHaveLength(1);
      expect(await race(environment.config.databaseUrl)).toEqual(Array.from({ length: RACERS }, () => 'none'));

      // Every admin key revoked (the bootstrap one, and one an admin made): the next starts make one between them.
      const other = await keys.create({ role: 'admin' }, 'test');
      for (const key of await keys.list(false)) await keys.revoke(key.keyId, 'test');
      expect((await keys.list(true)).map((key) => key.keyId)).toContain(other.record.keyId);
      const second = await race(environment.config.databaseUrl);
      expect(second.filter((made) => made !== 'none')).toHaveLength(1);
      expect((await keys.list(false)).map((key) => key.keyId)).toEqual(second.filter((made) => made !== 'none'));
    } finally {
      await database.close();
    }
  }, 240_000);

  it('with keys off, an admin key made then stays the admin key: the next keys-on start writes no file and that key works', async () => {
    environment = await testEnvironment(dialect);
    const config = environment.config;
    let kept = '';
    await withServer({ ...config, apiKeyEnabled: false }, async (url) => {
      kept = (await createRegistryClient({ baseUrl: url }).keys.createApiKey({ role: ApiKeyRole.ADMIN, description: 'made with keys off' })).secret;
    });
    await withServer({ ...config, apiKeyEnabled: true }, async (url) => {
      expect(existsSync(config.adminKeyFile)).toBe(false);
      expect((await adminCall(url, kept)).apiKeys.map((key) => key.description)).toEqual(['made with keys off']);
    });
  });
});

/** RACERS processes that each open the database, then ask for the bootstrap key at the same moment; what each made. */
async function race(databaseUrl: string): Promise<string[]> {
  const racers = Array.from({ length: RACERS }, () =>
    spawn(process.execPath, ['--import', 'tsx', RACER], { env: { ...process.env, DATABASE_URL: databaseUrl }, stdio: ['pipe', 'pipe', 'inherit'] }),
  );
  try {
    await Promise.all(racers.map((racer) => nextLine(racer)));
    for (const racer of racers) racer.stdin?.end('go\n');
    return await Promise.all(racers.map((racer) => nextLine(racer)));
  } finally {
    await Promise.all(racers.map((racer) => (racer.exitCode === null ? once(racer, 'exit') : undefined)));
  }
}

function nextLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      const end = text.indexOf('\n');
      if (end < 0) return;
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      resolve(text.slice(0, end));
    };
    const onExit = (code: number | null) => reject(new Error(`racer exited (${code}) before it answered`));
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
}
