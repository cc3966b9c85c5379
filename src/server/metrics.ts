import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { PublicationCounts } from '../dns/publisher.ts';
import { DomainError } from '../errors.ts';
import { codeToString } from '@connectrpc/connect/protocol-connect';
import { errorTable, isStorageFull } from './errors.ts';

/** Where the counters other components keep are read from, at scrape time. */
export interface MetricSources {
  /** Refused mTLS connections by reason. */
  mtlsRefusals?: () => Record<string, number> | undefined;
  /** Requests refused by a rate limit, by `<budget>:<subject kind>`. */
  rateLimited?: () => Record<string, number> | undefined;
  /** Lookup cache counters by `<tier>:<outcome>`, e.g. `redis:hit`. */
  cache?: () => Record<string, number> | undefined;
  /** Every certificate and token verification by kind and result, whatever the audit trail keeps. */
  verifications?: () => readonly { kind: string; result: string; count: number }[] | undefined;
  /** Verification audit events this process deleted past their retention. */
  auditPruned?: () => number | undefined;
  /** Connections open now, over both listeners. */
  openConnections?: () => number | undefined;
  /** Connections closed at accept by a cap, by the cap (`total`, `per_client`). */
  refusedConnections?: () => Record<string, number> | undefined;
  /** HTTP/2 sessions ended by a limit, by `<listener>:<limit>`, e.g. `public:idle`. */
  endedSessions?: () => Record<string, number> | undefined;
  /** DNS publications since start and their lag. */
  dns?: () => PublicationCounts | undefined;
  /** Agents whose DNS is behind their registry record (pending or failed), read from the database at scrape time. */
  dnsBehind?: () => Promise<number | undefined>;
  /** Calls answered storage_unavailable because the database could not grow (src/server/health.ts, StorageWatch). */
  storageUnavailable?: () => number | undefined;
  /** Seconds until each intermediate the CA holds expires, by serial (the current one and earlier ones still in use). */
  caIntermediateExpiry?: () => Record<string, number> | undefined;
  /** Seconds until the root expires, by serial. */
  caRootExpiry?: () => Record<string, number> | undefined;
}

export interface Metrics {
  /** Counts and times every API call by service, method and code, on every protocol (REST included). */
  readonly interceptor: Interceptor;
  /** GET /metrics in the Prometheus text format. */
  handler(req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): Promise<void>;
  /** Adds sources that exist only once the listeners run (the mTLS listener's refusals). */
  addSources(sources: MetricSources): void;
}

