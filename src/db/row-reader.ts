import type { Knex } from '@mikro-orm/knex';
import BetterSqlite3 from 'better-sqlite3';

export type Row = Record<string, unknown>;

// Column values as both dialects return them: SQLite gives numbers (milliseconds) and JSON text, PostgreSQL Dates
// and parsed JSON.
export const date = (value: unknown): Date => new Date(value as number | string | Date);
export const optionalDate = (value: unknown): Date | null => (value == null ? null : date(value));
export const json = <T>(value: unknown): T => (typeof value === 'string' ? (JSON.parse(value) as T) : (value as T));
export const text = (value: unknown): string | null => (value == null ? null : String(value));

/** Runs the registry's hot read queries (resolve, verify). SQL uses `?` placeholders on every dialect. */
export interface RowReader {
  get(sql: string, params: readonly unknown[]): Promise<Row | undefined>;
  close(): Promise<void>;
}

/** Reads through the ORM's connection pool: right for PostgreSQL, whose pool runs queries in parallel. */
export function poolReader(knex: Knex): RowReader {
  return {
    async get(sql, params) {
      const result: unknown = await knex.raw(sql, params as Knex.RawBinding[]);
      const rows = Array.isArray(result) ? result : (result as { rows: Row[] }).rows;
      return rows[0] as Row | undefined;
    },
    close: async () => {},
  };
}

/**
 * Reads a SQLite file through its own read-only connection with prepared statements, run synchronously: an
 * indexed lookup takes microseconds, less than handing a query to the ORM's pool (one connection, shared with
 * writes) would. WAL mode lets this connection read while the pool's connection writes.
 */
export function sqliteReader(path: string): RowReader {
  const database = new BetterSqlite3(path, { readonly: true, fileMustExist: true });
  database.pragma('busy_timeout = 5000');
  const statements = new Map<string, BetterSqlite3.Statement>();
  const statement = (sql: string) => {
    let prepared = statements.get(sql);
    if (!prepared) {
      prepared = database.prepare(sql);
      statements.set(sql, prepared);
    }
    return prepared;
  };
  return {
    get: async (sql, params) => statement(sql).get(...params) as Row | undefined,
    close: async () => {
      database.close();
    },
  };
}
