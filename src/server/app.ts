import type { Redis } from 'ioredis';
import { ApiKeys } from '../auth/api-keys.ts';
import { type RateLimits, createRateLimits } from './rate-limit.ts';
import { type Metrics, createMetrics } from './metrics.ts';
import { SqlApiKeyStore } from '../db/api-key-store.ts';
import { CachedRegistryStore } from '../cache/cached-store.ts';
import { RedisBus } from '../cache/redis-bus.ts';
import type { MessageBus } from '../registry/message-bus.ts';
import { SharedReplayGuard } from '../cache/shared-replay-guard.ts';
import { InMemoryReplayGuard } from '../verify/replay-guard.ts';
import { createCommandClient, redisHealth } from '../cache/redis-client.ts';
import { publicBaseUrl } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';
import { createLogger } from '../log/process-logger.ts';
import { type Database, openDatabase } from '../db/orm.ts';
import { SqlTlogStore } from '../db/tlog-store.ts';
import { loadOrCreateLogKey } from '../pki/log-key.ts';
import { TransparencyLog } from '../tlog/log.ts';
import { createNoteSigner } from '../tlog/note.ts';
import { SqlRegistryStore } from '../db/registry-store.ts';
import { SqlEventStore } from '../db/event-store.ts';
import { type CertificateAuthority, loadOrCreateCa } from '../pki/ca.ts';
import { Registry } from '../registry/registry.ts';
import { EventFeed } from '../registry/event-feed.ts';
import { RevocationFeed } from '../registry/revocation-feed.ts';
import { RevocationList } from '../registry/revocation-list.ts';
import type { RegistryStore } from '../registry/store.ts';
import { TokenVerifier } from '../verify/token.ts';
import { VerificationCounts } from '../verify/verification-counts.ts';
import { Verifier } from '../verify/verify.ts';
import { VerificationRetention } from '../audit/verification-retention.ts';
import { type DnsPublication, createDnsPublication } from './dns-publication.ts';
import { DnsResolution } from '../dns/resolution.ts';
import { txtLookup } from '../dns-client/txt-lookup.ts';
import { sharedTxtLookup } from '../cache/dns-lookup-cache.ts';
import { type DomainValidation, createDomainValidation } from './domain-validation.ts';
import { type BackgroundJobs, createBackgroundJobs } from './background-jobs.ts';
import { type WebhookSending, createWebhookSending } from './webhooks.ts';

/** Everything a running registry holds, independent of the listeners in front of it. */
export interface App {
  readonly config: Config;
  readonly ca: CertificateAuthority;
  /** The registry's storage: the database, behind the lookup cache when there is one; every component uses this. */
  readonly store: RegistryStore;
  /** The database itself, for what is about the database rather than the registry (the storage write probe). */
  readonly database: Database;
  /** The lookup cache (also `store`), for its counters; undefined without Redis and with CACHE_LOCAL_TTL_MS=0. */
  readonly cache: CachedRegistryStore | undefined;
  readonly registry: Registry;
  readonly verifier: Verifier;
  /** One instance for every listener: it remembers the jti of every live token it accepted. */
  readonly tokenVerifier: TokenVerifier;
  readonly revocationList: RevocationList;
  /** Every revoke or rotation made by any process on this database, within about one poll interval. */
  readonly revocations: RevocationFeed;
  /** The lifecycle events of the audit trail, written by any process on this database, for EventService. */
  readonly events: EventFeed;
  /** Redis for commands (cache, rate limits) when REDIS_URL is set and REDIS_ENABLED; never the source of truth. */
  readonly redis: Redis | undefined;
  /** API keys: created, listed and revoked by admins; checked on every call that presents one. */
  readonly apiKeys: ApiKeys;
  /** Prometheus metrics: calls by method and code, refusals, rate limits, the cache, verifications; at /metrics. */
  readonly metrics: Metrics;
  /** Request budgets; undefined when RATE_LIMIT_ENABLED=false. */
  readonly rateLimits: RateLimits | undefined;
  /** The transparency log; undefined when TRANSPARENCY_LOG_ENABLED=false. */
  readonly log: TransparencyLog | undefined;
  /** Agents published in DNS; undefined when DNS_ZONES is empty. */
  readonly dns: DnsPublication | undefined;
  /** Agents' records read through DNS_RESOLVER, for ResolveAgent with source dns (RESOLVE_SOURCE). */
  readonly dnsResolution: { readonly resolution: DnsResolution; readonly defaultSource: 'registry' | 'dns' };
  /** DomainService's domains, and with DOMAIN_VALIDATION_ENABLED the registration rule and re-validation. */
  readonly domainValidation: DomainValidation;
  /** The job queue, and with WORKERS_ENABLED its workers and periodic jobs (the lifecycle sweep). */
  readonly jobs: BackgroundJobs;
  /** WebhookService's webhooks, and with WORKERS_ENABLED their dispatcher and delivery workers. */
  readonly webhooks: WebhookSending;
  /** The process's log lines (LOG_LEVEL, LOG_FORMAT): access lines, background failures. */
  readonly logger: Logger;
  /** Ready when the database answers; degraded (still ready) while Redis does not. */
  readiness(): Promise<{ ready: boolean; degraded?: boolean; checks: Record<string, string> }>;
  close(): Promise<void>;
}

