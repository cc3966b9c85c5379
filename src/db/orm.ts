import type { MikroORM, Options } from '@mikro-orm/core';
import type { AbstractSqlDriver, SqlEntityManager } from '@mikro-orm/knex';
import { Migrator } from '@mikro-orm/migrations';
import { type DatabaseLocation, type Dialect, parseDatabaseUrl } from '../config/database-url.ts';
import { entities } from './entities.ts';
import { postgresqlMigrations } from './migrations/postgresql.ts';
import { sqliteMigrations } from './migrations/sqlite.ts';
import { SqliteScans } from './sqlite-scans.ts';
import { prepareSqliteFile } from './sqlite-file.ts';
import { cachePreparedStatements } from './statement-cache.ts';

export interface Database {
  readonly orm: MikroORM<AbstractSqlDriver, SqlEntityManager>;
  readonly dialect: Dialect;
  readonly location: DatabaseLocation;
  /** Reads that may walk many rows, run off the event loop: on a SQLite file only, where the pool's queries block it. */
  readonly scans: SqliteScans | undefined;
  close(): Promise<void>;
}

// Serialises schema migrations of processes that start together on one PostgreSQL database.
const MIGRATION_LOCK_KEY = 7_289_000_001;

/** Opens the database named by DATABASE_URL and brings its schema up to date. */
export async function openDatabase(url: string): Promise<Database> {
  const location = parseDatabaseUrl(url);
  const common = {
    entities,
    extensions: [Migrator],
    discovery: { warnWhenNoEntities: false },
    migrations: {
      tableName: 'schema_migrations',
      silent: true,
      transactional: true,
      allOrNothing: true,
      migrationsList: location.dialect === 'sqlite' ? sqliteMigrations : postgresqlMigrations,
    },
    debug: false,
  } satisfies Options;
  let orm: Database['orm'];
  if (location.dialect === 'sqlite') {
    if (location.target !== ':memory:') prepareSqliteFile(location.target);
    const { MikroORM } = await import('@mikro-orm/better-sqlite');
    orm = await MikroORM.init<AbstractSqlDriver, SqlEntityManager>({
      ...common,
      dbName: location.target,
      pool: {
        // One connection (SQLite has one writer); WAL lets readers of other processes proceed during writes.
        afterCreate: (connection: SqliteConnection, done: (error: Error | null) => void) => {
          try {
            connection.exec(
              'pragma journal_mode = wal; pragma synchronous = normal; pragma busy_timeout = 5000; pragma foreign_keys = on;',
            );
            cachePreparedStatements(connection);
            done(null);
          } catch (error) {
            done(error as Error);
          }
        },
      },
    });
    await orm.getMigrator().up();
  } else {
    const { MikroORM } = await import('@mikro-orm/postgresql');
    orm = await MikroORM.init<AbstractSqlDriver, SqlEntityManager>({ ...common, clientUrl: location.target, pool: { min: 0, max: 10 } });
    await orm.em
      .getConnection()
      .getKnex()
      .transaction(async (trx) => {
        await trx.raw('select pg_advisory_xact_lock(?)', [MIGRATION_LOCK_KEY]);
        await orm.getMigrator().up();
      });
  }
  const scans = location.dialect === 'sqlite' && location.target !== ':memory:' ? new SqliteScans(location.target) : undefined;
  return {
    orm,
    dialect: location.dialect,
    location,
    scans,
    // Both at once: closing the pool refuses new queries from its first step, not once the worker has stopped.
    close: async () => {
      await Promise.all([closeDatabase(orm), scans?.close()]);
    },
  };
}

/**
 * Closes the connection pool. The pool waits for the queries in flight to finish, and a connection asked for in
 * that time would wait the whole acquire timeout (60 s) on a pool that will never give one; so from the start of
 * closing every new request for a connection fails at once.
 */
async function closeDatabase(orm: Database['orm']): Promise<void> {
  const client = orm.em.getConnection().getKnex().client as { acquireConnection(): Promise<unknown> };
  client.acquireConnection = () => Promise.reject(new Error('the database connection is closed'));
  await orm.close(true);
}

interface SqliteConnection {
  exec(sql: string): void;
  prepare(sql: string): unknown;
}
