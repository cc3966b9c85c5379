import type { Redis } from 'ioredis';
import type { NewLogEntry } from '../tlog/store.ts';
import type { NewOperation, OperationOutcome, OperationRecord } from '../registry/operations.ts';
import type { AgentRecord, AuditEventRecord, CertificateRecord, NewAuditEvent } from '../registry/records.ts';
import type {
  AgentChanges,
  AgentFilter,
  AuditFilter,
  NewAgent,
  NewCertificate,
  Page,
  RegistryStore,
  RegistryTx,
  RetiredCertificate,
} from '../registry/store.ts';
import { LocalCache, type LocalRead } from './local-cache.ts';
import type { CertificateWithAgent } from './record-codec.ts';
import type { Logger } from '../log/logger.ts';
import type { MessageBus } from '../registry/message-bus.ts';
import { RedisCache, type RedisCacheStats, type SharedLookup } from './redis-cache.ts';

export interface CacheOptions {
  /** The command client for the shared tier; without it only this process's memory is used. */
  readonly redis?: Redis | undefined;
  /**
   * Where other processes announce their changes. With `redis` the versions there retire old entries and the bus only
   * speeds memory up; without, the bus carries each change's agents and is awaited (the workers of one server).
   */
  readonly bus?: Pick<MessageBus, 'subscribe' | 'publish'> | undefined;
  /** `atr:<trust domain>:`, as the revocation feed's channels: the processes of one registry share it. */
  readonly prefix: string;
  /** How long an entry lives in Redis. */
  readonly ttlSeconds: number;
  /** How long a lookup is kept in memory; 0 keeps none. */
  readonly localTtlMs: number;
  readonly localMaxAgents?: number;
  /** Where the shared tier reports what it cannot do. */
  readonly logger?: Logger | undefined;
}

export interface CacheStats {
  readonly local: { readonly hits: number; readonly misses: number; readonly agents: number };
  readonly redis: RedisCacheStats | undefined;
}

const notCached: SharedLookup<never> = { tag: undefined };

/**
 * The registry's store with its hot reads cached: resolve (`findAgent`) and verify (`findCertificate`) are
 * answered from this process's memory (at most CACHE_LOCAL_TTL_MS old), else from Redis, else from the database;
 * everything else passes through.
 *
 * Once a transaction that touched an agent has committed, and before `transaction` returns, the agent gets a new
 * version in Redis (entries cached before are never used again, by any process), its entries in this process are
 * dropped, and the other processes are told to drop theirs. So after a revoke returns, this process answers from
 * the database or from entries read after it, and so does every process that reads Redis; a process that still
 * held the agent in memory drops it when the message arrives, and at the latest CACHE_LOCAL_TTL_MS after the
 * revoke returned if the message is lost. Without Redis the same holds within this process and, through the bus, in
 * the other workers of the same server (told before the change returns); other processes see a change when their
 * revocation feed reads it (revocations and rotations, within REVOCATION_POLL_MS) or when their entry expires
 * (CACHE_LOCAL_TTL_MS).
 *
 * Redis is never needed for an answer: a failed or slow command (500 ms) falls back to the database. What happens
 * to a change made while Redis cannot be reached, and how long entries can stay stale then: see RedisCache.
 */
export class CachedRegistryStore implements RegistryStore {
  private readonly local: LocalCache;
  private readonly shared: RedisCache | undefined;
  /** Without Redis: the other processes told of this one's changes, and the end of hearing theirs. */
  private readonly peers: { readonly bus: Pick<MessageBus, 'publish'>; readonly channel: string; readonly unsubscribe: () => void } | undefined;

  constructor(
    private readonly store: RegistryStore,
    options: CacheOptions,
  ) {
    this.local = new LocalCache(options.localTtlMs, options.localMaxAgents);
    const { redis: client, bus, prefix, ttlSeconds, logger } = options;
    this.shared = client && new RedisCache({ client, bus, prefix, ttlSeconds, logger, onAnnounced: (names) => this.local.drop(names) });
    const channel = `${prefix}cache`;
    this.peers =
      client === undefined && bus !== undefined
        ? { bus, channel, unsubscribe: bus.subscribe(channel, (message) => this.local.drop(message.split('\n'))) }
        : undefined;
  }