/**
 * `peers`: the bus to the other workers of one `atr serve --workers N` (src/server/cluster.ts), which carries
 * revocations, cache invalidations and events between them when Redis does not.
 */
export async function createApp(config: Config, logger: Logger = createLogger(config), peers?: MessageBus): Promise<App> {
  const ca = await loadOrCreateCa({
    dir: config.pkiRootDir,
    passphrase: config.caKeyPassphrase,
    validityDays: config.caValidityDays,
    trustDomain: config.trustDomain,
    crlUrl: `${publicBaseUrl(config)}/v1/crl`,
  });
  const database = await openDatabase(config.databaseUrl);
  // Redis only speeds revocations and lookups up: the feed's database poll still delivers and lookups read the
  // database when it is down. The processes of one registry share its trust domain, so registries on one Redis do
  // not wake each other or share entries.
  const redisUrl = config.redisEnabled ? config.redisUrl : undefined;
  const redisBus = redisUrl === undefined ? undefined : new RedisBus(redisUrl, logger);
  const bus = redisBus ?? peers;
  const redis = redisUrl === undefined ? undefined : createCommandClient(redisUrl);
  const channelPrefix = `atr:${config.trustDomain}:`;
  const sqlStore = await SqlRegistryStore.open(database);
  database.scans?.open();
  const cache =
    redis !== undefined || config.cacheLocalTtlMs > 0
      ? new CachedRegistryStore(sqlStore, {
          redis,
          bus,
          prefix: channelPrefix,
          ttlSeconds: config.cacheTtlSeconds,
          localTtlMs: config.cacheLocalTtlMs,
          logger,
        })
      : undefined;
  const store: RegistryStore = cache ?? sqlStore;
  const log = config.transparencyLogEnabled ? await openLog(config, database, logger) : undefined;
  const verificationLog = config.transparencyLogVerifyEvents ? log : undefined;
  const verificationCounts = new VerificationCounts();
  const recording = { store, log: verificationLog, audit: config.auditVerifications };
  // Pruned through the database store: the lookup cache has nothing to do with audit events.
  const retention =
    config.auditVerificationRetentionDays === 0
      ? undefined
      : new VerificationRetention({
          store: sqlStore,
          retentionDays: config.auditVerificationRetentionDays,
          intervalMs: config.auditPruneIntervalSeconds * 1000,
          logger,
        });
  retention?.start();
  const revocationList = new RevocationList(store, ca);
  const rateLimits = createRateLimits(config, redis);
  const revocations = new RevocationFeed({
    store,
    intervalMs: config.revocationPollMs,
    bus,
    channelPrefix,
  });
  // Changes made by other processes reach this one through the feed.
  revocations.subscribe(() => revocationList.invalidate());
  if (cache) revocations.subscribe((event) => void cache.invalidate([event.agentName]));
  revocations.start();
  const domainValidation = createDomainValidation(config, database, log, logger);
  // Reads the database itself, not the lookup cache: it publishes what was committed.
  const dns = await createDnsPublication(config, database, sqlStore, logger);
  const events = new EventFeed({ store: new SqlEventStore(database), intervalMs: config.eventsPollMs, logger });
  await events.start();
  // Another process's change wakes this feed at once rather than at its next poll.
  const eventsChannel = `${channelPrefix}events`;
  const unsubscribeEvents = bus?.subscribe(eventsChannel, () => events.changed());
  const jobs = createBackgroundJobs(config, database, log, logger);
  const registry = new Registry({
    store,
    ca,
    certValidityDays: config.certValiditySeconds > 0 ? config.certValiditySeconds / 86_400 : config.certValidityDays,
    allowMixedScriptNames: config.allowMixedScriptNames,
    onCertificatesChanged: () => {
      revocationList.invalidate();
      void revocations.changed();
    },
    log,
    registrationGate: domainValidation.gate,
    onChanged: (agentName) => {
      void dns?.publisher.changed(agentName);
      events.changed();
      void bus?.publish(eventsChannel, agentName);
    },
    // A job that could not be queued now is queued by the next lifecycle sweep (its operation stays pending).
    onAccepted: (operationId) =>
      jobs.enqueueOperation(operationId).catch((error: unknown) => logger.warn({ err: error, operation: operationId }, 'cannot queue an operation yet')),
  });
  jobs.runOperations(registry);
  const webhooks = createWebhookSending(config, database, events, jobs.queue, logger);
  return {
    config,
    ca,
    store,
    database,
    cache,
    registry,
    verifier: new Verifier({ ca, ...recording, count: verificationCounts.counter('certificate') }),
    tokenVerifier: new TokenVerifier({
      ca,
      ...recording,
      count: verificationCounts.counter('token'),
      replayGuard: redis
        ? new SharedReplayGuard(redis, channelPrefix, { tokensPerAgentPerMinute: config.tokenVerifyPerAgentPerMinute })
        : new InMemoryReplayGuard({ tokensPerAgentPerMinute: config.tokenVerifyPerAgentPerMinute }),
    }),
    revocationList,
    revocations,
    events,
    redis,
    apiKeys: new ApiKeys(new SqlApiKeyStore(database)),
    rateLimits,
    metrics: createMetrics({
      rateLimited: () => rateLimits?.limitedCount(),
      cache: () => cacheCounters(cache),
      verifications: () => verificationCounts.totals(),
      auditPruned: () => retention?.pruned,
      dns: () => dns?.publisher.counts,
      dnsBehind: async () => dns?.behind(),
    }),
    log,
    dns,
    dnsResolution: {
      resolution: new DnsResolution({
        lookup: redis === undefined ? txtLookup(config.dnsResolver) : sharedTxtLookup(txtLookup(config.dnsResolver), redis, channelPrefix),
      }),
      defaultSource: config.resolveSource ?? 'registry',
    },
    domainValidation,
    jobs,
    webhooks,
    logger,
    async readiness() {
      const database = await store.ping().then(
        () => 'ok',
        () => 'unreachable',
      );
      const checks: Record<string, string> = { database };
      if (redis !== undefined) checks['redis'] = redisHealth(redis);
      return { ready: database === 'ok', degraded: checks['redis'] === 'unavailable', checks };
    },
    async close() {
      await webhooks.close();
      await jobs.close();
      await retention?.stop();
      await domainValidation.revalidation?.stop();
      await dns?.close();
      await revocations.stop();
      unsubscribeEvents?.();
      await events.stop();
      await redisBus?.close();
      redis?.disconnect();
      await log?.stop();
      await store.close();
    },
  };
}

/** The transparency log with its signing key (created beside the CA keys on first start), running. */
async function openLog(config: Config, database: Database, logger: Logger): Promise<TransparencyLog> {
  const origin = config.transparencyLogOrigin ?? `${config.trustDomain}/log`;
  const key = await loadOrCreateLogKey(config.pkiRootDir, config.caKeyPassphrase);
  const log = new TransparencyLog({
    store: new SqlTlogStore(database),
    origin,
    signer: createNoteSigner(origin, key),
    checkpointIntervalMs: config.checkpointInterval * 1000,
    logger,
  });
  log.start();
  return log;
}

/** The cache's counters as flat `<tier>:<counter>` pairs for the metrics. */
function cacheCounters(cache: CachedRegistryStore | undefined): Record<string, number> | undefined {
  if (cache === undefined) return undefined;
  const { local, redis } = cache.stats();
  const flat: Record<string, number> = {};
  for (const [tier, counters] of Object.entries({ local, redis })) {
    for (const [name, value] of Object.entries(counters ?? {})) if (typeof value === 'number') flat[`${tier}:${name}`] = value;
  }
  return flat;
}
