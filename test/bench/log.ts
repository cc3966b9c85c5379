// The transparency log's rows of `npm run bench`, measured in process against SqlTlogStore + TransparencyLog on a
// fresh database per dialect (a SQLite file in a temporary directory; PostgreSQL when DATABASE_URL or
// ATR_TEST_POSTGRES_URL names a server), so every figure is the log's own work, storage and hashing, no transport.
//   append: entries sequenced with sequenceLogEntries in batches of SEQUENCE_BATCH a transaction, then integrated;
//           and one entry a transaction, as each registry change sequences its own leaf.
//   proofs: the log filled to PROOF_TREE_SIZE in big transactions, integrated and checkpointed; then random inclusion
//           and consistency proofs through TransparencyLog (the stored-node read plus the proof), a sample verified.
// Beside them: one `select 1` (the storage round trip every read pays), and a naive log that keeps only its leaves
// and rebuilds the tree for every proof, capped at NAIVE_TREE_SIZE leaves because its cost grows with the log.
import { generateKeyPairSync, randomBytes, randomInt } from 'node:crypto';
import type { Knex } from '@mikro-orm/knex';
import type { Dialect } from '../../src/config/database-url.ts';
import { openDatabase } from '../../src/db/orm.ts';
import { sequenceLogEntries, SqlTlogStore } from '../../src/db/tlog-store.ts';
import { newLogEntry } from '../../src/tlog/entry.ts';
import { hashesEqual, leafHash, nodeHash } from '../../src/tlog/hash.ts';
import { decodeLeaf } from '../../src/tlog/leaf.ts';
import { TransparencyLog } from '../../src/tlog/log.ts';
import { createNoteSigner } from '../../src/tlog/note.ts';
import { rootAt } from '../../src/tlog/proof.ts';
import type { NewLogEntry } from '../../src/tlog/store.ts';
import { splitPoint } from '../../src/tlog/tree-math.ts';
import { verifyConsistency, verifyInclusion } from '../../src/tlog/verify.ts';
import { benchDialects, createBenchDatabase } from './databases.ts';

const APPEND_ENTRIES = 20_000;
const SEQUENCE_BATCH = 1000;
const SINGLE_ENTRIES = 2000;
const PROOF_TREE_SIZE = 1_000_000;
const FILL_TRANSACTION = 50_000;
const CALLS = 2000;
const WARM_UP_CALLS = 200;
const VERIFIED_PROOFS = 200;
const NAIVE_TREE_SIZE = 10_000;
const NAIVE_PROOFS = 20;
const ISSUE_NAIVE_SIZE = 100_000;

export interface LogRow {
  readonly database: Dialect;
  readonly scenario: string;
  /** How many entries the row appended, or the size of the log it read from. */
  readonly entries: number;
  readonly perSecond?: number;
  readonly p50Ms?: number;
  readonly p99Ms?: number;
  readonly note: string;
}

type Figures = Pick<LogRow, 'perSecond' | 'p50Ms' | 'p99Ms'>;
type Measured = Omit<LogRow, 'database'>;

/** Every row: SQLite, then PostgreSQL when a server is named. */
export async function measureLog(): Promise<LogRow[]> {
  const rows: LogRow[] = [];
  for (const dialect of benchDialects()) {
    const target = await createBenchDatabase(dialect);
    try {
      rows.push(...(await measureOn(target.url)).map((row) => ({ database: dialect, ...row })));
    } finally {
      await target.drop();
    }
  }
  return rows;
}

/** The table `npm run bench` prints: a header, then a line a row. */
export function logTable(rows: readonly LogRow[]): string[][] {
  const figure = (n: number | undefined, digits: number) => (n === undefined ? '-' : n.toFixed(digits));
  return [
    ['database', 'log scenario', 'entries', 'per s', 'p50 ms', 'p99 ms', 'how'],
    ...rows.map((r) => [r.database, r.scenario, String(r.entries), figure(r.perSecond, 0), figure(r.p50Ms, 3), figure(r.p99Ms, 3), r.note]),
  ];
}

async function measureOn(url: string): Promise<Measured[]> {
  const database = await openDatabase(url);
  try {
    const store = new SqlTlogStore(database);
    const origin = 'bench.example/log';
    const signer = createNoteSigner(origin, generateKeyPairSync('ed25519').privateKey);
    const log = new TransparencyLog({ store, origin, signer, checkpointIntervalMs: 60_000 });
    const knex = database.orm.em.getKnex();
    const { dialect } = database;
    return [
      ...(await measureAppend(knex, dialect, log)),
      ...(await measureFill(knex, dialect, log)),
      ...(await measureProofs(knex, store, log)),
    ];
  } finally {
    await database.close();
  }
}

