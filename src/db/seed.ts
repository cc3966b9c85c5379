// atr bench seed: many registered agents written straight into the database, for measuring the registry at scale.
// Each agent ends as a registration through the API would leave it (its certificate from the registry's CA, its
// audit event and its log leaf; revoked ones also as a revocation leaves them), but rows go in by the thousand per
// statement, in one transaction per batch, while worker processes sign the certificates.
import { availableParallelism } from 'node:os';
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { Knex } from '@mikro-orm/knex';
import { publicBaseUrl } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import type { Dialect } from '../config/database-url.ts';
import { type CaOptions, loadOrCreateCa } from '../pki/ca.ts';
import { generateAgentKey } from '../pki/keys.ts';
import { loadOrCreateLogKey } from '../pki/log-key.ts';
import { parseRevocationReason } from '../pki/revocation-reason.ts';
import { TransparencyLog } from '../tlog/log.ts';
import { createNoteSigner } from '../tlog/note.ts';
import { openDatabase, type Database } from './orm.ts';
import type { SeedBatch, SeedPlan } from './seed-batch.ts';
import { SqlTlogStore, sequenceLogEntries } from './tlog-store.ts';
import { writeTransaction } from './write-transaction.ts';

export interface SeedOptions {
  readonly agents: number;
  readonly owners: number;
  readonly capabilities: readonly string[];
  /** The share of seeded agents that are revoked after registering, 0-100. */
  readonly revokedPercent: number;
  /** Add to a database that has agents already; without it, such a database is refused. */
  readonly append: boolean;
  /** Called after each committed batch with the number of agents seeded so far. */
  readonly onProgress?: (seeded: number) => void;
}

export interface SeedSummary {
  readonly seeded: number;
  readonly revoked: number;
  /** Agents the database held before. */
  readonly existing: number;
  /** The log's size in the checkpoint published at the end; 0 when the log is off. */
  readonly logSize: number;
  readonly seconds: number;
}

/** The database has agents and --append was not given. */
export class SeedRefused extends Error {
  override readonly name = 'SeedRefused';
}

/** Agents per transaction: large enough that per-statement costs vanish, small enough to keep progress moving. */
const BATCH = 5000;
/** Who the audit events and leaves name as the actor. */
const ACTOR = 'bench-seed';
const REVOCATION_REASON = parseRevocationReason('cessationOfOperation');

export async function seedAgents(config: Config, options: SeedOptions): Promise<SeedSummary> {
  const started = performance.now();
  const caOptions: CaOptions = {
    dir: config.pkiRootDir,
    passphrase: config.caKeyPassphrase,
    validityDays: config.caValidityDays,
    trustDomain: config.trustDomain,
    crlUrl: `${publicBaseUrl(config)}/v1/crl`,
  };
  // Created here if this is the registry's first start, so that the workers only load it.
  await loadOrCreateCa(caOptions);
  const database = await openDatabase(config.databaseUrl);
  try {
    // SQLite's default page cache (2 MB) is far smaller than the unique indexes on random serials and fingerprints
    // grow to, so inserts at random places in them would wait on reads; this connection lives only for the seed.
    if (database.dialect === 'sqlite') await database.orm.em.getKnex().raw('pragma cache_size = -262144');
    const existing = await countAgents(database);
    if (existing > 0 && !options.append) {
      throw new SeedRefused(`the database already has ${existing} agents; --append adds the seeded ones beside them`);
    }
    const log = config.transparencyLogEnabled ? await openLog(config, database) : undefined;
    const plan: SeedPlan = {
      first: await maxAgentId(database),
      owners: options.owners,
      capabilities: options.capabilities,
      revokedPercent: options.revokedPercent,
      revocationReason: REVOCATION_REASON,
      validityDays: config.certValiditySeconds > 0 ? config.certValiditySeconds / 86_400 : config.certValidityDays,
      actor: ACTOR,
      key: (await generateAgentKey()).key,
    };
    const workers = new SeedWorkers(Math.min(2, availableParallelism()), { caOptions, plan });
    let seeded = 0;
    let revoked = 0;
    try {
      const ranges = Array.from({ length: Math.ceil(options.agents / BATCH) }, (_, i) => ({ from: i * BATCH, count: Math.min(BATCH, options.agents - i * BATCH) }));
      // Workers build the next batches while this thread writes one.
      const ahead: Promise<SeedBatch>[] = [];
      const request = (i: number) => {
        const range = ranges[i];
        if (range === undefined) return;
        const batch = workers.build(range.from, range.count);
        // Awaited in turn below; one that fails after an earlier failure is not a second error.
        batch.catch(() => undefined);
        ahead.push(batch);
      };
      for (let i = 0; i < workers.size * 2; i++) request(i);
      for (let i = 0; i < ranges.length; i++) {
        const batch = await ahead[i]!;
        request(i + workers.size * 2);
        await writeBatch(database, batch, log !== undefined);
        await log?.integrate();
        seeded += batch.agents.length;
        revoked += batch.agents.filter((agent) => agent.revoked).length;
        options.onProgress?.(seeded);
      }
    } finally {
      await workers.close();
    }
    await skipUnwatchedEvents(database);
    const checkpoint = await log?.publishCheckpoint();
    await log?.stop();
    await analyze(database);
    return { seeded, revoked, existing, logSize: checkpoint?.size ?? 0, seconds: (performance.now() - started) / 1000 };
  } finally {
    await database.close();
  }
}

