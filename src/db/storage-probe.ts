import { randomBytes } from 'node:crypto';
import type { Database } from './orm.ts';
import { writeTransaction } from './write-transaction.ts';

// Larger than a page (SQLite's is 4 KiB by default, PostgreSQL's 8 KiB) and random, so that PostgreSQL cannot
// compress it into a page it already has: writing it needs storage the database may no longer be able to get.
const PROBE_BYTES = 16 * 1024;

/**
 * A write that needs new storage, deleted again in the same transaction: throws as a registration would when the
 * database or its disk is full (see src/server/health.ts, StorageWatch), and leaves no row behind when it is not.
 */
export async function probeWrite(database: Database): Promise<void> {
  await writeTransaction(database, async (_em, trx) => {
    await trx('storage_probe').insert({ id: 1, data: randomBytes(PROBE_BYTES) });
    await trx('storage_probe').where('id', 1).delete();
  });
}
