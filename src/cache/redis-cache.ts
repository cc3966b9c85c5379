import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { AgentRecord } from '../registry/records.ts';
import { type Logger, silentLogger } from '../log/logger.ts';
import type { MessageBus } from '../registry/message-bus.ts';
import {
  type CertificateWithAgent,
  decodeAgent,
  decodeCertificateWithAgent,
  encodeAgent,
  encodeCertificateWithAgent,
} from './record-codec.ts';

/** A cached value, or the tag a value read from the database now must carry (undefined: do not store it). */
export type SharedLookup<T> = { readonly hit: T } | { readonly hit?: undefined; readonly tag: string | undefined };

const notCached = { tag: undefined } as const;

export interface RedisCacheOptions {
  readonly client: Redis;
  /** `atr:<trust domain>:`; registries that use the same one share entries and invalidations. */
  readonly prefix: string;
  readonly ttlSeconds: number;
  /** Where the other processes announce their changes; without it they reach this one through Redis alone. */
  readonly bus?: Pick<MessageBus, 'subscribe'> | undefined;
  /** Called with the agents another process announced it changed, to drop them from memory. */
  readonly onAnnounced?: (names: readonly string[]) => void;
  readonly logger?: Logger | undefined;
}

export interface RedisCacheStats {
  /** Whether lookups read Redis now (connected, the server identified, no invalidation waiting to be sent). */
  readonly serving: boolean;
  readonly hits: number;
  readonly misses: number;
  /** Commands that failed or timed out; each such lookup was answered from the database. */
  readonly errors: number;
  /** Lookups answered from the database without asking Redis, because it was down or not yet trusted again. */
  readonly bypassed: number;
  /** Agents whose invalidation could not be sent yet; Redis is not read until they are. */
  readonly pendingInvalidations: number;
}

/** How long lookups skip Redis after a command failed, so that a hung server costs one timeout a second, not one a request. */
const PAUSE_AFTER_ERROR_MS = 1_000;

/**
 * The shared tier: lookups in Redis, each agent's valid only under its current version.
 *
 * Every agent has a version key `{name}:v` holding a random token. A change, once committed, sets a new token
 * (`invalidate`); an entry is stored tagged with the token its reader saw BEFORE reading the database, and used
 * only while its tag equals the current token. A reader that raced a change therefore stores its stale answer
 * under a token that is already gone, and nobody uses it. Tokens, unlike counters, never come back: a version key
 * that expired or was evicted cannot bring an old tag back to life. Tags also carry the server's run_id, so after
 * Redis restarts (and perhaps reloads an old snapshot) nothing stored before is used. Version and entries of one
 * agent share the `{name}` hash tag, so one MGET reads both.
 *
 * An invalidation that cannot be sent (Redis down during a change) is kept and sent again when the client is
 * ready, and until every kept one is sent this process does not read Redis: entries from before the outage may
 * be stale. Entries stale because ANOTHER process could not send its invalidation stay usable until that process
 * reconnects, or until some process invalidates the agent again: every process does so for each revocation and
 * rotation its revocation feed reads from the database (see CachedRegistryStore.invalidate). So a revocation or
 * rotation is in force everywhere within REVOCATION_POLL_MS even then; an update (capabilities, description,
 * endpoints) waits for its process to reconnect, or for the entries to expire (CACHE_TTL_SECONDS) if that process
 * stopped first.
 */
export class RedisCache {
  private readonly channel: string;
  /** Marks this process's announcements, which it does not need to hear back. */
  private readonly origin = randomBytes(9).toString('base64url');
  private readonly keyPrefix: string;
  private readonly ttlMs: number;
  /** Longer than an entry's: an entry whose version key expired is never used again. */
  private readonly versionTtlMs: number;
  private readonly client: Redis;
  private runId: string | undefined;
  /** Counts connections, so the answer to an INFO sent on an earlier one is ignored. */
  private connection = 0;
  private readonly pending = new Set<string>();
  private replaying = false;
  private pausedUntil = 0;
  private warnedNoRunId = false;
  private readonly timer: NodeJS.Timeout;
  private readonly onReady = () => void this.identify();
  private readonly onClose = () => {
    this.connection++;
    this.runId = undefined;
  };
  private readonly unsubscribe: (() => void) | undefined;
  private readonly counts = { hits: 0, misses: 0, errors: 0, bypassed: 0 };

  private readonly logger: Logger;

  constructor(options: RedisCacheOptions) {
    this.logger = options.logger ?? silentLogger;
    this.client = options.client;
    this.channel = `${options.prefix}cache`;
    // 1: the entries' format (record-codec.ts); a version of the registry that changes it counts up, so that
    // processes of two versions side by side during an upgrade do not read each other's entries.
    this.keyPrefix = `${options.prefix}cache:1:`;
    this.ttlMs = options.ttlSeconds * 1000;
    this.versionTtlMs = 2 * this.ttlMs;
    this.client.on('ready', this.onReady);
    this.client.on('close', this.onClose);
    const { onAnnounced } = options;
    this.unsubscribe = onAnnounced && options.bus?.subscribe(this.channel, (message) => {
      const [origin, ...names] = message.split('\n');
      if (origin !== this.origin) onAnnounced(names);
    });
    if (this.client.status === 'ready') void this.identify();
    // Retries what a 'ready' could not finish: an INFO or an invalidation that timed out on a live connection.
    this.timer = setInterval(() => {
      if (this.client.status !== 'ready') return;
      if (this.runId === undefined) void this.identify();
      else void this.replay();
    }, 1_000);
    this.timer.unref();
  }

