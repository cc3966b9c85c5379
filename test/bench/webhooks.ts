// The webhooks rows of `npm run bench`: registry processes (serve.ts) with WEBHOOK_ALLOW_PRIVATE on a fresh database
// of DATABASE_URL's dialect (SQLite when unset), one webhook for every event of its owner, pointed at a node:http
// receiver on 127.0.0.1 in this process that checks each request's Standard Webhooks signature (receiver.ts's
// verificationFailure, written from the specification) before it answers 204.
// - deliveries/s: `events` agents registered over gRPC (32 calls in flight) on a process without workers
//   (WORKERS_ENABLED=false), so that their agent.registered events wait in the feed; then a second process on the
//   same database, with workers, started: deliveries/s from the first delivery received to the last (dispatch from
//   the event feed, queue, signing, one POST at a time to the endpoint, delivery log), each a distinct webhook-id;
// - revoke → received: once the backlog is delivered, `revokes` of those agents revoked one at a time over gRPC on the
//   process with workers, each from the moment its response arrived (and from the moment it was sent) until the
//   receiver has its agent.revoked delivery. The two can reach this process in either order: a negative delay is a
//   delivery that came before the response.
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { WebhookService } from '../../gen/atr/v1/webhook_pb.js';
import { type Dialect, parseDatabaseUrl } from '../../src/config/database-url.ts';
import { verificationFailure } from '../webhooks/receiver.ts';
import { benchProcessEnv, serveProcess, stopProcess } from './bench-process.ts';
import { createBenchDatabase } from './databases.ts';

export interface Rate {
  readonly events: number;
  readonly seconds: number;
  readonly perSecond: number;
}

