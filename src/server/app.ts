import type { Redis } from 'ioredis';
import { type RateLimits, createRateLimits } from '../auth/rate-limit.ts';
import { RedisBus } from '../cache/redis-bus.ts';
import { createCommandClient, redisHealth } from '../cache/redis-client.ts';
import { publicBaseUrl } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { type Database, openDatabase } from '../db/orm.ts';
import { SqlTlogStore } from '../db/tlog-store.ts';
import { loadOrCreateLogKey } from '../pki/log-key.ts';
import { TransparencyLog } from '../tlog/log.ts';
import { createNoteSigner } from '../tlog/note.ts';
import { SqlRegistryStore } from '../db/registry-store.ts';
import { type CertificateAuthority, loadOrCreateCa } from '../pki/ca.ts';
import { Registry } from '../registry/registry.ts';
import { RevocationFeed } from '../registry/revocation-feed.ts';
import { RevocationList } from '../registry/revocation-list.ts';
import type { RegistryStore } from '../registry/store.ts';
import { TokenVerifier } from '../verify/token.ts';
import { Verifier } from '../verify/verify.ts';

/** Everything a running registry holds, independent of the listeners in front of it. */
export interface App {
  readonly config: Config;
  readonly ca: CertificateAuthority;
  readonly store: RegistryStore;
  readonly registry: Registry;
  readonly verifier: Verifier;
  /** One instance for every listener: it remembers the jti of every live token it accepted. */
  readonly tokenVerifier: TokenVerifier;
  readonly revocationList: RevocationList;
  /** Every revoke or rotation made by any process on this database, within about one poll interval. */
  readonly revocations: RevocationFeed;
  /** Redis for commands (cache, rate limits) when REDIS_URL is set and REDIS_ENABLED; never the source of truth. */
  readonly redis: Redis | undefined;
  /** Request budgets; undefined when RATE_LIMIT_ENABLED=false. */
  readonly rateLimits: RateLimits | undefined;
  /** The transparency log; undefined when TRANSPARENCY_LOG_ENABLED=false. */
  readonly log: TransparencyLog | undefined;
  /** Ready when the database answers; degraded (still ready) while Redis does not. */
  readiness(): Promise<{ ready: boolean; degraded?: boolean; checks: Record<string, string> }>;
  close(): Promise<void>;
}

export async function createApp(config: Config): Promise<App> {
  const ca = await loadOrCreateCa({
    dir: config.pkiRootDir,
    passphrase: config.caKeyPassphrase,
    validityDays: config.caValidityDays,
    trustDomain: config.trustDomain,
    crlUrl: `${publicBaseUrl(config)}/v1/crl`,
  });
  const database = await openDatabase(config.databaseUrl);
  const store = await SqlRegistryStore.open(database);
  const log = config.transparencyLogEnabled ? await openLog(config, database) : undefined;
  const verificationLog = config.transparencyLogVerifyEvents ? log : undefined;
  const revocationList = new RevocationList(store, ca);
  // Redis only speeds revocations up: the feed's database poll still delivers when it is down. The processes of
  // one registry share its trust domain, so registries on one Redis do not wake each other.
  const redisUrl = config.redisEnabled ? config.redisUrl : undefined;
  const bus = redisUrl === undefined ? undefined : new RedisBus(redisUrl);
  const redis = redisUrl === undefined ? undefined : createCommandClient(redisUrl);
  const rateLimits = createRateLimits(config, redis);
  const revocations = new RevocationFeed({
    store,
    intervalMs: config.revocationPollMs,
    bus,
    channelPrefix: `atr:${config.trustDomain}:`,
  });
  // Changes made by other processes reach this one through the feed.
  revocations.subscribe(() => revocationList.invalidate());
  revocations.start();
  const registry = new Registry({
    store,
    ca,
    certValidityDays: config.certValidityDays,
    onCertificatesChanged: () => {
      revocationList.invalidate();
      void revocations.changed();
    },
    log,
  });
  return {
    config,
    ca,
    store,
    registry,
    verifier: new Verifier({ ca, store, log: verificationLog }),
    tokenVerifier: new TokenVerifier({ ca, store, log: verificationLog }),
    revocationList,
    revocations,
    redis,
    rateLimits,
    log,
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
      await revocations.stop();
      await rateLimits?.close();
      await bus?.close();
      redis?.disconnect();
      await log?.stop();
      await store.close();
    },
  };
}

/** The transparency log with its signing key (created beside the CA keys on first start), running. */
async function openLog(config: Config, database: Database): Promise<TransparencyLog> {
  const origin = config.transparencyLogOrigin ?? `${config.trustDomain}/log`;
  const key = await loadOrCreateLogKey(config.pkiRootDir, config.caKeyPassphrase);
  const log = new TransparencyLog({
    store: new SqlTlogStore(database),
    origin,
    signer: createNoteSigner(origin, key),
    checkpointIntervalMs: config.checkpointInterval * 1000,
  });
  log.start();
  return log;
}
