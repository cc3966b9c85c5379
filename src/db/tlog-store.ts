import type { Knex } from '@mikro-orm/knex';
import type { NodeId } from '../tlog/proof.ts';
import type { Integration, LogEntry, LogState, NewLogEntry, StoredCheckpoint, TlogStore } from '../tlog/store.ts';
import type { Dialect } from '../config/database-url.ts';
import type { Database } from './orm.ts';
import { insertRows, type PendingRows } from './pending-rows.ts';
import { writeTransaction } from './write-transaction.ts';
import { date, type Row } from './row-reader.ts';

/** The transparency log on SQLite or PostgreSQL: the same SQL on both. */
export class SqlTlogStore implements TlogStore {
  private readonly knex: Knex;

  constructor(private readonly database: Database) {
    this.knex = database.orm.em.getKnex();
  }

  async state(): Promise<LogState> {
    return toState(await this.knex('tlog_state').where('id', 1).first());
  }

  integrate(maxBatch: number, integration: Integration): Promise<LogState> {
    return writeTransaction(this.database, async (_em, trx) => {
      const locked = trx('tlog_state').where('id', 1).first();
      // Sequencing transactions hold this row until they commit, so every index below next_index is committed
      // by the time the lock is granted. (SQLite: one writer at a time gives the same guarantee.)
      if (this.database.dialect === 'postgresql') locked.forUpdate();
      const state = toState(await locked);
      const count = Math.min(maxBatch, state.nextIndex - state.integratedSize);
      if (count <= 0) return state;
      const rows: Row[] = await trx('tlog_entries')
        .where('idx', '>=', state.integratedSize)
        .andWhere('idx', '<', state.integratedSize + count)
        .orderBy('idx')
        .select('idx', 'leaf_hash');
      if (rows.length !== count || Number(rows.at(-1)?.['idx']) !== state.integratedSize + count - 1) {
        throw new Error(`log entries ${state.integratedSize}..${state.integratedSize + count - 1} are not all present`);
      }
      const { nodes, root } = await integration(
        state.integratedSize,
        rows.map((row) => bytes(row['leaf_hash'])),
        (wanted) => readNodes(trx, wanted, this.database.dialect),
      );
      const nodeRows = nodes.map(({ node, hash }) => ({ level: node.level, idx: node.index, hash: Buffer.from(hash) }));
      await insertRows(trx, this.database.dialect, 'tlog_nodes', nodeRows);
      const next = { nextIndex: state.nextIndex, integratedSize: state.integratedSize + count, rootHash: root };
      await trx('tlog_state')
        .where('id', 1)
        .update({ integrated_size: next.integratedSize, root_hash: Buffer.from(root) });
      return next;
    });
  }

  readNodes(nodes: readonly NodeId[]): Promise<Uint8Array[]> {
    return readNodes(this.knex, nodes, this.database.dialect);
  }

  async nodeRange(level: number, from: number, count: number): Promise<Uint8Array[]> {
    const rows: Row[] = await this.knex('tlog_nodes')
      .where('level', level)
      .andWhere('idx', '>=', from)
      .andWhere('idx', '<', from + count)
      .orderBy('idx')
      .select('hash');
    return rows.map((row) => bytes(row['hash']));
  }

  async entries(from: number, count: number): Promise<LogEntry[]> {
    const rows: Row[] = await this.knex('tlog_entries')
      .where('idx', '>=', from)
      .andWhere('idx', '<', from + count)
      .orderBy('idx');
    return rows.map(toEntry);
  }

  async entryByLeafHash(leafHash: Uint8Array): Promise<LogEntry | undefined> {
    const row = await this.knex('tlog_entries').where('leaf_hash', Buffer.from(leafHash)).orderBy('idx').first();
    return row ? toEntry(row) : undefined;
  }

  async listEntries(
    filter: { agentName?: string | undefined; eventType?: string | undefined },
    afterIndex: number | undefined,
    limit: number,
  ): Promise<LogEntry[]> {
    const query = this.knex('tlog_entries').orderBy('idx').limit(limit);
    if (filter.agentName) query.where('agent_name', filter.agentName);
    if (filter.eventType) query.where('event_type', filter.eventType);
    if (afterIndex !== undefined) query.where('idx', '>', afterIndex);
    return ((await query) as Row[]).map(toEntry);
  }

  async latestCheckpoint(): Promise<StoredCheckpoint | undefined> {
    const row = await this.knex('tlog_checkpoints').orderBy('tree_size', 'desc').first();
    return row ? toCheckpoint(row) : undefined;
  }

  async saveCheckpoint(checkpoint: StoredCheckpoint): Promise<void> {
    await this.knex('tlog_checkpoints')
      .insert({
        tree_size: checkpoint.size,
        root_hash: Buffer.from(checkpoint.rootHash),
        note: checkpoint.note,
        created_at: checkpoint.createdAt,
      })
      .onConflict('tree_size')
      .ignore();
  }
}