  agent(name: string): Promise<SharedLookup<AgentRecord>> {
    return this.read(name, this.agentKey(name), decodeAgent);
  }

  storeAgent(name: string, tag: string, agent: AgentRecord): void {
    this.store(this.agentKey(name), tag, () => encodeAgent(agent));
  }

  certificate(name: string, fingerprint: string): Promise<SharedLookup<CertificateWithAgent>> {
    return this.read(name, this.certificateKey(name, fingerprint), decodeCertificateWithAgent);
  }

  storeCertificate(name: string, fingerprint: string, tag: string, found: CertificateWithAgent): void {
    this.store(this.certificateKey(name, fingerprint), tag, () => encodeCertificateWithAgent(found));
  }

  /** The agent a certificate belongs to, when some process stored it (it never changes). */
  async nameOf(fingerprint: string): Promise<string | undefined> {
    if (!this.usable()) return undefined;
    try {
      return (await this.client.get(this.nameKey(fingerprint))) ?? undefined;
    } catch {
      this.failed();
      return undefined;
    }
  }

  storeName(fingerprint: string, name: string): void {
    if (!this.usable()) return;
    this.client.set(this.nameKey(fingerprint), name, 'PX', this.ttlMs).catch(() => this.failed());
  }

  /**
   * Gives these agents new versions, so that no process uses what it cached about them before; with `announce`,
   * also tells the other processes to drop what they hold in memory. Never rejects: a version that could not be
   * set is kept, and set once Redis answers again.
   */
  async invalidate(names: readonly string[], announce: boolean): Promise<void> {
    if (this.client.status !== 'ready') {
      for (const name of names) this.pending.add(name);
      return;
    }
    const token = randomBytes(9).toString('base64url');
    const published = announce ? this.client.publish(this.channel, [this.origin, ...names].join('\n')).catch(() => undefined) : undefined;
    const bumped = await Promise.allSettled(names.map((name) => this.client.set(this.versionKey(name), token, 'PX', this.versionTtlMs)));
    bumped.forEach((result, i) => {
      if (result.status === 'fulfilled') return;
      this.pending.add(names[i] ?? '');
      this.failed();
    });
    await published;
  }

  stats(): RedisCacheStats {
    return { serving: this.usable(), ...this.counts, pendingInvalidations: this.pending.size };
  }

  close(): void {
    this.unsubscribe?.();
    clearInterval(this.timer);
    this.client.off('ready', this.onReady);
    this.client.off('close', this.onClose);
  }

  /** Whether lookups may use Redis now. */
  private usable(): boolean {
    return (
      this.runId !== undefined &&
      this.client.status === 'ready' &&
      this.pending.size === 0 &&
      !this.replaying &&
      performance.now() >= this.pausedUntil
    );
  }

  private async read<T>(name: string, key: string, decode: (json: string) => T): Promise<SharedLookup<T>> {
    if (!this.usable()) {
      this.counts.bypassed++;
      return notCached;
    }
    const runId = this.runId;
    let version: string | null;
    let stored: string | null;
    try {
      [version = null, stored = null] = await this.client.mget(this.versionKey(name), key);
    } catch {
      this.failed();
      return notCached;
    }
    if (version === null) {
      // No version yet (or it expired): create one, and store nothing now, since this read began before it existed.
      this.client.set(this.versionKey(name), randomBytes(9).toString('base64url'), 'PX', this.versionTtlMs, 'NX').catch(() => this.failed());
      this.counts.misses++;
      return notCached;
    }
    const tag = `${runId}/${version}`;
    const space = stored?.indexOf(' ') ?? -1;
    if (stored && stored.slice(0, space) === tag) {
      try {
        const hit = decode(stored.slice(space + 1));
        this.counts.hits++;
        return { hit };
      } catch {
        this.counts.errors++;
      }
    }
    this.counts.misses++;
    return { tag };
  }

  private store(key: string, tag: string, encode: () => string): void {
    if (!this.usable() || !tag.startsWith(`${this.runId}/`)) return;
    this.client.set(key, `${tag} ${encode()}`, 'PX', this.ttlMs).catch(() => this.failed());
  }

  /** Learns which server answers (its run_id) on every new connection, then sends the invalidations kept meanwhile. */
  private async identify(): Promise<void> {
    const connection = this.connection;
    let info: string;
    try {
      info = await this.client.info('server');
    } catch {
      return;
    }
    if (connection !== this.connection) return;
    this.runId = /^run_id:(\w+)/m.exec(info)?.[1];
    if (this.runId === undefined && !this.warnedNoRunId) {
      this.warnedNoRunId = true;
      this.logger.warn({ component: 'redis-cache' }, 'INFO reports no run_id, so a restart could not be told apart; lookups use the database only');
    }
    await this.replay();
  }

  private async replay(): Promise<void> {
    if (this.replaying || this.pending.size === 0 || this.client.status !== 'ready') return;
    this.replaying = true;
    const names = [...this.pending];
    this.pending.clear();
    try {
      await this.invalidate(names, true);
    } finally {
      this.replaying = false;
    }
  }

  private failed(): void {
    this.counts.errors++;
    this.pausedUntil = performance.now() + PAUSE_AFTER_ERROR_MS;
  }

  private versionKey(name: string): string {
    return `${this.keyPrefix}{${name}}:v`;
  }

  private agentKey(name: string): string {
    return `${this.keyPrefix}{${name}}:agent`;
  }

  private certificateKey(name: string, fingerprint: string): string {
    return `${this.keyPrefix}{${name}}:cert:${fingerprint}`;
  }

  private nameKey(fingerprint: string): string {
    return `${this.keyPrefix}fp:${fingerprint}`;
  }
}
