// `atr serve --workers N`: a primary process that does the one-time work, then forks N workers (node:cluster), each a
// whole registry (startServer) on the same HTTP and mTLS ports, and keeps N of them running until SIGINT or SIGTERM.
//
// The ports: node:cluster's primary holds each listening socket and hands connections to the workers in turn. It
// knows a socket by (address, port, and the how-many-th listen on that address and port in the worker), so with
// PORT=0 every worker's first listen on port 0 gets the same socket, and so the same port, and its second (the mTLS
// listener) the same other one. A replacement asks the same way and gets the sockets its siblings hold; if no worker
// is left, the sockets are gone and it asks for the ports the first workers got.
//
// What the workers share and how (see README, "Workers"):
// - the database, the CA, the log key, the mTLS ticket secret, the bootstrap admin key: created by the primary before
//   any worker starts;
// - revocations, cache invalidations and events: Redis when configured, else the IPC bus relayed by the primary
//   (src/cache/ipc-bus.ts), so a change through one worker is seen by the others before its answer leaves;
// - the transparency log: every worker sequences entries in its own transactions and integrates whatever is
//   sequenced, by any process, under the database's lock; checkpoints are signed with the one log key;
// - background jobs (WORKERS_ENABLED) run in every worker: the queue's leases and the periodic jobs' per-slot ids
//   already make N processes on one database run each job once, as with N `atr serve` processes;
// - the built-in DNS server runs in worker 1 only (see server.ts);
// - /metrics is per worker: a scrape counts what the worker that answered it saw (its `atr-worker` header says which).
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { ApiKeys } from '../auth/api-keys.ts';
import { prepareAccess } from '../auth/bootstrap.ts';
import { IpcBus, relayBus } from '../cache/ipc-bus.ts';
import { parseDatabaseUrl } from '../config/database-url.ts';
import { publicBaseUrl } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { SqlApiKeyStore } from '../db/api-key-store.ts';
import { openDatabase } from '../db/orm.ts';
import type { Logger } from '../log/logger.ts';
import { loadOrCreateCa } from '../pki/ca.ts';
import { loadOrCreateLogKey } from '../pki/log-key.ts';
import { TicketKeys } from './mtls-ticket-keys.ts';
import { startServer } from './server.ts';

/** Which worker a forked process is, set by the primary in its environment. */
const SLOT_VARIABLE = 'ATR_WORKER_SLOT';
/** How long the workers get to close their database and exit after their listeners' grace (SHUTDOWN_GRACE_SECONDS), before SIGKILL. */
const STOP_MARGIN_MS = 20_000;
/** A worker that lived shorter than this died of something a restart may not fix: the next one waits longer. */
const HEALTHY_AFTER_MS = 10_000;
const FIRST_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 30_000;

/** What a worker tells the primary. */
type WorkerReport =
  | { readonly kind: 'atr:listening'; readonly url: string; readonly mtlsUrl: string | undefined; readonly port: number; readonly mtlsPort: number | undefined }
  | { readonly kind: 'atr:failed'; readonly reason: string };

/** What the primary tells a worker. */
const STOP = { kind: 'atr:stop' } as const;

export interface Listening {
  readonly url: string;
  readonly mtlsUrl: string | undefined;
}

/** --workers, else SERVER_WORKERS; 0 (or unset): one per core on PostgreSQL, one on SQLite (one writer at a time there). */
export function workerCount(config: Config, requested: number | undefined): number {
  const count = requested ?? config.serverWorkers;
  if (count > 0) return count;
  return parseDatabaseUrl(config.databaseUrl).dialect === 'postgresql' ? availableParallelism() : 1;
}

/** True in a process the primary forked: it runs runWorker, not the primary. */
export function isWorker(): boolean {
  return cluster.isWorker && process.env[SLOT_VARIABLE] !== undefined;
}

/**
 * A worker: the registry on the primary's sockets, until the primary says stop (or the worker is signalled). Ends
 * the process: its IPC channel would keep it alive.
 */
export async function runWorker(config: Config, logger: Logger): Promise<never> {
  const slot = Number(process.env[SLOT_VARIABLE]);
  const bus = new IpcBus();
  const report = (message: WorkerReport) => new Promise<void>((resolve) => process.send?.(message, undefined, {}, () => resolve()) ?? resolve());
  // Listened for from the start: the primary may stop a worker that is still starting (another could not).
  const stopped = new Promise<string>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    process.on('message', (message: unknown) => {
      if ((message as { kind?: unknown } | null)?.kind === STOP.kind) resolve('asked by the primary');
    });
  });
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer(config, logger, { slot, bus });
  } catch (error) {
    await report({ kind: 'atr:failed', reason: error instanceof Error ? error.message : String(error) });
    process.exit(1);
  }
  await report({ kind: 'atr:listening', url: server.url, mtlsUrl: server.mtlsUrl, port: server.port, mtlsPort: server.mtlsPort });
  const reason = await stopped;
  logger.info({ worker: slot, reason }, 'worker stopping');
  await server.close();
  await bus.close();
  process.exit(0);
}

/**
 * The primary: the one-time work, then `count` workers; prints where they listen once all do. Resolves with the exit
 * code once a signal has stopped them (0), or once they could not start (1, with the reason on stderr).
 */