/** One batch in one transaction: agents, their certificates, audit events and log leaves. */
async function writeBatch(database: Database, batch: SeedBatch, logged: boolean): Promise<void> {
  const { dialect } = database;
  const at = timeOf(dialect, batch.at);
  await writeTransaction(database, async (_em, trx) => {
    // Ids are taken here, not from the sequences, so that a batch is a few statements; other writers wait.
    if (dialect === 'postgresql') await trx.raw('lock table agents, certificates in exclusive mode');
    const agentBase = await maxId(trx, 'agents');
    const certificateBase = await maxId(trx, 'certificates');
    const agentColumns = ['id', 'name', 'owner', 'capabilities', 'description', 'endpoints', 'status', 'revoked_at', 'revocation_reason', 'version', 'created_at', 'updated_at'];
    await insertRows(trx, dialect, 'agents', agentColumns, batch.agents.map((agent, i) => [
      agentBase + 1 + i,
      agent.name,
      agent.owner,
      JSON.stringify(agent.capabilities),
      '',
      '[]',
      agent.revoked ? 'revoked' : 'active',
      agent.revoked ? at : null,
      agent.revoked ? REVOCATION_REASON : null,
      // A revocation is a change: it moves the version on.
      agent.revoked ? 2 : 1,
      at,
      at,
    ]));
    const certificateColumns = ['id', 'agent_id', 'serial', 'fingerprint', 'pem', 'not_before', 'not_after', 'revoked_at', 'revocation_reason', 'created_at'];
    await insertRows(trx, dialect, 'certificates', certificateColumns, batch.agents.map((agent, i) => [
      certificateBase + 1 + i,
      agentBase + 1 + i,
      agent.serial,
      agent.fingerprint,
      agent.pem,
      timeOf(dialect, agent.notBefore),
      timeOf(dialect, agent.notAfter),
      agent.revoked ? at : null,
      agent.revoked ? REVOCATION_REASON : null,
      at,
    ]));
    // An agent and its certificate point at each other, so the agent gets its certificate's id once both exist.
    await trx.raw('update agents set current_certificate_id = id + ? where id > ? and id <= ?', [
      certificateBase - agentBase,
      agentBase,
      agentBase + batch.agents.length,
    ]);
    await insertRows(trx, dialect, 'audit_events', ['event_type', 'actor', 'agent_name', 'metadata', 'created_at'], batch.audit.map((event) => [
      event.eventType,
      ACTOR,
      event.agentName,
      event.metadata,
      at,
    ]));
    if (logged) await sequenceLogEntries(trx, dialect, batch.leaves, batch.at);
    if (dialect === 'postgresql') {
      await trx.raw("select setval('agents_id_seq', ?), setval('certificates_id_seq', ?)", [
        agentBase + batch.agents.length,
        certificateBase + batch.agents.length,
      ]);
    }
  });
}

/** Multi-row inserts, as many rows a statement as the dialect's parameter limit allows. */
async function insertRows(trx: Knex, dialect: Dialect, table: string, columns: readonly string[], rows: readonly unknown[][]): Promise<void> {
  // SQLite takes up to 32,766 parameters a statement, PostgreSQL 65,535.
  const perStatement = Math.floor((dialect === 'sqlite' ? 32_000 : 65_000) / columns.length);
  const row = `(${columns.map(() => '?').join(', ')})`;
  for (let i = 0; i < rows.length; i += perStatement) {
    const chunk = rows.slice(i, i + perStatement);
    await trx.raw(`insert into ${table} (${columns.join(', ')}) values ${chunk.map(() => row).join(', ')}`, chunk.flat() as Knex.RawBinding[]);
  }
}

