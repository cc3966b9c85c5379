import type { Knex, SqlEntityManager } from '@mikro-orm/knex';
import { GroupCommit } from './group-commit.ts';
import type { Database } from './orm.ts';
import { PendingRows } from './pending-rows.ts';
import { BatchSequencer } from './tlog-store.ts';
import { writeTransaction } from './write-transaction.ts';

/** What the changes of one batch share: the log's sequencer, and the rows written once they have all run. */
export interface Batch {
  readonly sequencer: BatchSequencer;
  readonly rows: PendingRows;
}

/** One change's work, run in the batch's transaction (in a savepoint of its own when a change of the batch failed). */
export type BatchedWork<T> = (em: SqlEntityManager, trx: Knex, batch: Batch) => Promise<T>;

interface Item {
  readonly work: BatchedWork<unknown>;
  outcome?: { readonly value: unknown } | { readonly error: unknown };
}

const SAVEPOINT = 'batched_change';

/**
 * Registry changes made at the same time in one process commit in one write transaction (group commit). A change
 * that fails (a name taken, a version moved) fails only its caller: the batch runs again with each change in a
 * savepoint of its own (writeBatch), and the others commit together. Their log leaves are sequenced by one read and
 * one write of the sequencer row (BatchSequencer), locked before the first change, so indexes stay gap-free across
 * processes.
 *
 * Chosen over staging leaves for a separate sequencer (Tessera's way) because a change's answer and its operation
 * record carry the leaf's index: sequenced in the change's own transaction, the index is final when the change
 * commits, every change has its leaf exactly once, and a crash loses either the whole batch or nothing. Taking the
 * sequencer row first also fixes one lock order (sequencer, then agents and operations) for every batch, so batches
 * of different processes queue on PostgreSQL instead of deadlocking on agents locked in different orders.
 */
export class WriteBatches {
  private readonly batches: GroupCommit<Item>;

  constructor(database: Database, maxBatch = 200) {
    this.batches = new GroupCommit((items) => writeBatch(database, items), maxBatch);
  }

  /** Runs `work` in the next batch; resolves once its batch has committed, or rejects with its own error alone. */
  async run<T>(work: BatchedWork<T>): Promise<T> {
    const item: Item = { work };
    // Rejects when the batch's transaction failed as a whole (nothing in it committed).
    await this.batches.add(item);
    if (item.outcome !== undefined && 'value' in item.outcome) return item.outcome.value as T;
    throw item.outcome?.error;
  }
}

/**
 * Changes rarely fail, so a batch first runs them one after another in one transaction with no savepoints (two
 * statements fewer per change, each a round trip on PostgreSQL). Should any change fail, that transaction rolls back
 * whole and the batch runs again with a savepoint per change, so the failure is that change's alone. A change's
 * work only writes through the transaction it is given, so running it again after a rollback is running it once.
 */
async function writeBatch(database: Database, items: readonly Item[]): Promise<void> {
  let failed: Item | undefined;
  try {
    await batchTransaction(database, async (em, trx, batch) => {
      for (const item of items) {
        failed = item;
        item.outcome = { value: await item.work(em, trx, batch) };
      }
      failed = undefined;
    });
    return;
  } catch (error) {
    for (const item of items) delete item.outcome;
    // A failure outside the changes (the lock, the commit, a lost connection) is every caller's, as it is when the
    // savepoints are there: nothing is run again whose commit may have happened.
    if (failed === undefined) throw error;
    if (items.length === 1) {
      failed.outcome = { error };
      return;
    }
  }
  await batchTransaction(database, async (em, trx, batch) => {
    for (const item of items) await runInSavepoint(item, em, trx, batch);
  });
}

/** One write transaction for a batch: the sequencer locked first, the pending rows and the next index written last. */
function batchTransaction(database: Database, run: (em: SqlEntityManager, trx: Knex, batch: Batch) => Promise<void>): Promise<void> {
  return writeTransaction(database, async (em, trx) => {
    const rows = new PendingRows();
    const sequencer = await BatchSequencer.lock(trx, rows);
    await run(em, trx, { sequencer, rows });
    await rows.flush(trx, database.dialect);
    await sequencer.finish();
  });
}

async function runInSavepoint(item: Item, em: SqlEntityManager, trx: Knex, batch: Batch): Promise<void> {
  const mark = { next: batch.sequencer.mark(), rows: batch.rows.mark() };
  await trx.raw(`savepoint ${SAVEPOINT}`);
  try {
    const value = await item.work(em, trx, batch);
    await trx.raw(`release savepoint ${SAVEPOINT}`);
    item.outcome = { value };
  } catch (error) {
    // Should the rollback itself fail, the whole batch fails and every caller in it gets that error.
    await trx.raw(`rollback to savepoint ${SAVEPOINT}`);
    await trx.raw(`release savepoint ${SAVEPOINT}`);
    batch.sequencer.restore(mark.next);
    batch.rows.restore(mark.rows);
    item.outcome = { error };
  }
}