/**
 * Sequences entries inside the caller's transaction, in order, and returns the first one's index: the change and
 * its leaves commit together or not at all. The sequencer row's update holds its lock until the transaction ends,
 * which keeps indexes gap-free across processes; a batch takes the lock once and inserts many rows a statement.
 */
export async function sequenceLogEntries(
  trx: Knex,
  dialect: Dialect,
  entries: readonly NewLogEntry[],
  at: Date,
): Promise<number> {
  const updated: Row[] = await trx('tlog_state').where('id', 1).increment('next_index', entries.length).returning('next_index');
  const first = Number(updated[0]?.['next_index']) - entries.length;
  await insertLogEntries(trx, dialect, entries, first, at);
  return first;
}

/**
 * Sequences the leaves of many changes sharing one transaction (src/db/write-batch.ts) with one read and one write of
 * the sequencer row. The row is locked from the start to the commit, so the indexes handed out follow every other
 * process's and stay gap-free; a change that rolls back to its savepoint gives its indexes back (restore).
 */
export class BatchSequencer {
  private constructor(
    private readonly trx: Knex,
    private readonly first: number,
    private next: number,
    private readonly rows: PendingRows,
  ) {}

  /** Locks the sequencer row until the transaction ends and reads the next index; leaves go into `rows`. */
  static async lock(trx: Knex, rows: PendingRows): Promise<BatchSequencer> {
    const updated: Row[] = await trx('tlog_state')
      .where('id', 1)
      .update({ next_index: trx.raw('next_index') })
      .returning('next_index');
    const next = Number(updated[0]?.['next_index']);
    if (!Number.isSafeInteger(next)) throw new Error('the log has no sequencer row: migrations have not run');
    return new BatchSequencer(trx, next, next, rows);
  }

  /** Gives the entries the next indexes, their rows written with the batch's; returns the first one's index. */
  append(entries: readonly NewLogEntry[], at: Date): number {
    const first = this.next;
    entries.forEach((entry, i) => this.rows.add('tlog_entries', logEntryRow(entry, first + i, at)));
    this.next += entries.length;
    return first;
  }

  /** Where the sequence stands before a change, for restore should the change roll back. */
  mark(): number {
    return this.next;
  }

  restore(mark: number): void {
    this.next = mark;
  }

  /** Writes the next index back; the last statement before the commit, after the batch's rows are written. */
  async finish(): Promise<void> {
    if (this.next !== this.first) await this.trx('tlog_state').where('id', 1).update({ next_index: this.next });
  }
}

function logEntryRow(entry: NewLogEntry, idx: number, at: Date): Row {
  return {
    idx,
    data: Buffer.from(entry.data),
    leaf_hash: Buffer.from(entry.leafHash),
    agent_name: entry.agentName,
    event_type: entry.eventType,
    created_at: at,
  };
}

function insertLogEntries(trx: Knex, dialect: Dialect, entries: readonly NewLogEntry[], first: number, at: Date): Promise<void> {
  return insertRows(trx, dialect, 'tlog_entries', entries.map((entry, i) => logEntryRow(entry, first + i, at)));
}

async function readNodes(knex: Knex, nodes: readonly NodeId[], dialect: Dialect): Promise<Uint8Array[]> {
  if (nodes.length === 0) return [];
  // PostgreSQL gets the node list as two array parameters (one plan for every proof); SQLite as row values.
  const rows: Row[] =
    dialect === 'postgresql'
      ? (
          await knex.raw(
            'select n.level, n.idx, n.hash from tlog_nodes n join unnest(?::smallint[], ?::bigint[]) as w(level, idx) on n.level = w.level and n.idx = w.idx',
            [nodes.map((node) => node.level), nodes.map((node) => node.index)],
          )
        ).rows
      : await knex('tlog_nodes')
          .whereIn(
            ['level', 'idx'],
            nodes.map((node) => [node.level, node.index]),
          )
          .select('level', 'idx', 'hash');
  const found = new Map(rows.map((row) => [`${Number(row['level'])}/${Number(row['idx'])}`, bytes(row['hash'])]));
  return nodes.map((node) => {
    const hash = found.get(`${node.level}/${node.index}`);
    if (!hash) throw new Error(`log node ${node.level}/${node.index} is not stored`);
    return hash;
  });
}

const bytes = (value: unknown): Uint8Array => new Uint8Array(value as Buffer);

function toState(row: Row | undefined): LogState {
  if (!row) throw new Error('the log has no sequencer row: migrations have not run');
  return {
    nextIndex: Number(row['next_index']),
    integratedSize: Number(row['integrated_size']),
    rootHash: bytes(row['root_hash']),
  };
}

function toEntry(row: Row): LogEntry {
  return {
    index: Number(row['idx']),
    data: bytes(row['data']),
    leafHash: bytes(row['leaf_hash']),
    agentName: String(row['agent_name']),
    eventType: String(row['event_type']),
    createdAt: date(row['created_at']),
  };
}

function toCheckpoint(row: Row): StoredCheckpoint {
  return {
    size: Number(row['tree_size']),
    rootHash: bytes(row['root_hash']),
    note: String(row['note']),
    createdAt: date(row['created_at']),
  };
}