/** Timestamps as MikroORM stores them: milliseconds on SQLite, timestamptz on PostgreSQL. */
const timeOf = (dialect: Dialect, date: Date): number | Date => (dialect === 'sqlite' ? date.getTime() : date);

async function maxId(trx: Knex, table: string): Promise<number> {
  const row = (await trx(table).max({ id: 'id' }).first()) as { id: number | string | null } | undefined;
  return Number(row?.id ?? 0);
}

async function countAgents(database: Database): Promise<number> {
  const row = (await database.orm.em.getKnex()('agents').count({ total: '*' }).first()) as { total: number | string } | undefined;
  return Number(row?.total ?? 0);
}

const maxAgentId = (database: Database) => maxId(database.orm.em.getKnex(), 'agents');

/** The log as the server opens it (src/server/app.ts), without its timers: the seed integrates after each batch. */
async function openLog(config: Config, database: Database): Promise<TransparencyLog> {
  const origin = config.transparencyLogOrigin ?? `${config.trustDomain}/log`;
  const key = await loadOrCreateLogKey(config.pkiRootDir, config.caKeyPassphrase);
  return new TransparencyLog({ store: new SqlTlogStore(database), origin, signer: createNoteSigner(origin, key), checkpointIntervalMs: config.checkpointInterval * 1000 });
}

/**
 * With no webhook to send them to, the webhook dispatcher's cursor moves past the seeded events, as it does past
 * each registration's within a moment; left behind, a started server would spend hours walking them to send nothing.
 */
async function skipUnwatchedEvents(database: Database): Promise<void> {
  await database.orm.em
    .getKnex()
    .raw('update webhook_dispatch set after_id = (select coalesce(max(id), 0) from audit_events) where not exists (select 1 from webhooks)');
}

/**
 * PostgreSQL's statistics after a bulk load, which autovacuum would gather a little later anyway. SQLite's are left
 * as a registry's file has them (none: nothing runs ANALYZE on it), so the seeded file is planned as a grown one is.
 */
async function analyze(database: Database): Promise<void> {
  if (database.dialect === 'postgresql') await database.orm.em.getKnex().raw('analyze');
}

/** Worker processes that build batches (src/db/seed-worker.ts), each asked in turn. */
class SeedWorkers {
  private readonly workers: ChildProcess[];
  private readonly waiting = new Map<ChildProcess, { resolve(batch: SeedBatch): void; reject(error: Error): void }[]>();
  private next = 0;

  constructor(count: number, setup: { caOptions: CaOptions; plan: SeedPlan }) {
    // The sources run through tsx (its loader comes with execArgv); the build runs the compiled file.
    const file = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './seed-worker.ts' : './seed-worker.js', import.meta.url));
    this.workers = Array.from({ length: count }, () => {
      // Advanced serialization carries Dates and byte arrays as they are.
      const worker = fork(file, [], { serialization: 'advanced', stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
      worker.send({ setup });
      this.waiting.set(worker, []);
      worker.on('message', (answer: { batch?: SeedBatch; error?: string }) => {
        const pending = this.waiting.get(worker)!.shift();
        if (answer.batch) pending?.resolve(answer.batch);
        else pending?.reject(new Error(`seed worker: ${answer.error}`));
      });
      worker.on('exit', (code, signal) => {
        const error = new Error(`seed worker exited (${code ?? signal})`);
        for (const pending of this.waiting.get(worker)!.splice(0)) pending.reject(error);
      });
      return worker;
    });
  }

  get size(): number {
    return this.workers.length;
  }

  /** A worker answers its requests in the order they were sent. */
  build(from: number, count: number): Promise<SeedBatch> {
    const worker = this.workers[this.next++ % this.workers.length]!;
    return new Promise((resolve, reject) => {
      this.waiting.get(worker)!.push({ resolve, reject });
      worker.send({ from, count, at: new Date() });
    });
  }

  async close(): Promise<void> {
    await Promise.all(
      this.workers.map(async (worker) => {
        if (worker.exitCode !== null || worker.signalCode !== null) return;
        const exited = once(worker, 'exit');
        worker.kill();
        await exited;
      }),
    );
  }
}