/** APPEND_ENTRIES entries sequenced in batches, then integrated; and single-entry transactions beside them. */
async function measureAppend(knex: Knex, dialect: Dialect, log: TransparencyLog): Promise<Measured[]> {
  const entries = Array.from({ length: APPEND_ENTRIES }, (_, i) => benchEntry(`agent-${i}.bench.example`));
  const started = performance.now();
  for (let from = 0; from < entries.length; from += SEQUENCE_BATCH) {
    await knex.transaction((trx) => sequenceLogEntries(trx, dialect, entries.slice(from, from + SEQUENCE_BATCH), new Date()));
  }
  const sequenced = performance.now();
  await log.integrate();
  const integrated = performance.now();
  const single = entries.slice(0, SINGLE_ENTRIES);
  const singleStarted = performance.now();
  for (const entry of single) await knex.transaction((trx) => sequenceLogEntries(trx, dialect, [entry], new Date()));
  const singleDone = performance.now();
  await log.integrate();
  return [
    { scenario: 'sequence', entries: APPEND_ENTRIES, perSecond: rate(APPEND_ENTRIES, started, sequenced), note: `sequenceLogEntries, ${SEQUENCE_BATCH} a transaction` },
    { scenario: 'integrate', entries: APPEND_ENTRIES, perSecond: rate(APPEND_ENTRIES, sequenced, integrated), note: 'TransparencyLog.integrate' },
    { scenario: 'append end to end', entries: APPEND_ENTRIES, perSecond: rate(APPEND_ENTRIES, started, integrated), note: 'batched sequence, then integrate' },
    { scenario: 'sequence, 1 a transaction', entries: SINGLE_ENTRIES, perSecond: rate(SINGLE_ENTRIES, singleStarted, singleDone), note: 'one transaction per entry, one writer (a registry change)' },
  ];
}

/** Fills the log to PROOF_TREE_SIZE entries, integrates them and publishes a checkpoint. */
async function measureFill(knex: Knex, dialect: Dialect, log: TransparencyLog): Promise<Measured[]> {
  const { integratedSize } = await log.integrate();
  const count = PROOF_TREE_SIZE - integratedSize;
  const started = performance.now();
  await fill(knex, dialect, integratedSize, count);
  const filled = performance.now();
  await log.integrate();
  const integrated = performance.now();
  const checkpoint = await log.publishCheckpoint();
  if (checkpoint.size !== PROOF_TREE_SIZE) throw new Error(`checkpoint of ${checkpoint.size} entries, expected ${PROOF_TREE_SIZE}`);
  return [
    {
      scenario: 'bulk fill',
      entries: count,
      perSecond: rate(count, started, filled),
      note: `sequenceLogEntries, ${FILL_TRANSACTION} a transaction`,
    },
    { scenario: 'integrate (bulk)', entries: count, perSecond: rate(count, filled, integrated), note: 'TransparencyLog.integrate' },
  ];
}

/** Random proofs against the latest checkpoint, a sample of each verified; the round trip and the naive log beside. */
async function measureProofs(knex: Knex, store: SqlTlogStore, log: TransparencyLog): Promise<Measured[]> {
  const checkpoint = await log.publishCheckpoint();
  const size = checkpoint.size;
  const inclusion = await timeCalls(async () => {
    const index = randomInt(size);
    return { index, proof: (await log.inclusionProof(index)).hashes };
  });
  for (const { index, proof } of inclusion.results.slice(0, VERIFIED_PROOFS)) {
    const [entry] = await store.entries(index, 1);
    if (!entry || !verifyInclusion(leafHash(entry.data), index, size, proof, checkpoint.rootHash)) {
      throw new Error(`inclusion proof of ${index} in ${size} does not verify`);
    }
  }
  const consistency = await timeCalls(async () => {
    const second = randomInt(2, size + 1);
    const first = randomInt(1, second);
    return { first, second, proof: await log.consistencyProof(first, second) };
  });
  const read = store.readNodes.bind(store);
  for (const { first, second, proof } of consistency.results.slice(0, VERIFIED_PROOFS)) {
    if (!verifyConsistency(first, second, await rootAt(first, read), await rootAt(second, read), proof)) {
      throw new Error(`consistency proof ${first} -> ${second} does not verify`);
    }
  }
  const roundTrip = await timeCalls(() => knex.raw('select 1'));
  const random = `${CALLS} random, one at a time`;
  return [
    { scenario: 'inclusion proof', entries: size, ...inclusion.figures, note: `${random}: TransparencyLog.inclusionProof` },
    { scenario: 'consistency proof', entries: size, ...consistency.figures, note: `${random}: TransparencyLog.consistencyProof` },
    { scenario: 'round trip', entries: size, ...roundTrip.figures, note: "select 1 on the log's pool: the floor under each storage read" },
    {
      scenario: 'inclusion proof, naive',
      entries: NAIVE_TREE_SIZE,
      ...(await timeNaiveProofs(store, log)),
      note: `reads every leaf, rebuilds the tree; capped at ${NAIVE_TREE_SIZE} leaves, grows linearly with the log`,
    },
    { scenario: 'naive log, from the issue', entries: ISSUE_NAIVE_SIZE, note: 'not run: ~1.5 s an append and ~5.6 s a proof' },
  ];
}