export async function runPrimary(config: Config, count: number, logger: Logger, out: (line: string) => void): Promise<number> {
  await prepareOnce(config, logger);
  const stopRelay = relayBus(cluster);
  const pool = new WorkerPool(count, logger, config.shutdownGraceSeconds * 1000 + STOP_MARGIN_MS);
  let listening: Listening;
  try {
    listening = await pool.start();
  } catch (error) {
    await pool.stop();
    stopRelay();
    throw error;
  }
  out(`ATR listening on ${listening.url}`);
  if (listening.mtlsUrl) out(`agents (mTLS) on ${listening.mtlsUrl}`);
  out(`${count} workers (pids ${pool.pids().join(', ')})`);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  out(`${signal}: shutting down`);
  logger.info({ signal }, 'shutting down');
  await pool.stop();
  stopRelay();
  return 0;
}

/**
 * Before any worker starts: the CA, the log key and the mTLS session-ticket secret (their files are already created
 * safely by racing processes, but one creator is simpler to reason about), the schema, and the bootstrap admin key
 * with its warning printed once.
 */
async function prepareOnce(config: Config, logger: Logger): Promise<void> {
  // The CRL URL goes into agent certificates, not into the CA's: any value serves to create the CA.
  await loadOrCreateCa({
    dir: config.pkiRootDir,
    passphrase: config.caKeyPassphrase,
    validityDays: config.caValidityDays,
    trustDomain: config.trustDomain,
    crlUrl: `${publicBaseUrl(config)}/v1/crl`,
  });
  if (config.transparencyLogEnabled) await loadOrCreateLogKey(config.pkiRootDir, config.caKeyPassphrase);
  if (config.mtlsEnabled) TicketKeys.load(config.pkiRootDir, logger);
  const database = await openDatabase(config.databaseUrl);
  try {
    await prepareAccess(config, new ApiKeys(new SqlApiKeyStore(database)), (line) => logger.warn({}, line));
  } finally {
    await database.close();
  }
}

/** N workers, each in its slot; one that dies is replaced, after a pause that grows while replacements die young. */
class WorkerPool {
  private readonly workers = new Map<number, Worker>();
  private readonly youngDeaths = new Map<number, number>();
  private readonly replacements = new Set<NodeJS.Timeout>();
  /** The ports the first workers got, once they listen. */
  private bound: { port: number; mtlsPort: number | undefined } | undefined;
  /** What replacements ask for instead of the configured ports, once the first workers' sockets are gone. */
  private ports: Record<string, string> = {};
  private stopping = false;

  constructor(
    private readonly count: number,
    private readonly logger: Logger,
    private readonly stopLimitMs: number,
  ) {}

  pids(): number[] {
    return [...this.workers.values()].map((worker) => worker.process.pid ?? 0);
  }

  /** Starts every worker; resolves once all listen, rejects with the first one's reason for failing. */
  async start(): Promise<Listening> {
    const started = await Promise.all(Array.from({ length: this.count }, (_, i) => this.fork(i + 1)));
    const first = started[0];
    if (first === undefined) throw new Error('no workers');
    return first;
  }

  /** Asks every worker to stop, waits for them (SIGKILL past stopLimitMs). */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const timer of this.replacements) clearTimeout(timer);
    const running = [...this.workers.values()].filter((worker) => !worker.isDead());
    const exited = running.map((worker) => new Promise<void>((resolve) => worker.once('exit', () => resolve())));
    for (const worker of running) if (worker.isConnected()) worker.send(STOP, undefined, () => undefined);
    const limit = setTimeout(() => {
      for (const worker of running) if (!worker.isDead()) worker.process.kill('SIGKILL');
    }, this.stopLimitMs);
    await Promise.all(exited);
    clearTimeout(limit);
  }

  /** Forks the worker of `slot`; resolves once it listens, rejects when it exits first. */
  private fork(slot: number): Promise<Listening> {
    if (this.workers.size === 0 && this.bound !== undefined) {
      this.ports = { PORT: String(this.bound.port), ...(this.bound.mtlsPort !== undefined && { MTLS_PORT: String(this.bound.mtlsPort) }) };
    }
    const worker = cluster.fork({ [SLOT_VARIABLE]: String(slot), ...this.ports });
    this.workers.set(slot, worker);
    const forkedAt = Date.now();
    let failure: string | undefined;
    return new Promise((resolve, reject) => {
      let listening = false;
      worker.on('message', (message: WorkerReport) => {
        if (message.kind === 'atr:failed') failure = message.reason;
        if (message.kind !== 'atr:listening') return;
        listening = true;
        this.bound ??= { port: message.port, mtlsPort: message.mtlsPort };
        resolve({ url: message.url, mtlsUrl: message.mtlsUrl });
      });
      worker.once('exit', (code, signal) => {
        this.workers.delete(slot);
        const why = failure ?? `exited with ${signal ?? code}`;
        if (!listening) reject(new Error(`worker ${slot} could not start: ${why}`));
        if (this.stopping || this.bound === undefined) return;
        this.replace(slot, Date.now() - forkedAt < HEALTHY_AFTER_MS, why, worker.process.pid);
      });
    });
  }

  private replace(slot: number, young: boolean, why: string, pid: number | undefined): void {
    const deaths = young ? (this.youngDeaths.get(slot) ?? 0) + 1 : 0;
    this.youngDeaths.set(slot, deaths);
    const delayMs = deaths === 0 ? 0 : Math.min(FIRST_BACKOFF_MS * 2 ** (deaths - 1), MAX_BACKOFF_MS);
    this.logger.error({ worker: slot, workerPid: pid, reason: why, restartInMs: delayMs }, 'worker died; starting another in its place');
    const timer = setTimeout(() => {
      this.replacements.delete(timer);
      if (this.stopping) return;
      // One that cannot start exits, and its exit is logged and replaced like any other.
      this.fork(slot).catch(() => undefined);
    }, delayMs);
    this.replacements.add(timer);
  }
}