  async transaction<T>(work: (tx: RegistryTx) => Promise<T>): Promise<T> {
    const touched = new Set<string>();
    try {
      return await this.store.transaction((tx) => work(new TouchingTx(tx, touched)));
    } finally {
      // Also after a failure: a commit whose acknowledgement was lost is a commit.
      if (touched.size > 0) await this.changed([...touched], true);
    }
  }

  /**
   * Forgets what this process and Redis hold about these agents, for a change made elsewhere (the revocation feed
   * reports each revocation and rotation by any process): if the process that made it could not reach Redis, this
   * is what retires the entries it left behind.
   */
  invalidate(names: readonly string[]): Promise<void> {
    return this.changed(names, false);
  }

  async findAgent(name: string): Promise<AgentRecord | undefined> {
    const held = this.local.agent(name);
    if (held) return held;
    const read = this.local.startRead(name);
    try {
      const shared = (await this.shared?.agent(name)) ?? notCached;
      if (shared.hit) {
        this.local.keepAgent(read, shared.hit);
        return shared.hit;
      }
      const agent = await this.store.findAgent(name);
      // A pending agent (registered in the background) changes when a worker, maybe in another process, finishes it.
      if (agent && agent.certificate !== null) {
        if (shared.tag !== undefined) this.shared?.storeAgent(name, shared.tag, agent);
        this.local.keepAgent(read, agent);
      }
      return agent;
    } finally {
      this.local.finishRead(read);
    }
  }

  async findCertificate(fingerprint: string): Promise<CertificateWithAgent | undefined> {
    const name = this.local.nameOf(fingerprint) ?? (await this.shared?.nameOf(fingerprint));
    if (name === undefined) return this.firstSight(fingerprint);
    const held = this.local.certificate(name, fingerprint);
    if (held) return held;
    const read = this.local.startRead(name);
    try {
      const shared = (await this.shared?.certificate(name, fingerprint)) ?? notCached;
      if (shared.hit) {
        this.local.keepCertificate(read, fingerprint, shared.hit);
        return shared.hit;
      }
      const found = await this.store.findCertificate(fingerprint);
      if (found?.agent.name === name) {
        if (shared.tag !== undefined) this.shared?.storeCertificate(name, fingerprint, shared.tag, found);
        this.local.keepCertificate(read, fingerprint, found);
      }
      return found;
    } finally {
      this.local.finishRead(read);
    }
  }

  listAgents(filter: AgentFilter, page: Page, now: Date): Promise<{ agents: AgentRecord[]; total: number }> {
    return this.store.listAgents(filter, page, now);
  }

  listRetiredCertificates(now: Date): Promise<CertificateRecord[]> {
    return this.store.listRetiredCertificates(now);
  }

  listRetiredSince(since: Date): Promise<RetiredCertificate[]> {
    return this.store.listRetiredSince(since);
  }

  listAuditEvents(filter: AuditFilter, page: Page): Promise<{ events: AuditEventRecord[]; total: number }> {
    return this.store.listAuditEvents(filter, page);
  }

  appendAudit(event: NewAuditEvent, at: Date): Promise<void> {
    return this.store.appendAudit(event, at);
  }

  async findOperation(id: string): Promise<OperationRecord | undefined> {
    const operation = await this.store.findOperation(id);
    // A worker that finished it, maybe in another process, changed its agent: what this process holds may be older.
    if (operation !== undefined && operation.state !== 'pending') this.local.drop([operation.agentName]);
    return operation;
  }

  countOperationAttempt(id: string, at: Date): Promise<void> {
    return this.store.countOperationAttempt(id, at);
  }

  keepIssuedCertificate(id: string, pem: string, at: Date): Promise<string | undefined> {
    return this.store.keepIssuedCertificate(id, pem, at);
  }

