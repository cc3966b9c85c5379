import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dialect } from '../../src/config/database-url.ts';
import type { Config } from '../../src/config/schema.ts';
import { type RegistryClient, createRegistryClient } from '../../src/sdk/client.ts';
import { type SignedCheckpoint, checkExtension, checkInclusion, checkLeafHash, verifyCheckpointResponse } from '../../src/sdk/log-checks.ts';
import { leafHash } from '../../src/sdk/transparency-log.ts';
import { type RunningServer, startServer } from '../../src/server/server.ts';
import { type CliResult, runAtr } from '../support/cli.ts';
import { dialects } from '../support/databases.ts';
import { keyAndCsr } from '../support/keys.ts';
import { type TestEnvironment, testEnvironment } from '../support/server.ts';

const PASSPHRASE = 'correct horse battery staple';
/** The files a restore must bring back byte for byte, with their modes. */
const SECRET_FILES = ['root.key', 'intermediate.key', 'log.key', 'mtls-ticket.secret'];
const PUBLIC_FILES = ['root.crt', 'intermediate.crt'];

// A registry's state through `atr backup` (taken while the server serves and registers) and `atr restore` into a
// fresh database and PKI directory: the agents, the CA and the log come back as they were, and the log goes on.
describe.each(dialects)('atr backup and atr restore on %s', (dialect) => {
  const scratch = mkdtempSync(join(tmpdir(), 'atr-backup-'));
  const archive = join(scratch, 'registry.atrbackup');
  const passphraseFile = join(scratch, 'passphrase');
  const environments: TestEnvironment[] = [];
  const servers: RunningServer[] = [];
  let original: TestEnvironment;
  let restored: TestEnvironment;

  const fresh = async () => {
    const environment = await testEnvironment(dialect, { apiKeyEnabled: true });
    environments.push(environment);
    return environment;
  };
  const serve = async (environment: TestEnvironment) => {
    const server = await startServer(environment.config);
    servers.push(server);
    return server;
  };
  const stop = async (server: RunningServer) => {
    servers.splice(servers.indexOf(server), 1);
    await server.close();
  };
  const clientOf = (server: RunningServer, environment: TestEnvironment): RegistryClient =>
    createRegistryClient({ baseUrl: server.url, apiKey: readFileSync(environment.config.adminKeyFile, 'utf8').trim() });
  const atr = (args: readonly string[], config: Config): Promise<CliResult> =>
    runAtr([...args, '--passphrase-file', passphraseFile], scratch, {
      DATABASE_URL: config.databaseUrl,
      PKI_ROOT_DIR: config.pkiRootDir,
      ADMIN_KEY_FILE: config.adminKeyFile,
    });

  beforeAll(() => writeFileSync(passphraseFile, `${PASSPHRASE}\n`, { mode: 0o600 }));
  afterAll(async () => {
    for (const server of servers) await server.close();
    for (const environment of environments) await environment.cleanup();
    rmSync(scratch, { recursive: true, force: true });
  });

  it(
    'restores agents, CA and log identically; old proofs and certificates verify and the log goes on',
    async () => {
      original = await fresh();
      const first = await serve(original);
      const before = clientOf(first, original);

      const registered = await register(before, ['alpha.backup.example', 'beta.backup.example', 'gamma.backup.example']);
      const betaFirstCert = registered.get('beta.backup.example')?.certPem ?? '';
      await before.registry.rotateCertificate({ agentName: 'beta.backup.example', csrPem: (await keyAndCsr('beta.backup.example')).csrPem });
      await before.registry.revokeAgent({ agentName: 'gamma.backup.example', reason: 'keyCompromise' });
      const alphaIndex = Number(registered.get('alpha.backup.example')?.logIndex);

      // The checkpoint and proofs a monitor holds from before the backup.
      await before.log.publishCheckpoint({});
      const { verifierKey } = await before.log.getCheckpoint({});
      const oldCheckpoint = await verifyCheckpointResponse(await before.log.getCheckpoint({}), verifierKey);
      const alphaLeaf = await checkedLeaf(before, alphaIndex);
      await checkInclusion(alphaLeaf, alphaIndex, oldCheckpoint, (request) => before.log.getInclusionProof(request));
      const names = [...registered.keys()];
      const agentsBefore = await Promise.all(names.map((agentName) => before.registry.getAgent({ agentName })));
      const verificationsBefore = await verifications(before, [...[...registered.values()].map((r) => r.certPem), betaFirstCert]);

      // The backup runs while the server keeps registering agents.
      let writing = true;
      const during: string[] = [];
      const writer = (async () => {
        for (let i = 0; writing; i++) {
          const agentName = `during-${i}.backup.example`;
          await register(before, [agentName]);
          during.push(agentName);
        }
      })();
      const backup = await atr(['backup', archive], original.config);
      writing = false;
      await writer;
      expect(backup.stderr).toBe('');
      expect(backup.code).toBe(0);
      expect(backup.stdout).toContain(`backup written to ${archive}`);
      expect(statSync(archive).mode & 0o777).toBe(0o600);
      for (const secret of [...SECRET_FILES.map((name) => readFileSync(join(original.config.pkiRootDir, name))), readFileSync(original.config.adminKeyFile)]) {
        expect(readFileSync(archive).includes(secret)).toBe(false);
      }
      await stop(first);

      restored = await fresh();
      const restore = await atr(['restore', archive], restored.config);
      expect(restore.stderr).toBe('');
      expect(restore.code).toBe(0);
      for (const name of [...SECRET_FILES, ...PUBLIC_FILES]) {
        const [was, is] = [original, restored].map(({ config }) => join(config.pkiRootDir, name));
        expect(readFileSync(is as string), name).toEqual(readFileSync(was as string));
        expect(statSync(is as string).mode & 0o777, name).toBe(SECRET_FILES.includes(name) ? 0o600 : statSync(was as string).mode & 0o777);
      }
      expect(readFileSync(restored.config.adminKeyFile)).toEqual(readFileSync(original.config.adminKeyFile));
      expect(statSync(restored.config.adminKeyFile).mode & 0o777).toBe(0o600);

      const second = await serve(restored);
      const after = clientOf(second, restored); // the backed-up admin key is still the admin key
      expect(await Promise.all(names.map((agentName) => after.registry.getAgent({ agentName })))).toEqual(agentsBefore);
      expect(await verifications(after, [...[...registered.values()].map((r) => r.certPem), betaFirstCert])).toEqual(verificationsBefore);
      const bundle = await after.verify.getTrustBundle({});
      const rootFingerprint = new X509Certificate(readFileSync(join(original.config.pkiRootDir, 'root.crt'))).fingerprint256;
      expect(new X509Certificate(bundle.rootPem).fingerprint256).toBe(rootFingerprint);

      // The agents registered during the backup: those in it are a prefix of them, each whole.
      const restoredDuring = (await after.registry.listAgents({ limit: 500 })).agents.map((agent) => agent.agentName).filter((name) => name.startsWith('during-'));
      expect(during.slice(0, restoredDuring.length).sort()).toEqual([...restoredDuring].sort());

      // The log: same key, and the old checkpoint's tree is a prefix of the restored one, with alpha in it.
      await after.log.publishCheckpoint({});
      const restoredCheckpoint = await verifyCheckpointResponse(await after.log.getCheckpoint({}), verifierKey);
      await checkExtension(oldCheckpoint, restoredCheckpoint, (request) => after.log.getConsistencyProof(request));
      await checkInclusion(alphaLeaf, alphaIndex, oldCheckpoint, (request) => after.log.getInclusionProof(request));
      expect(await checkedLeaf(after, alphaIndex)).toEqual(alphaLeaf);

      // New registrations append to the same log, issued by the same CA.
      const delta = (await register(after, ['delta.backup.example'])).get('delta.backup.example');
      expect(Number(delta?.logIndex)).toBeGreaterThanOrEqual(restoredCheckpoint.size);
      const intermediate = new X509Certificate(readFileSync(join(original.config.pkiRootDir, 'intermediate.crt')));
      expect(new X509Certificate(delta?.certPem ?? '').verify(intermediate.publicKey)).toBe(true);
      await after.log.publishCheckpoint({});
      const latest: SignedCheckpoint = await verifyCheckpointResponse(await after.log.getCheckpoint({}), verifierKey);
      expect(latest.size).toBeGreaterThan(restoredCheckpoint.size);
      await checkExtension(oldCheckpoint, latest, (request) => after.log.getConsistencyProof(request));
      await checkInclusion(await checkedLeaf(after, Number(delta?.logIndex)), Number(delta?.logIndex), latest, (request) => after.log.getInclusionProof(request));
      await stop(second);
    },
    300_000,
  );

  it('refuses a wrong passphrase, a truncated or changed file, and changes nothing', async () => {
    const target = await fresh();
    const bytes = readFileSync(archive);
    const variants: [string, Buffer, string][] = [
      ['truncated', bytes.subarray(0, bytes.length - 100), 'damaged or was changed'],
      ['header only', bytes.subarray(0, 40), 'truncated'],
      ['a changed byte', withByteFlipped(bytes, Math.floor(bytes.length / 2)), 'damaged or was changed'],
      ['a changed tag', withByteFlipped(bytes, bytes.length - 1), 'damaged or was changed'],
      ['a changed salt', withByteFlipped(bytes, 20), 'wrong passphrase'],
      ['another format version', withByteFlipped(bytes, 8), 'format version'],
      ['not a backup', Buffer.from('hello, world\n'), 'not an atr backup'],
    ];
    for (const [what, content, message] of variants) {
      const file = join(scratch, 'bad.atrbackup');
      writeFileSync(file, content);
      const result = await atr(['restore', file], target.config);
      expect(result.code, what).toBe(1);
      expect(result.stderr, what).toContain(message);
    }
    writeFileSync(passphraseFile, 'a different passphrase\n');
    try {
      const result = await atr(['restore', archive], target.config);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('wrong passphrase');
    } finally {
      writeFileSync(passphraseFile, `${PASSPHRASE}\n`);
    }
    expect(existsSync(target.config.pkiRootDir)).toBe(false);
    expect(existsSync(target.config.adminKeyFile)).toBe(false);
    expect(await tableCount(dialect, target.config.databaseUrl)).toBe(0);
  }, 300_000);

  it.runIf(dialect === 'sqlite')('takes the passphrase from BACKUP_PASSPHRASE, and refuses one it cannot use', async () => {
    const settings = { DATABASE_URL: original.config.databaseUrl, PKI_ROOT_DIR: original.config.pkiRootDir, ADMIN_KEY_FILE: original.config.adminKeyFile };
    const file = join(scratch, 'from-environment.atrbackup');
    const none = await runAtr(['backup', file], scratch, settings);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('no passphrase');
    const short = await runAtr(['backup', file], scratch, { ...settings, BACKUP_PASSPHRASE: 'too short' });
    expect(short.code).toBe(2);
    expect(short.stderr).toContain('at least 12 characters');
    const existing = await runAtr(['backup', archive], scratch, { ...settings, BACKUP_PASSPHRASE: PASSPHRASE });
    expect(existing.code).toBe(2);
    expect(existing.stderr).toContain('--force');
    expect(existsSync(file)).toBe(false);

    const made = await runAtr(['backup', file], scratch, { ...settings, BACKUP_PASSPHRASE: PASSPHRASE });
    expect(made.code).toBe(0);
    const target = await fresh();
    const restore = await atr(['restore', file], target.config);
    expect(restore.code).toBe(0);
    expect(readFileSync(join(target.config.pkiRootDir, 'root.key'))).toEqual(readFileSync(join(original.config.pkiRootDir, 'root.key')));
  }, 300_000);

  it('refuses a non-empty target unless --force, and a database a server has open even then', async () => {
    const result = await atr(['restore', archive], restored.config);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('is not empty');

    const server = await serve(restored);
    const busy = await atr(['restore', archive, '--force'], restored.config);
    expect(busy.code).toBe(1);
    expect(busy.stderr).toContain('in use');
    const client = clientOf(server, restored);
    await register(client, ['epsilon.backup.example']);
    await stop(server);

    const forced = await atr(['restore', archive, '--force'], restored.config);
    expect(forced.stderr).toBe('');
    expect(forced.code).toBe(0);
    const again = await serve(restored);
    const agents = (await clientOf(again, restored).registry.listAgents({ limit: 500 })).agents.map((agent) => agent.agentName);
    expect(agents).toContain('alpha.backup.example');
    expect(agents).not.toContain('epsilon.backup.example');
    await stop(again);
  }, 300_000);
});

