import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Knex } from '@mikro-orm/knex';
import type { Row } from './row-reader.ts';

// The worker's whole program: one read-only connection to the file, and each query's rows back. Plain JavaScript, so
// it runs the same from the sources and from the compiled package.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const database = new Database(workerData.path, { readonly: true, fileMustExist: true });
database.pragma('busy_timeout = 5000');
const statements = new Map();
parentPort.on('message', ({ id, sql, params }) => {
  try {
    let statement = statements.get(sql);
    if (statement === undefined) {
      statement = database.prepare(sql);
      statements.set(sql, statement);
    }
    parentPort.postMessage({ id, rows: statement.all(...params) });
  } catch (error) {
    parentPort.postMessage({ id, error: error instanceof Error ? error.message : String(error) });
  }
});
`;

interface Waiting {
  resolve(rows: Row[]): void;
  reject(error: Error): void;
}

/**
 * Reads that may walk many rows (a listing's `total`: every matching agent or audit event; the lifecycle sweep's
 * search for certificates due) on a SQLite file, run by a worker thread with a read-only connection of its own.
 * better-sqlite3 runs a query on the thread that asks, so on the event loop counting 10^6 agents held the whole
 * process for seconds: no resolve, verify or write was answered meanwhile. WAL mode lets the worker read while the
 * process writes; a read sees the last commit before it started.
 */
export class SqliteScans {
  private worker: Worker | undefined;
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 0;

  constructor(private readonly path: string) {}

  /**
   * Starts the worker now rather than at the first read. A server does so at start, so the thread and the descriptors
   * of its connection are there from the start, not from the first listing or lifecycle sweep some seconds later.
   */
  open(): void {
    this.started();
  }

  /** The rows the query selects, as the query builder's SQLite driver returns them. */
  rows(query: Knex.QueryBuilder | Knex.Raw): Promise<Row[]> {
    const { sql, bindings } = query.toSQL().toNative();
    const worker = this.started();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      // Held referenced only while it has work, so an idle worker never keeps the process alive.
      if (this.waiting.size === 1) worker.ref();
      worker.postMessage({ id, sql, params: bindings.map(bindable) });
    });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  private started(): Worker {
    if (this.worker !== undefined) return this.worker;
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path: this.path, driver } });
    worker.unref();
    worker.on('message', ({ id, rows, error }: { id: number; rows?: Row[]; error?: string }) => {
      const waiting = this.waiting.get(id);
      this.waiting.delete(id);
      if (this.waiting.size === 0) worker.unref();
      if (error === undefined) waiting?.resolve(rows ?? []);
      else waiting?.reject(new Error(error));
    });
    // A worker that failed (its connection could not open, it ran out of memory) fails what it was asked, and the
    // next read starts a new one.
    const failAll = (error: Error) => {
      if (this.worker === worker) this.worker = undefined;
      for (const waiting of this.waiting.values()) waiting.reject(error);
      this.waiting.clear();
    };
    worker.on('error', failAll);
    worker.on('exit', (code) => failAll(new Error(`the SQLite read worker exited (code ${code})`)));
    this.worker = worker;
    return worker;
  }
}

/** A binding as better-sqlite3 takes it, the way the query builder's own SQLite driver converts them. */
function bindable(value: unknown): unknown {
  if (value instanceof Date) return value.valueOf();
  if (typeof value === 'boolean') return Number(value);
  return value;
}

/**
 * The rows of a read that may walk many rows: on the SQLite read worker where the database has one (`scans`), else
 * through the connection pool, whose queries do not hold the event loop.
 */
export function scannedRows(scans: SqliteScans | undefined, query: Knex.QueryBuilder): Promise<Row[]> {
  return scans === undefined ? (query as unknown as Promise<Row[]>) : scans.rows(query);
}
