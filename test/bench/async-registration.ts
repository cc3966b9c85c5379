// The registration rows of `npm run bench`: one registry process (serve.ts) with ASYNC_PROCESSING_ENABLED and its
// workers, on a fresh database of DATABASE_URL's dialect (SQLite when unset), the log on. In the same run, `count`
// registrations with CSRs made beforehand, IN_FLIGHT calls at a time over gRPC:
// - synchronous (synchronous=true): registrations/s, each answered with its certificate;
// - asynchronous: accepted/s (until the last 202-equivalent answer) and completed/s (from the first call until no agent
//   is pending any more: issued, recorded and logged by the worker).
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { AgentStatus } from '../../gen/atr/v1/agent_pb.js';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { type Dialect, parseDatabaseUrl } from '../../src/config/database-url.ts';
import { keyAndCsr } from '../support/keys.ts';
import { benchProcessEnv, serveProcess, stopProcess } from './bench-process.ts';
import { createBenchDatabase } from './databases.ts';

const IN_FLIGHT = 8;

export interface RegistrationSetup {
  readonly setup: string;
  readonly synchronousPerSecond: number;
  readonly acceptedPerSecond: number;
  readonly completedPerSecond: number;
}

export interface RegistrationRow {
  readonly database: Dialect;
  readonly registrations: number;
  readonly setups: readonly RegistrationSetup[];
}

export async function measureRegistrations(count: number): Promise<RegistrationRow> {
  const dialect = parseDatabaseUrl(process.env['DATABASE_URL'] ?? 'sqlite:///atr.db').dialect;
  const setups: RegistrationSetup[] = [];
  for (const workers of ['inside', 'beside', 'after'] as const) setups.push(await measureSetup(dialect, count, workers));
  return { database: dialect, registrations: count, setups };
}

/**
 * Where the workers run: `inside` the process that answers; in a worker process `beside` it from the start; or in a
 * worker process started only `after` the asynchronous burst was accepted (accepted/s is then the answering process
 * alone, and completed/s the worker's draining of the backlog, from its start).
 */
type Workers = 'inside' | 'beside' | 'after';
const SETUPS: Record<Workers, string> = {
  inside: 'one process (answers and works)',
  beside: 'answering process + worker process',
  after: 'answering process, then worker process on the backlog',
};

async function measureSetup(dialect: Dialect, count: number, workers: Workers): Promise<RegistrationSetup> {
  const database = await createBenchDatabase(dialect);
  const dir = mkdtempSync(join(tmpdir(), 'atr-bench-async-'));
  const csrs = await Promise.all(Array.from({ length: 2 * count }, async () => (await keyAndCsr()).csrPem));
  const env = benchProcessEnv({ dir, databaseUrl: database.url, ASYNC_PROCESSING_ENABLED: 'true', JOBS_POLL_MS: '50' });
  const children: ChildProcess[] = [];
  try {
    const server = await serveProcess({ ...env, WORKERS_ENABLED: workers === 'inside' ? 'true' : 'false' });
    children.push(server.child);
    const startWorker = async () => children.push((await serveProcess({ ...env, WORKERS_ENABLED: 'true' })).child);
    if (workers === 'beside') await startWorker();
    const registry = createClient(RegistryService, createGrpcTransport({ baseUrl: server.url }));
    const register = (i: number, synchronous: boolean) =>
      registry.registerAgent({ agentName: `agent-${i}.async.bench.example`, owner: 'bench', csrPem: csrs[i]!, synchronous });

    const syncStart = performance.now();
    await inFlight(count, (i) => register(i, true));
    const syncSeconds = (performance.now() - syncStart) / 1000;

    let asyncStart = performance.now();
    await inFlight(count, (i) => register(count + i, false));
    const acceptedSeconds = (performance.now() - asyncStart) / 1000;
    if (workers === 'after') {
      // The synchronous registrations need no worker; the backlog does, from now on.
      await startWorker();
      asyncStart = performance.now();
    }
    const pending = async () => (await registry.listAgents({ owner: 'bench', status: AgentStatus.PENDING, limit: 1 })).total;
    while ((await pending()) > 0) await new Promise((resolve) => setTimeout(resolve, 10));
    const completedSeconds = (performance.now() - asyncStart) / 1000;
    return {
      setup: SETUPS[workers],
      synchronousPerSecond: Math.round(count / syncSeconds),
      acceptedPerSecond: Math.round(count / acceptedSeconds),
      completedPerSecond: Math.round(count / completedSeconds),
    };
  } finally {
    await Promise.all(children.map(stopProcess));
    await database.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function registrationsTable(row: RegistrationRow): { caption: string; table: string[][] } {
  return {
    caption: `\nregistrations with a CSR (made beforehand) on ${row.database}, log on, ${IN_FLIGHT} gRPC calls in flight, ${row.registrations} each way, ASYNC_PROCESSING_ENABLED; completed: from the first asynchronous call (or the worker's start) until no agent is pending`,
    table: [
      ['processes', 'synchronous/s', 'asynchronous accepted/s', 'asynchronous completed/s'],
      ...row.setups.map((s) => [s.setup, String(s.synchronousPerSecond), String(s.acceptedPerSecond), String(s.completedPerSecond)]),
    ],
  };
}

async function inFlight(count: number, call: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < count) await call(next++);
    }),
  );
}
