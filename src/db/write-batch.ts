import type { Knex, SqlEntityManager } from '@mikro-orm/knex';
import { GroupCommit } from './group-commit.ts';
import type { Database } from './orm.ts';
import { BatchSequencer } from './tlog-store.ts';
import { writeTransaction } from './write-transaction.ts';

/** One change's work, run in the batch's transaction inside a savepoint of its own. */
export type BatchedWork<T> = (em: SqlEntityManager, trx: Knex, sequencer: BatchSequencer) => Promise<T>;

interface Item {
  readonly work: BatchedWork<unknown>;
  outcome?: { readonly value: unknown } | { readonly error: unknown };
}

const SAVEPOINT = 'batched_change';

/**
 * Registry changes made at the same time in one process commit in one write transaction (group commit): each runs in
 * a savepoint of its own, so a change that fails (a name taken, a version moved) rolls back alone and fails only its
 * caller, while the others commit together. Their log leaves are sequenced by one read and one write of the
 * sequencer row (BatchSequencer), locked before the first change, so indexes stay gap-free across processes.
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
    this.batches = new GroupCommit(
      (items) =>
        writeTransaction(database, async (em, trx) => {
          const sequencer = await BatchSequencer.lock(trx, database.dialect);
          for (const item of items) await runInSavepoint(item, em, trx, sequencer);
          await sequencer.finish();
        }),
      maxBatch,
    );
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

async function runInSavepoint(item: Item, em: SqlEntityManager, trx: Knex, sequencer: BatchSequencer): Promise<void> {
  const mark = sequencer.mark();
  await trx.raw(`savepoint ${SAVEPOINT}`);
  try {
    const value = await item.work(em, trx, sequencer);
    await trx.raw(`release savepoint ${SAVEPOINT}`);
    item.outcome = { value };
  } catch (error) {
    // Should the rollback itself fail, the whole batch fails and every caller in it gets that error.
    await trx.raw(`rollback to savepoint ${SAVEPOINT}`);
    await trx.raw(`release savepoint ${SAVEPOINT}`);
    sequencer.restore(mark);
    item.outcome = { error };
  }
}
