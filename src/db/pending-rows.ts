import type { Knex } from '@mikro-orm/knex';
import type { Dialect } from '../config/database-url.ts';
import type { Row } from './row-reader.ts';

// Rows per INSERT statement: the query builder writes SQLite's multi-row inserts as a compound SELECT, limited to
// 500 terms; PostgreSQL's bound is 65,535 parameters.
export const INSERT_CHUNK = { sqlite: 400, postgresql: 5000 } as const;

/** Inserts `rows` into `table` in as few statements as the database allows. */
export async function insertRows(trx: Knex, dialect: Dialect, table: string, rows: readonly Row[]): Promise<void> {
  const chunk = INSERT_CHUNK[dialect];
  for (let i = 0; i < rows.length; i += chunk) await trx(table).insert(rows.slice(i, i + chunk));
}

/**
 * Rows a write batch inserts once its changes have run: the audit events and log leaves of many changes go in one
 * multi-row statement per table instead of one statement each. Nothing in a batch reads them back before the
 * commit. A change that rolls back drops the rows it added (restore).
 */
export class PendingRows {
  private rows: { readonly table: string; readonly row: Row }[] = [];

  add(table: string, row: Row): void {
    this.rows.push({ table, row });
  }

  mark(): number {
    return this.rows.length;
  }

  restore(mark: number): void {
    this.rows.length = mark;
  }

  /** Inserts every pending row, each table's rows in the order they were added. */
  async flush(trx: Knex, dialect: Dialect): Promise<void> {
    const tables = new Map<string, Row[]>();
    for (const { table, row } of this.rows) {
      const rows = tables.get(table) ?? [];
      rows.push(row);
      tables.set(table, rows);
    }
    this.rows = [];
    for (const [table, rows] of tables) await insertRows(trx, dialect, table, rows);
  }
}