  listPendingOperations(before: Date, limit: number): Promise<string[]> {
    return this.store.listPendingOperations(before, limit);
  }

  pruneOperations(before: Date): Promise<number> {
    return this.store.pruneOperations(before);
  }

  ping(): Promise<void> {
    return this.store.ping();
  }

  stats(): CacheStats {
    return { local: this.local.stats(), redis: this.shared?.stats() };
  }

  /** Stops listening; the Redis client and the bus belong to the caller, which closes them. */
  async close(): Promise<void> {
    this.shared?.close();
    this.peers?.unsubscribe();
    await this.store.close();
  }

  /**
   * A certificate not seen before: its agent, and so the version to tag it with, is unknown until the database
   * answers. The answer is kept in memory (unless a change overtakes the read) and the agent's name is remembered,
   * so the next lookup goes through the versioned path and fills Redis.
   */
  private async firstSight(fingerprint: string): Promise<CertificateWithAgent | undefined> {
    const read = this.local.startRead(undefined);
    try {
      const found = await this.store.findCertificate(fingerprint);
      if (found) {
        this.local.rememberName(fingerprint, found.agent.name);
        this.shared?.storeName(fingerprint, found.agent.name);
        this.local.keepCertificate(read, fingerprint, found);
      }
      return found;
    } finally {
      this.local.finishRead(read);
    }
  }

  /**
   * Drops the agents from memory at once (this process's next lookup reads past it), gives them new versions in
   * Redis, and drops them again: a lookup that read Redis before the new version landed may have kept the old
   * answer meanwhile.
   */
  private async changed(names: readonly string[], announce: boolean): Promise<void> {
    this.local.drop(names);
    if (announce && this.peers) await this.peers.bus.publish(this.peers.channel, names.join('\n'));
    await this.shared?.invalidate(names, announce);
    this.local.drop(names);
  }
}

/** The transaction, noting every agent it locks, inserts or updates: the agents whose cached lookups it changes. */
class TouchingTx implements RegistryTx {
  constructor(
    private readonly tx: RegistryTx,
    private readonly touched: Set<string>,
  ) {}

  lockAgent(name: string): Promise<AgentRecord | undefined> {
    this.touched.add(name);
    return this.tx.lockAgent(name);
  }

  insertAgent(agent: NewAgent, certificate: NewCertificate | undefined): Promise<AgentRecord> {
    this.touched.add(agent.name);
    return this.tx.insertAgent(agent, certificate);
  }

  // The two below change an agent the transaction has locked (and so noted) first.
  insertFirstCertificate(agentId: number, certificate: NewCertificate, at: Date): Promise<CertificateRecord> {
    return this.tx.insertFirstCertificate(agentId, certificate, at);
  }

  deletePendingAgent(agentId: number): Promise<void> {
    return this.tx.deletePendingAgent(agentId);
  }

  insertOperation(operation: NewOperation): Promise<void> {
    return this.tx.insertOperation(operation);
  }

  lockOperation(id: string): Promise<OperationRecord | undefined> {
    return this.tx.lockOperation(id);
  }

  finishOperation(id: string, outcome: OperationOutcome, at: Date): Promise<void> {
    return this.tx.finishOperation(id, outcome, at);
  }

  insertCertificate(agentId: number, certificate: NewCertificate, at: Date): Promise<CertificateRecord> {
    return this.tx.insertCertificate(agentId, certificate, at);
  }

  updateAgent(agent: AgentRecord, changes: AgentChanges, at: Date): Promise<void> {
    this.touched.add(agent.name);
    return this.tx.updateAgent(agent, changes, at);
  }

  retireCertificate(certificateId: number, reason: string, at: Date): Promise<void> {
    return this.tx.retireCertificate(certificateId, reason, at);
  }

  appendAudit(event: NewAuditEvent, at: Date): Promise<void> {
    return this.tx.appendAudit(event, at);
  }

  appendLogEntry(entry: NewLogEntry, at: Date): Promise<number> {
    return this.tx.appendLogEntry(entry, at);
  }
}