interface Registered {
  readonly certPem: string;
  readonly logIndex: bigint | undefined;
}

async function register(client: RegistryClient, names: readonly string[]): Promise<Map<string, Registered>> {
  const registered = new Map<string, Registered>();
  for (const agentName of names) {
    const { csrPem } = await keyAndCsr(agentName);
    const response = await client.registry.registerAgent({ agentName, owner: 'backup-test', capabilities: ['chat'], csrPem });
    registered.set(agentName, { certPem: response.certPem, logIndex: response.logIndex });
  }
  return registered;
}

/** The leaf hash of entry `index`, checked against the entry's data. */
async function checkedLeaf(client: RegistryClient, index: number): Promise<Uint8Array> {
  const { entry } = await client.log.getEntry({ index: BigInt(index) });
  const computed = await leafHash(entry?.data ?? new Uint8Array());
  checkLeafHash(entry?.leafHash ?? '', computed);
  return computed;
}

async function verifications(client: RegistryClient, certificates: readonly string[]): Promise<unknown[]> {
  return Promise.all(
    certificates.map(async (certPem) => {
      const { verified, agentName, status, reason } = await client.verify.verifyCertificate({ certPem });
      return { verified, agentName, status, reason };
    }),
  );
}

function withByteFlipped(bytes: Buffer, at: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[at] = (copy[at] ?? 0) ^ 0x01;
  return copy;
}

/** Tables in the database: 0 for a database nothing has been written to (a missing SQLite file counts as empty). */
async function tableCount(dialect: Dialect, url: string): Promise<number> {
  if (dialect === 'sqlite') return existsSync(url.replace(/^sqlite:\/\/\//, '')) ? -1 : 0;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>("select count(*)::int as n from pg_tables where schemaname = 'public'");
    return rows[0]?.n ?? 0;
  } finally {
    await client.end();
  }
}