/** A realistic leaf: a registration with a certificate fingerprint and serial. */
function benchEntry(agentName: string): NewLogEntry {
  return newLogEntry({
    event_type: 'agent.registered',
    agent_name: agentName,
    cert_fingerprint: randomBytes(32).toString('hex'),
    cert_serial: randomBytes(16).toString('hex'),
    status: 'active',
    reason: '',
    timestamp: new Date().toISOString(),
    actor: 'bench',
  });
}

/** Sequences `count` entries after the first `from`, FILL_TRANSACTION a transaction: the quick way to a large log. */
async function fill(knex: Knex, dialect: Dialect, from: number, count: number): Promise<void> {
  const leaf = fillLeaves();
  for (let done = 0; done < count; done += FILL_TRANSACTION) {
    const size = Math.min(FILL_TRANSACTION, count - done);
    decodeLeaf(leaf(from + done).data); // throws unless the rewritten bytes are still a canonical leaf
    const entries = Array.from({ length: size }, (_, i) => {
      const { data, hash, agentName, eventType } = leaf(from + done + i);
      return { data, leafHash: hash, agentName, eventType };
    });
    const first = await knex.transaction((trx) => sequenceLogEntries(trx, dialect, entries, new Date()));
    if (first !== from + done) throw new Error(`the log has ${first} entries, expected ${from + done}`);
  }
}

/**
 * Leaves for the fill: one encoded registration whose fixed-width agent number is rewritten for each index. The
 * bytes keep their length and canonical form, at a fraction of the cost of encoding every event.
 */
function fillLeaves(): (index: number) => { data: Buffer; hash: Buffer; agentName: string; eventType: string } {
  const digits = 9;
  const name = (index: number) => `agent-${String(index).padStart(digits, '0')}.bench.example`;
  const template = benchEntry(name(0));
  const at = Buffer.from(template.data).indexOf(name(0)) + 'agent-'.length;
  return (index) => {
    const data = Buffer.from(template.data);
    data.write(String(index).padStart(digits, '0'), at, 'latin1');
    return { data, hash: Buffer.from(leafHash(data)), agentName: name(index), eventType: template.eventType };
  };
}

/** Times CALLS calls one at a time after a warm-up, keeping what they returned. */
async function timeCalls<T>(call: () => Promise<T>): Promise<{ figures: Figures; results: T[] }> {
  for (let i = 0; i < WARM_UP_CALLS; i++) await call();
  const results: T[] = [];
  const latencies: number[] = [];
  const started = performance.now();
  for (let i = 0; i < CALLS; i++) {
    const t = performance.now();
    results.push(await call());
    latencies.push(performance.now() - t);
  }
  return { figures: latencyFigures(latencies, performance.now() - started), results };
}

/**
 * What a log without stored nodes does for an inclusion proof at NAIVE_TREE_SIZE: reads every entry up to the tree
 * size and rebuilds RFC 9162's PATH from the leaves. Each proof must equal the stored-node log's.
 */
async function timeNaiveProofs(store: SqlTlogStore, log: TransparencyLog): Promise<Figures> {
  const latencies: number[] = [];
  const started = performance.now();
  for (let i = 0; i < NAIVE_PROOFS; i++) {
    const index = randomInt(NAIVE_TREE_SIZE);
    const t = performance.now();
    const leaves = (await store.entries(0, NAIVE_TREE_SIZE)).map((entry) => entry.leafHash);
    const proof = naivePath(index, leaves, 0, leaves.length);
    latencies.push(performance.now() - t);
    const stored = (await log.inclusionProof(index, NAIVE_TREE_SIZE)).hashes;
    if (proof.length !== stored.length || !proof.every((hash, j) => hashesEqual(hash, stored[j]!))) {
      throw new Error(`the naive and stored-node proofs of ${index} in ${NAIVE_TREE_SIZE} differ`);
    }
  }
  return latencyFigures(latencies, performance.now() - started);
}

/** PATH(m, D[start:end]) of RFC 9162 §2.1.3.1, straight from the definition. */
function naivePath(m: number, leaves: readonly Uint8Array[], start: number, end: number): Uint8Array[] {
  if (end - start <= 1) return [];
  const k = splitPoint(end - start);
  return m < k
    ? [...naivePath(m, leaves, start, start + k), naiveRoot(leaves, start + k, end)]
    : [...naivePath(m - k, leaves, start + k, end), naiveRoot(leaves, start, start + k)];
}

/** MTH(D[start:end]), recomputed from the leaves. */
function naiveRoot(leaves: readonly Uint8Array[], start: number, end: number): Uint8Array {
  if (end - start === 1) return leaves[start]!;
  const k = splitPoint(end - start);
  return nodeHash(naiveRoot(leaves, start, start + k), naiveRoot(leaves, start + k, end));
}

function latencyFigures(latencies: readonly number[], elapsedMs: number): Figures {
  const sorted = [...latencies].sort((a, b) => a - b);
  const quantile = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { perSecond: rate(sorted.length, 0, elapsedMs), p50Ms: quantile(0.5), p99Ms: quantile(0.99) };
}

const rate = (count: number, fromMs: number, toMs: number) => (count / (toMs - fromMs)) * 1000;