export interface Delay {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export interface WebhooksRow {
  readonly database: Dialect;
  /** agent.registered deliveries queued with no worker running, then drained by one worker process. */
  readonly backlog: Rate;
  readonly revokeToDelivery: { readonly revokes: number; readonly fromResponse: Delay; readonly fromRequest: Delay };
  /** Requests the receiver got in all: one per delivery unless some were repeated or refused. */
  readonly requests: number;
}

const OWNER = 'bench';
const IN_FLIGHT = 32;
const DELIVERY_TIMEOUT_MS = 120_000;

export async function measureWebhooks(options: { events: number; revokes: number }): Promise<WebhooksRow> {
  if (!(options.events >= options.revokes && options.revokes > 0)) throw new Error(`webhooks: events (${options.events}) must be at least the revokes (${options.revokes})`);
  const dialect = parseDatabaseUrl(process.env['DATABASE_URL'] ?? 'sqlite:///atr.db').dialect;
  const database = await createBenchDatabase(dialect);
  const dir = mkdtempSync(join(tmpdir(), 'atr-bench-webhooks-'));
  const env = benchProcessEnv({
    dir,
    databaseUrl: database.url,
    WEBHOOK_ALLOW_PRIVATE: 'true',
    // The backlog is made by a process without workers: registrations must finish without one.
    ASYNC_PROCESSING_ENABLED: 'false',
  });
  const receiver = await startVerifyingReceiver();
  const children: ChildProcess[] = [];
  try {
    // The process that takes the backlog's calls runs no workers: its events wait in the feed.
    const front = await serveProcess({ ...env, WORKERS_ENABLED: 'false' });
    children.push(front.child);
    const frontClients = clients(front.url);
    receiver.secret = (await frontClients.webhooks.createWebhook({ owner: OWNER, url: receiver.url })).secret;
    const revoked = Array.from({ length: options.revokes }, (_, i) => `revoked-${i}.hooks.bench.example`);
    const names = [...Array.from({ length: options.events - options.revokes }, (_, i) => `agent-${i}.hooks.bench.example`), ...revoked];
    await inFlight(names, (agentName) => frontClients.registry.registerAgent({ agentName, owner: OWNER }));

    const worker = await serveProcess({ ...env, WORKERS_ENABLED: 'true' });
    children.push(worker.child);
    await receiver.until(() => receiver.count('agent.registered') >= options.events);
    const registered = receiver.times('agent.registered');
    // Between the first arrival and the last: events - 1 deliveries.
    const backlogSeconds = (registered.at(-1)! - registered[0]!) / 1000;
    const backlog = { events: options.events, seconds: round(backlogSeconds), perSecond: Math.round((options.events - 1) / backlogSeconds) };
    await stopProcess(front.child);

    const { registry } = clients(worker.url);
    const fromResponse: number[] = [];
    const fromRequest: number[] = [];
    for (const agentName of revoked) {
      const sent = performance.now();
      await registry.revokeAgent({ agentName });
      const answered = performance.now();
      const at = await receiver.arrival('agent.revoked', agentName);
      fromResponse.push(at - answered);
      fromRequest.push(at - sent);
    }
    if (receiver.refused > 0) throw new Error(`webhooks: ${receiver.refused} requests failed the signature check`);
    return {
      database: dialect,
      backlog,
      revokeToDelivery: { revokes: options.revokes, fromResponse: delay(fromResponse), fromRequest: delay(fromRequest) },
      requests: receiver.requests,
    };
  } finally {
    await Promise.all(children.map(stopProcess));
    await receiver.close();
    await database.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The rows and their caption for the printed table. */
export function webhooksTable(row: WebhooksRow): { caption: string; table: string[][]; delayCaption: string; delayTable: string[][] } {
  const { backlog, revokeToDelivery: lag } = row;
  return {
    caption:
      `webhooks: registry processes (serve.ts) with WEBHOOK_ALLOW_PRIVATE on a fresh ${row.database} database, one webhook to a receiver on 127.0.0.1 in this process that checks every Standard Webhooks signature before answering 204; ` +
      `${backlog.events} agents registered over gRPC with no worker running, then a worker process started: first delivery received to last`,
    table: [
      ['webhook deliveries', 'events', 'seconds', 'deliveries/s'],
      ['backlog, one worker process', String(backlog.events), String(backlog.seconds), String(backlog.perSecond)],
    ],
    delayCaption: `revocation to webhook: ${lag.revokes} agents revoked one at a time over gRPC on the worker process, until the receiver has each one's agent.revoked delivery (negative: the delivery arrived before the response)`,
    delayTable: [
      ['revoke → received', 'revokes', 'p50', 'p99', 'max'],
      ...(
        [
          ['from the response', lag.fromResponse],
          ['from the request sent', lag.fromRequest],
        ] as const
      ).map(([label, d]) => [label, String(lag.revokes), `${d.p50Ms} ms`, `${d.p99Ms} ms`, `${d.maxMs} ms`]),
    ],
  };
}

interface VerifyingReceiver {
  readonly url: string;
  /** The webhook's secret; requests that arrive before it is known, or fail its check, are answered 401. */
  secret: string;
  requests: number;
  refused: number;
  /** Distinct deliveries (by webhook-id) of the event type. */
  count(type: string): number;
  /** When each distinct delivery of the event type arrived (performance.now()), in arrival order. */
  times(type: string): number[];
  /** Resolves with when the event type's delivery for the agent arrived. */
  arrival(type: string, agentName: string): Promise<number>;
  until(check: () => boolean): Promise<void>;
  close(): Promise<void>;
}

/** A receiver that verifies before it answers, as a real one does, and indexes deliveries by type and agent. */
async function startVerifyingReceiver(): Promise<VerifyingReceiver> {
  const seen = new Set<string>();
  const byType = new Map<string, number[]>();
  const byAgent = new Map<string, number>();
  const waiting = new Map<string, (at: number) => void>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const at = performance.now();
      const body = Buffer.concat(chunks).toString('utf8');
      receiver.requests++;
      if (receiver.secret === '' || verificationFailure(receiver.secret, req.headers, body) !== undefined) {
        receiver.refused++;
        res.writeHead(401).end();
        return;
      }
      res.writeHead(204).end();
      const id = String(req.headers['webhook-id']);
      if (seen.has(id)) return;
      seen.add(id);
      const message = JSON.parse(body) as { type: string; data: { agent_name?: string } };
      const times = byType.get(message.type) ?? [];
      times.push(at);
      byType.set(message.type, times);
      const key = `${message.type} ${message.data.agent_name ?? ''}`;
      byAgent.set(key, at);
      waiting.get(key)?.(at);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const receiver: VerifyingReceiver = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    secret: '',
    requests: 0,
    refused: 0,
    count: (type) => byType.get(type)?.length ?? 0,
    times: (type) => byType.get(type) ?? [],
    arrival(type, agentName) {
      const key = `${type} ${agentName}`;
      const at = byAgent.get(key);
      if (at !== undefined) return Promise.resolve(at);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`webhooks: no ${key} delivery within ${DELIVERY_TIMEOUT_MS} ms`)), DELIVERY_TIMEOUT_MS);
        waiting.set(key, (arrived) => {
          clearTimeout(timer);
          waiting.delete(key);
          resolve(arrived);
        });
      });
    },
    async until(check) {
      const deadline = performance.now() + DELIVERY_TIMEOUT_MS;
      while (!check()) {
        if (performance.now() > deadline) throw new Error(`webhooks: deliveries incomplete after ${DELIVERY_TIMEOUT_MS} ms (${receiver.requests} requests)`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return receiver;
}

function clients(url: string) {
  const transport = createGrpcTransport({ baseUrl: url });
  return { registry: createClient(RegistryService, transport), webhooks: createClient(WebhookService, transport) };
}

/** `call` for every item, IN_FLIGHT at a time. */
async function inFlight<T>(items: readonly T[], call: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < items.length) await call(items[next++] as T);
    }),
  );
}

const round = (value: number) => Math.round(value * 10) / 10;

function delay(values: number[]): Delay {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0);
  return { p50Ms: at(0.5), p99Ms: at(0.99), maxMs: round(sorted.at(-1) ?? 0) };
}
