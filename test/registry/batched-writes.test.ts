// Registry changes that arrive together commit in one transaction, each in a savepoint of its own
// (src/db/write-batch.ts). Many concurrent registrations and rotations through a real server over gRPC, some bound to
// fail (a name taken by a twin, a version moved by a sibling or never reached): every success has exactly one agent,
// certificate, audit event and log leaf, every failure left nothing, and the log stays gap-free and verifiable,
// within one process and across two processes sharing one database.
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { Code, ConnectError, type Client, createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { TransparencyLogService } from '../../gen/atr/v1/transparency_log_pb.js';
import type { Dialect } from '../../src/config/database-url.ts';
import { parseCheckpoint } from '../../src/tlog/checkpoint.ts';
import { decodeLeaf } from '../../src/tlog/leaf.ts';
import { openNote } from '../../src/tlog/note.ts';
import { verifyInclusion } from '../../src/tlog/verify.ts';
import { dialects } from '../support/databases.ts';
import { keyAndCsr } from '../support/keys.ts';
import { type ServerProcess, processEnvironment, serverProcess } from '../support/server-process.ts';

const REGISTRATIONS = 100;
const TWINS = 20;
const ROTATED = 20;

/** A change that succeeded, with the event and log index it was acknowledged with. */
interface Success {
  readonly agentName: string;
  readonly eventType: 'agent.registered' | 'agent.rotated';
  readonly logIndex: number;
}

type Outcome = { readonly success: Success } | { readonly code: Code; readonly agentName: string };

describe.each(dialects)('concurrent changes batched into shared transactions on %s', (dialect) => {
  let env: NodeJS.ProcessEnv;
  let cleanup: () => Promise<void>;
  const servers: ServerProcess[] = [];
  let sql: Sql;

  beforeAll(async () => {
    ({ env, cleanup } = await processEnvironment(dialect, { MTLS_ENABLED: 'false' }));
    servers.push(await serverProcess(env));
    sql = await openSql(dialect, String(env['DATABASE_URL']));
  });
  afterAll(async () => {
    await sql?.close();
    await Promise.all(servers.map((server) => server.stop()));
    await cleanup?.();
  });

  it('commits each of 200 concurrent changes whole or not at all, with a gap-free, verifiable log', async () => {
    const registry = registryOf(servers[0]!);
    // Agents to rotate, each at a version the concurrent rotations below race for.
    const rotated = await Promise.all(
      Array.from({ length: ROTATED }, (_, i) => registry.registerAgent({ agentName: `rot-${i}.batch.example`, owner: 'batch' })),
    );
    const before = await sql.count("select count(*) as n from tlog_entries");
    const csrs = await Promise.all(Array.from({ length: REGISTRATIONS + 2 * TWINS }, () => keyAndCsr().then((k) => k.csrPem)));

    const register = (agentName: string, csrPem: string) =>
      outcomeOf(agentName, async () => {
        const answer = await registry.registerAgent({ agentName, owner: 'batch', csrPem });
        return { agentName, eventType: 'agent.registered', logIndex: Number(answer.logIndex) };
      });
    const rotate = (agentName: string, expectedVersion: number) =>
      outcomeOf(agentName, async () => {
        const answer = await registry.rotateCertificate({ agentName, expectedVersion });
        return { agentName, eventType: 'agent.rotated', logIndex: Number(answer.logIndex) };
      });
    const calls: Promise<Outcome>[] = [];
    for (let i = 0; i < REGISTRATIONS; i++) calls.push(register(`new-${i}.batch.example`, csrs[i]!));
    // Twins: two callers register the same name at once.
    for (let i = 0; i < TWINS; i++) {
      calls.push(register(`twin-${i}.batch.example`, csrs[REGISTRATIONS + 2 * i]!));
      calls.push(register(`twin-${i}.batch.example`, csrs[REGISTRATIONS + 2 * i + 1]!));
    }
    // Per rotated agent: two rotations from the version both read (one wins, one finds it moved) and one from a
    // version the agent never had.
    for (const { agent } of rotated) {
      calls.push(rotate(agent!.agentName, agent!.version), rotate(agent!.agentName, agent!.version), rotate(agent!.agentName, agent!.version + 7));
    }
    expect(calls).toHaveLength(200);
    const outcomes = await Promise.all(calls);

    const successes = outcomes.flatMap((outcome) => ('success' in outcome ? [outcome.success] : []));
    const failures = outcomes.flatMap((outcome) => ('code' in outcome ? [outcome] : []));
    expect(successes).toHaveLength(REGISTRATIONS + TWINS + ROTATED);
    for (let i = 0; i < TWINS; i++) {
      const twins = outcomes.filter((outcome) => ('success' in outcome ? outcome.success.agentName : outcome.agentName) === `twin-${i}.batch.example`);
      expect(twins.filter((outcome) => 'success' in outcome)).toHaveLength(1);
      expect(twins.filter((outcome) => 'code' in outcome && outcome.code === Code.AlreadyExists)).toHaveLength(1);
    }
    expect(failures.filter((failure) => failure.code === Code.AlreadyExists)).toHaveLength(TWINS);
    expect(failures.filter((failure) => failure.code === Code.Aborted)).toHaveLength(2 * ROTATED);

    // Each success: one agent, its certificates, one audit event of its kind, one leaf at the index it was given.
    const registeredNames = successes.filter((s) => s.eventType === 'agent.registered').map((s) => s.agentName);
    const rotatedNames = rotated.map(({ agent }) => agent!.agentName);
    expect(await sql.count("select count(*) as n from agents where name like '%.batch.example'")).toBe(registeredNames.length + ROTATED);
    expect(await sql.rows('select a.name, count(c.id) as n from agents a join certificates c on c.agent_id = a.id group by a.name')).toEqual(
      expect.arrayContaining([...registeredNames.map((name) => ({ name, n: 1 })), ...rotatedNames.map((name) => ({ name, n: 2 }))]),
    );
    expect(await sql.count('select count(*) as n from certificates')).toBe(registeredNames.length + 2 * ROTATED);
    const audited = await sql.rows("select agent_name as name, event_type as type, count(*) as n from audit_events where event_type in ('agent.registered', 'agent.rotated') group by agent_name, event_type");
    expect(audited).toHaveLength(registeredNames.length + 2 * ROTATED);
    for (const row of audited) expect(row['n']).toBe(1);
    expect(new Set(audited.filter((row) => row['type'] === 'agent.rotated').map((row) => row['name']))).toEqual(new Set(rotatedNames));

    // The log: gap-free from 0, one leaf per success at the index its caller was given, nothing for the failures.
    const entries = await sql.rows('select idx, data from tlog_entries order by idx');
    expect(entries.map((entry) => entry['idx'])).toEqual(Array.from({ length: entries.length }, (_, i) => i));
    expect(entries.length).toBe(before + successes.length);
    expect(await sql.count('select next_index as n from tlog_state')).toBe(entries.length);
    for (const success of successes) {
      const leaf = decodeLeaf(new Uint8Array(entries[success.logIndex]!['data'] as Buffer));
      expect([leaf.agent_name, leaf.event_type]).toEqual([success.agentName, success.eventType]);
    }
    expect(new Set(successes.map((s) => s.logIndex)).size).toBe(successes.length);

    await expectVerifiableLog(servers[0]!, successes);
  }, 120_000);

  it('keeps the log gap-free while two processes batch changes into one database', async () => {
    servers.push(await serverProcess(env));
    const [a, b] = [registryOf(servers[0]!), registryOf(servers[1]!)];
    const before = await sql.count('select count(*) as n from tlog_entries');
    // Each process registers its own names and, at the same time, ten names the other registers too.
    const names = (side: string) => [...Array.from({ length: 90 }, (_, i) => `${side}-${i}.pair.example`), ...Array.from({ length: 10 }, (_, i) => `both-${i}.pair.example`)];
    const run = (registry: Client<typeof RegistryService>, side: string) =>
      Promise.all(
        names(side).map((agentName) =>
          outcomeOf(agentName, async () => {
            const answer = await registry.registerAgent({ agentName, owner: 'pair' });
            return { agentName, eventType: 'agent.registered', logIndex: Number(answer.logIndex) };
          }),
        ),
      );
    const outcomes = (await Promise.all([run(a, 'a'), run(b, 'b')])).flat();
    const successes = outcomes.flatMap((outcome) => ('success' in outcome ? [outcome.success] : []));
    expect(successes).toHaveLength(190);
    expect(outcomes.filter((outcome) => 'code' in outcome && outcome.code === Code.AlreadyExists)).toHaveLength(10);

    const entries = await sql.rows('select idx, data from tlog_entries order by idx');
    expect(entries.map((entry) => entry['idx'])).toEqual(Array.from({ length: entries.length }, (_, i) => i));
    expect(entries.length).toBe(before + 190);
    for (const success of successes) expect(decodeLeaf(new Uint8Array(entries[success.logIndex]!['data'] as Buffer)).agent_name).toBe(success.agentName);
    expect(await sql.count("select count(*) as n from agents where name like '%.pair.example'")).toBe(190);
    expect(await sql.count("select count(*) as n from audit_events where agent_name like '%.pair.example' and event_type = 'agent.registered'")).toBe(190);

    await expectVerifiableLog(servers[1]!, successes);
  }, 120_000);
});

function registryOf(server: ServerProcess): Client<typeof RegistryService> {
  return createClient(RegistryService, createGrpcTransport({ baseUrl: server.url }));
}

async function outcomeOf(agentName: string, call: () => Promise<Success>): Promise<Outcome> {
  try {
    return { success: await call() };
  } catch (error) {
    return { code: ConnectError.from(error).code, agentName };
  }
}

/** A new signed checkpoint, and an inclusion proof of every success's leaf that verifies against it. */
async function expectVerifiableLog(server: ServerProcess, successes: readonly Success[]): Promise<void> {
  const log = createClient(TransparencyLogService, createGrpcTransport({ baseUrl: server.url }));
  const published = await log.publishCheckpoint({});
  const { verifierKey } = await log.getCheckpoint({});
  const signed = parseCheckpoint(openNote(published.checkpoint, verifierKey).text);
  for (const { logIndex } of successes) {
    const [{ entry }, proof] = await Promise.all([log.getEntry({ index: BigInt(logIndex) }), log.getInclusionProof({ index: BigInt(logIndex), treeSize: BigInt(signed.size) })]);
    const leaf = new Uint8Array(Buffer.from(entry!.leafHash, 'hex'));
    const path = proof.hashes.map((hash) => new Uint8Array(Buffer.from(hash, 'hex')));
    expect(verifyInclusion(leaf, logIndex, signed.size, path, signed.rootHash)).toBe(true);
  }
}

/** The test's own connection to the server's database, for what only SQL can show. */
interface Sql {
  rows(query: string): Promise<Record<string, unknown>[]>;
  count(query: string): Promise<number>;
  close(): Promise<void>;
}

async function openSql(dialect: Dialect, url: string): Promise<Sql> {
  // Counts come back as numbers on both: bigint columns and count(*) are text in pg unless parsed.
  const normal = (row: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(row).map(([key, value]) => [key, typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value]));
  let rows: (query: string) => Promise<Record<string, unknown>[]>;
  let close: () => Promise<void>;
  if (dialect === 'sqlite') {
    const database = new BetterSqlite3(url.replace(/^sqlite:\/\//, ''), { readonly: true });
    rows = async (query) => (database.prepare(query).all() as Record<string, unknown>[]).map(normal);
    close = async () => void database.close();
  } else {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    rows = async (query) => (await client.query(query)).rows.map(normal);
    close = () => client.end();
  }
  return { rows, count: async (query) => Number((await rows(query))[0]?.['n']), close };
}