/** The process's metrics in one Prometheus registry of its own (no global state, so tests can make several). */
export function createMetrics(sources: MetricSources = {}): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'atr_' });
  const known: MetricSources = { ...sources };
  const calls = new Counter({
    name: 'atr_rpc_requests_total',
    help: 'API calls by service, method and result code (Connect code names; ok for success)',
    labelNames: ['service', 'method', 'code'],
    registers: [registry],
  });
  const seconds = new Histogram({
    name: 'atr_rpc_duration_seconds',
    help: 'Time from a call reaching the interceptors to its answer (streams: to their first message)',
    labelNames: ['service', 'method'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const fromSource = (name: string, help: string, label: string, read: () => Record<string, number> | undefined) =>
    new Gauge({
      name,
      help,
      labelNames: [label],
      registers: [registry],
      collect() {
        this.reset();
        for (const [value, count] of Object.entries(read() ?? {})) this.set({ [label]: value }, count);
      },
    });
  fromSource('atr_mtls_refused_connections', 'mTLS connections refused since start, by reason', 'reason', () => known.mtlsRefusals?.());
  fromSource('atr_rate_limited_requests', 'Requests refused by a rate limit since start, by budget and subject', 'budget', () => known.rateLimited?.());
  fromSource('atr_cache_lookups', 'Lookup cache outcomes since start, by tier and outcome', 'outcome', () => known.cache?.());
  fromSource('atr_connections_refused', 'Connections closed at accept since start because a cap was reached (MAX_CONNECTIONS, MAX_CONNECTIONS_PER_CLIENT)', 'cap', () => known.refusedConnections?.());
  fromSource('atr_ca_intermediate_expiry_seconds', 'Seconds until each intermediate CA still in use expires (the current one issues; earlier ones until their certificates expire), by serial', 'serial', () => known.caIntermediateExpiry?.());
  fromSource('atr_ca_root_expiry_seconds', 'Seconds until the root CA expires', 'serial', () => known.caRootExpiry?.());
  fromSource('atr_http2_sessions_ended', 'HTTP/2 sessions ended by a limit since start, by listener and limit (handshake_timeout, idle, stalled_request, reset_flood)', 'limit', () => known.endedSessions?.());
  new Gauge({
    name: 'atr_connections_open',
    help: 'Connections open now on the public and mTLS listeners',
    registers: [registry],
    collect() {
      this.set(known.openConnections?.() ?? 0);
    },
  });
  // Counters kept by the verifiers and the pruning job, copied at scrape time.
  new Counter({
    name: 'atr_verifications_total',
    help: 'Certificate and token verifications since start, by kind and result (verified or the reason), audited or not',
    labelNames: ['kind', 'result'],
    registers: [registry],
    collect() {
      this.reset();
      for (const { kind, result, count } of known.verifications?.() ?? []) this.inc({ kind, result }, count);
    },
  });
  new Counter({
    name: 'atr_storage_unavailable_total',
    help: 'API calls answered storage_unavailable (503) since start because the database or its disk was full',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(known.storageUnavailable?.() ?? 0);
    },
  });
  new Counter({
    name: 'atr_audit_pruned_total',
    help: 'Verification audit events deleted since start because they were older than AUDIT_VERIFICATION_RETENTION_DAYS',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(known.auditPruned?.() ?? 0);
    },
  });

  new Counter({
    name: 'atr_dns_publications_total',
    help: 'Agent DNS publications by this process since start, by result (published, failed: each failed attempt)',
    labelNames: ['result'],
    registers: [registry],
    collect() {
      this.reset();
      const counts = known.dns?.();
      if (counts === undefined) return;
      this.inc({ result: 'published' }, counts.published);
      this.inc({ result: 'failed' }, counts.failed);
    },
  });
  new Counter({
    name: 'atr_dns_publication_lag_seconds_total',
    help: 'Seconds from agent changes to their DNS publication, summed over atr_dns_publications_total{result="published"} (divide for the mean)',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(known.dns?.()?.lagSecondsTotal ?? 0);
    },
  });
  new Gauge({
    name: 'atr_dns_publication_last_lag_seconds',
    help: 'Seconds from the latest published agent change to its publication',
    registers: [registry],
    collect() {
      this.set(known.dns?.()?.lastLagSeconds ?? 0);
    },
  });
  new Gauge({
    name: 'atr_dns_behind_agents',
    help: 'Agents whose DNS publication is pending or failed (all processes), read from the database at scrape time',
    registers: [registry],
    async collect() {
      this.set((await known.dnsBehind?.()) ?? 0);
    },
  });

  const interceptor: Interceptor = (next) => async (request) => {
    const labels = { service: request.service.typeName, method: request.method.name };
    const stop = seconds.startTimer(labels);
    try {
      const response = await next(request);
      calls.inc({ ...labels, code: 'ok' });
      return response;
    } catch (error) {
      calls.inc({ ...labels, code: codeToString(codeOf(error)) });
      throw error;
    } finally {
      stop();
    }
  };

  return {
    interceptor,
    async handler(_req, res) {
      const body = await registry.metrics();
      res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
      res.end(body);
    },
    addSources(more) {
      Object.assign(known, more);
    },
  };
}

function codeOf(error: unknown): Code {
  if (error instanceof ConnectError) return error.code;
  if (error instanceof DomainError) return errorTable[error.code].connect;
  return isStorageFull(error) ? errorTable.storage_unavailable.connect : Code.Internal;
}
