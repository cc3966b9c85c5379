import { ConnectError, type ContextValues, type Interceptor } from '@connectrpc/connect';
import type { Redis } from 'ioredis';
import { type RateLimiterAbstract, RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import type { Config } from '../config/schema.ts';
import { principalId } from '../auth/principal.ts';
import { infrastructureServices } from '../infrastructure-services.ts';
import { clientAddressKey, principalKey } from '../services/context.ts';
import { errorCodeHeader, errorTable } from './errors.ts';

/** Request budgets per client address and per principal; shared through Redis when the registry has it. */
export interface RateLimits {
  /** Spends the client address's budgets; runs before authentication, so requests with bad keys are counted too. */
  readonly byAddress: Interceptor;
  /** Spends the authenticated API key's or agent's budgets; runs after authentication. */
  readonly byPrincipal: Interceptor;
  /**
   * Spends a plain HTTP read's budgets (trust bundle, CRL, log tiles, /metrics) for the client address: its read
   * budget, and its request budget too when the read presents an API key, so guessed keys cost the same here as
   * on the API. Throws the refusal.
   */
  spendRead(clientAddress: string, presentsKey: boolean): Promise<void>;
  /** Requests this process refused, by the budget that refused them: `{ 'minute:address': 3, 'register_hour:key': 1 }`. */
  limitedCount(): Record<string, number>;
}

/** So many requests per window for each subject, e.g. 600 requests per minute. */
interface Budget {
  /** The counter label and the last part of the key prefix: minute, hour, register_minute, register_hour. */
  readonly name: string;
  /** How the refusal names it: "600 requests per minute". */
  readonly text: string;
  readonly limiter: RateLimiterAbstract;
}

/** Whom a budget is counted for: the client address always, the API key or agent when the caller authenticated. */
interface Subject {
  readonly kind: 'address' | 'key' | 'agent';
  readonly id: string;
}

const subjectNames: Readonly<Record<Subject['kind'], string>> = { address: 'client address', key: 'API key', agent: 'agent' };

interface Refusal {
  readonly budget: Budget;
  readonly subject: Subject;
  readonly retryMs: number;
}

const methodId = (service: { typeName: string }, method: { name: string }) => `${service.typeName}/${method.name}`;

// The calls that issue certificates: each signs and writes a log entry, and a flood of them fills the registry.
const issuing = new Set(
  [RegistryService.method.registerAgent, RegistryService.method.rotateCertificate, RegistryService.method.renewCertificate].map(
    (method) => methodId(method.parent, method),
  ),
);

// Health probes and reflection answer however busy a client is.
const exempt = new Set(infrastructureServices.map((service) => service.typeName));

/** The limits RATE_LIMIT_* describe, or undefined when RATE_LIMIT_ENABLED=false. */
export function createRateLimits(config: Config, redis: Redis | undefined): RateLimits | undefined {
  if (!config.rateLimitEnabled) return undefined;
  // Registries sharing one Redis keep their budgets apart by trust domain.
  const prefix = `atr:${config.trustDomain}:rate-limit`;
  const budget = (name: string, points: number, what: string, window: 'minute' | 'hour'): Budget => ({
    name,
    text: `${points} ${what} per ${window}`,
    limiter: limiter(redis, `${prefix}:${name}`, points, window === 'minute' ? 60 : 3_600),
  });
  const requests = [
    budget('minute', config.rateLimitPerMinute, 'requests', 'minute'),
    budget('hour', config.rateLimitPerHour, 'requests', 'hour'),
  ];
  // An issuing call is a request too: it spends from both.
  const issuingRequests = [
    ...requests,
    budget('register_minute', config.rateLimitRegisterPerMinute, 'registrations, rotations and renewals', 'minute'),
    budget('register_hour', config.rateLimitRegisterPerHour, 'registrations, rotations and renewals', 'hour'),
  ];
  const reads = [
    budget('reads_minute', config.rateLimitReadsPerMinute, 'plain HTTP reads', 'minute'),
    budget('reads_hour', config.rateLimitReadsPerHour, 'plain HTTP reads', 'hour'),
  ];
  const keyedReads = [...reads, ...requests];
  const limited = new Map<string, number>();
  const refuse = (refusal: Refusal): ConnectError => {
    const label = `${refusal.budget.name}:${refusal.subject.kind}`;
    limited.set(label, (limited.get(label) ?? 0) + 1);
    return rateLimited(refusal);
  };

  const interceptor =
    (subjectsOf: (values: ContextValues) => Subject[]): Interceptor =>
    (next) =>
    async (req) => {
      if (exempt.has(req.service.typeName)) return await next(req);
      const budgets = issuing.has(methodId(req.service, req.method)) ? issuingRequests : requests;
      const refusal = await spend(budgets, subjectsOf(req.contextValues));
      if (refusal !== undefined) throw refuse(refusal);
      return await next(req);
    };

  return {
    byAddress: interceptor(addressOf),
    byPrincipal: interceptor(principalOf),
    async spendRead(clientAddress, presentsKey) {
      const refusal = await spend(presentsKey ? keyedReads : reads, [{ kind: 'address', id: `address:${clientAddress}` }]);
      if (refusal !== undefined) throw refuse(refusal);
    },
    limitedCount: () => Object.fromEntries(limited),
  };
}

function limiter(redis: Redis | undefined, keyPrefix: string, points: number, duration: number): RateLimiterAbstract {
  const memory = new RateLimiterMemory({ keyPrefix, points, duration });
  if (redis === undefined) return memory;
  return new RateLimiterRedis({
    storeClient: redis,
    keyPrefix,
    points,
    duration,
    // While Redis is down or slow (the command client gives up after 500 ms), each process counts on its own
    // rather than failing requests or letting them all through.
    insuranceLimiter: memory,
    rejectIfRedisNotReady: true,
    // A subject over its budget is refused from memory until its window ends, sparing Redis a flood.
    inMemoryBlockOnConsumed: points + 1,
  });
}

function addressOf(values: ContextValues): Subject[] {
  return [{ kind: 'address', id: `address:${values.get(clientAddressKey)}` }];
}

function principalOf(values: ContextValues): Subject[] {
  const principal = values.get(principalKey);
  return principal.kind === 'anonymous' ? [] : [{ kind: principal.kind, id: principalId(principal) }];
}

/**
 * Spends one request from every budget for every subject. A refused request still counts, so a client that
 * ignores Retry-After spends its longer budgets too. Resolves the refusal with the longest wait, if any: retrying
 * sooner would be refused again.
 */
async function spend(budgets: readonly Budget[], subjects: readonly Subject[]): Promise<Refusal | undefined> {
  const outcomes = await Promise.all(
    budgets.flatMap((budget) =>
      subjects.map((subject) =>
        budget.limiter.consume(subject.id).then(
          (): Refusal | undefined => undefined,
          (reason: unknown): Refusal => {
            if (!(reason instanceof RateLimiterRes)) throw reason;
            return { budget, subject, retryMs: reason.msBeforeNext };
          },
        ),
      ),
    ),
  );
  let longest: Refusal | undefined;
  for (const refusal of outcomes) {
    if (refusal !== undefined && (longest === undefined || refusal.retryMs > longest.retryMs)) longest = refusal;
  }
  return longest;
}

function rateLimited({ budget, subject, retryMs }: Refusal): ConnectError {
  const seconds = Math.max(1, Math.ceil(retryMs / 1_000));
  return new ConnectError(
    `rate limit: ${budget.text} per ${subjectNames[subject.kind]}; retry in ${seconds} s`,
    errorTable.rate_limited.connect,
    { [errorCodeHeader]: 'rate_limited', 'retry-after': String(seconds) },
  );
}
