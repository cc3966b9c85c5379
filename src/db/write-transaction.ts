import type { Knex, SqlEntityManager } from '@mikro-orm/knex';
import type { Database } from './orm.ts';

/**
 * Every change the stores make (agents, audit events, log entries, API keys, log integration) runs here: one
 * transaction that holds the database's write lock from its first statement.
 *
 * The transaction is the query builder's own, with an entity manager bound to it for the stores' native inserts and
 * updates. The entity manager's `transactional` would do the same through an AsyncLocalStorage, and on Node 20 the
 * first use of one installs promise hooks that then run on every promise the process makes, request or not.
 */
export function writeTransaction<T>(database: Database, work: (em: SqlEntityManager, trx: Knex) => Promise<T>): Promise<T> {
  return database.orm.em.getKnex().transaction(async (trx) => {
    const em = database.orm.em.fork();
    em.setTransactionContext(trx);
    // On SQLite a transaction that reads first and writes later fails at once with SQLITE_BUSY_SNAPSHOT when another
    // process wrote in between (its busy timeout does not apply); one that starts with a write waits for the lock
    // and then reads the latest data. PostgreSQL locks rows instead.
    if (database.dialect === 'sqlite') await trx.raw('update tlog_state set id = id where id = 1');
    return work(em, trx);
  });
}
