import { setTimeout as sleep } from 'node:timers/promises';
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, type Interceptor, type ServiceImpl } from '@connectrpc/connect';
import {
  Health,
  type HealthCheckResponse,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from '../../gen/grpc/health/v1/health_pb.js';
import { type Logger, silentLogger } from '../log/logger.ts';
import { isStorageFull } from './errors.ts';
import { type HttpRequest, type JsonResponse, sendJson } from './rest.ts';

export interface Readiness {
  ready: boolean;
  // Serving, but without an optional dependency (Redis): slower, not wrong.
  degraded?: boolean;
  // What was checked and how it went, e.g. { database: 'ok' }; shown on /readyz.
  checks: Record<string, string>;
}

export interface HealthOptions {
  // Full names of the services this process serves ("atr.v1.RegistryService"); '' always means the whole server.
  services: string[];
  readiness: () => Promise<Readiness>;
  // How often a Watch stream re-checks readiness.
  pollMs?: number;
  // Where a failing readiness probe is reported.
  logger?: Logger;
}

export interface HealthService {
  impl: ServiceImpl<typeof Health>;
  // GET /healthz: the process is up.
  healthz(req: HttpRequest, res: JsonResponse): void;
  // GET /readyz: the process can serve (its dependencies answer).
  readyz(req: HttpRequest, res: JsonResponse): Promise<void>;
}

export function createHealthService(options: HealthOptions): HealthService {
  const known = new Set(['', ...options.services]);
  const pollMs = options.pollMs ?? 5_000;
  const logger = options.logger ?? silentLogger;

  // Concurrent checks (many watchers, a probe storm) share one readiness call.
  let inflight: Promise<Readiness> | undefined;
  const readiness = () =>
    (inflight ??= options
      .readiness()
      .catch((error: unknown): Readiness => {
        logger.error({ err: error }, 'readiness probe failed');
        return { ready: false, checks: { readiness: 'failed' } };
      })
      .finally(() => {
        inflight = undefined;
      }));
  const status = async () => ((await readiness()).ready ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
  const response = (s: ServingStatus): HealthCheckResponse => create(HealthCheckResponseSchema, { status: s });

  return {
    impl: {
      async check(req) {
        if (!known.has(req.service)) throw new ConnectError(`unknown service ${req.service}`, Code.NotFound);
        return response(await status());
      },
      // As the gRPC health protocol asks: the current status at once, then every change, until the client leaves;
      // an unknown service is SERVICE_UNKNOWN on the stream, not an error.
      async *watch(req, context) {
        if (!known.has(req.service)) {
          yield response(ServingStatus.SERVICE_UNKNOWN);
          await aborted(context.signal);
          return;
        }
        let last: ServingStatus | undefined;
        do {
          const current = await status();
          if (current !== last) yield response(current);
          last = current;
        } while (await pause(pollMs, context.signal));
      },
    },
    healthz(_req, res) {
      sendJson(res, 200, { status: 'ok' });
    },
    async readyz(_req, res) {
      const { ready, degraded, checks } = await readiness();
      sendJson(res, ready ? 200 : 503, { status: ready ? (degraded ? 'degraded' : 'ready') : 'unavailable', checks });
    },
  };
}

/**
 * Whether the database takes writes. A call that fails because the database or its disk is full (answered
 * storage_unavailable) marks it not writable and is counted; from then on each readiness check tries a write that
 * needs new storage (`probe`), and the first that succeeds marks it writable again. Meanwhile /readyz and the gRPC
 * health check say not ready, so a load balancer sends callers to a replica that can write.
 */
export class StorageWatch {
  private notWritable = false;
  private unavailable = 0;

  constructor(
    private readonly probe: () => Promise<void>,
    private readonly logger: Logger = silentLogger,
  ) {}

  /** Notes every API call that failed for want of storage. */
  readonly interceptor: Interceptor = (next) => async (req) => {
    try {
      return await next(req);
    } catch (error) {
      if (isStorageFull(error)) this.failed(error);
      throw error;
    }
  };

  /** Calls answered storage_unavailable since start. */
  unavailableCount(): number {
    return this.unavailable;
  }

  /** `readiness` as it is, or not ready with the database not writable while writes fail for want of storage. */
  async readiness(readiness: Readiness): Promise<Readiness> {
    // A database that does not answer at all says so already; there is nothing to probe.
    if (!this.notWritable || !readiness.ready || (await this.writable())) return readiness;
    return { ...readiness, ready: false, checks: { ...readiness.checks, database: 'not writable' } };
  }

  private failed(error: unknown): void {
    this.unavailable += 1;
    if (this.notWritable) return;
    this.notWritable = true;
    this.logger.error({ err: error }, 'database not writable: it or its disk is full; not ready until a write succeeds again');
  }

  private async writable(): Promise<boolean> {
    try {
      await this.probe();
    } catch (error) {
      if (!isStorageFull(error)) this.logger.warn({ err: error }, 'storage write probe failed');
      return false;
    }
    this.notWritable = false;
    this.logger.warn({}, 'database writable again: ready');
    return true;
  }
}

// Resolves false once the signal aborts, so a loop can end quietly.
async function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
