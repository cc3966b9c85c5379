// Keeps DNS in step with the registry. A registry change never waits for DNS: it commits, and the publisher,
// told in process or finding it by polling the database (changes by other processes, retries, a restart), brings
// the agent's records to the provider afterwards, retrying with backoff until the provider takes them.
import type { Logger } from '../log/logger.ts';
import { Poller } from '../registry/poller.ts';
import type { AgentRecord } from '../registry/records.ts';
import { agentRecords } from './records.ts';
import type { AgentVersion, DnsPublicationStore } from './publication-store.ts';
import { type DnsProvider, DnsProviderError, type RRset, type ZoneChange, rrsetKey } from './rrset.ts';
import { zoneOf } from './zone.ts';

export interface DnsPublisherOptions {
  readonly store: DnsPublicationStore;
  /** The registry's own records: the database, not a cache that could be behind. */
  readonly agents: { findAgent(name: string): Promise<AgentRecord | undefined> };
  readonly provider: DnsProvider;
  readonly zones: readonly string[];
  readonly ttl: number;
  readonly trustDomain: string;
  readonly registryUrl: string;
  /** Whether the TXT record names the agent's latest log leaf (the transparency log is on). */
  readonly logIndexes: boolean;
  readonly logger: Logger;
  /** How often the database is read for changes of other processes and for retries that fell due. Default 500 ms. */
  readonly pollMs?: number;
  /** Called after each publication with the serial it wrote, e.g. for this process's zone table. */
  readonly onPublished?: (serial: number) => void;
  readonly now?: () => Date;
}

/** Counters for /metrics. */
export interface PublicationCounts {
  published: number;
  failed: number;
  /** Seconds from an agent's change to its records being published, summed over `published`, and the latest. */
  lagSecondsTotal: number;
  lastLagSeconds: number;
}

/** How long a process holds an agent's publication before another may take it over (a crash mid-publication). */
const LEASE_MS = 30_000;
/** Looks back this far before the previous poll for changes: transactions that committed late, clocks that differ. */
const OVERLAP_MS = 5_000;
const BATCH = 200;
/** Retries back off exponentially to five minutes; a refusal that will not pass by itself waits an hour. */
const MAX_RETRY_MS = 300_000;
const REFUSED_RETRY_MS = 3_600_000;

export class DnsPublisher {
  readonly counts: PublicationCounts = { published: 0, failed: 0, lagSecondsTotal: 0, lastLagSeconds: 0 };
  private readonly poller: Poller;
  private readonly now: () => Date;
  private readonly wanted = new Set<string>();
  private watermark: Date;
  /** The reconciliation at start walks every agent once, a batch per poll; undefined when done. */
  private reconcileAfterId: number | undefined = 0;

  constructor(private readonly options: DnsPublisherOptions) {
    this.now = options.now ?? (() => new Date());
    this.watermark = this.now();
    this.poller = new Poller(() => this.run(), options.pollMs ?? 500);
  }

  start(): void {
    this.poller.start();
  }

  stop(): Promise<void> {
    return this.poller.stop();
  }

  /** After a local change to `agentName` committed: publish it now rather than at the next poll. */
  changed(agentName: string): Promise<void> {
    this.wanted.add(agentName);
    return this.poller.poll();
  }

  /** Publishes what is behind; resolves when this pass is done (tests and `changed` callers may wait for it). */
  sync(): Promise<void> {
    return this.poller.poll();
  }

  private async run(): Promise<void> {
    try {
      const names = new Set(this.wanted);
      this.wanted.clear();
      const now = this.now();
      for (const name of await this.options.store.due(now, BATCH)) names.add(name);
      for (const agent of await this.behind(await this.changes(now))) names.add(agent.name);
      if (this.reconcileAfterId !== undefined) {
        const page = await this.options.store.agentsAfter(this.reconcileAfterId, BATCH);
        this.reconcileAfterId = page.length < BATCH ? undefined : page.at(-1)?.id;
        for (const agent of await this.behind(page)) names.add(agent.name);
      }
      for (const name of names) await this.publish(name);
    } catch (error) {
      // The database is unreachable for now (readiness reports it); the next poll covers the same ground.
      this.options.logger.warn({ err: error }, 'dns publication pass failed');
    }
  }

  private async changes(now: Date): Promise<AgentVersion[]> {
    const changed = await this.options.store.changedSince(new Date(this.watermark.getTime() - OVERLAP_MS), BATCH);
    const newest = changed.at(-1)?.updatedAt;
    // A full batch may have more behind it: continue from its last change rather than from now.
    this.watermark = changed.length === BATCH && newest !== undefined ? new Date(newest.getTime() + OVERLAP_MS) : now;
    return changed;
  }

  /** The agents whose published version is older than their own. */
  private async behind(agents: readonly AgentVersion[]): Promise<AgentVersion[]> {
    if (agents.length === 0) return [];
    const publications = await this.options.store.publications(agents.map((agent) => agent.name));
    return agents.filter((agent) => (publications.get(agent.name)?.agentVersion ?? 0) < agent.version || publications.get(agent.name)?.status !== 'published');
  }

  private async publish(name: string): Promise<void> {
    const { store, agents, provider, logger } = this.options;
    const agent = await agents.findAgent(name);
    if (agent === undefined) return;
    const now = this.now();
    const claimed = await store.claim(name, agent.version, now, LEASE_MS);
    if (claimed === undefined) return;
    const event = (eventType: 'dns.published' | 'dns.failed', metadata: Record<string, unknown>) =>
      ({ eventType, actor: 'system:dns', agentName: name, metadata: { version: agent.version, provider: provider.name, ...metadata } }) as const;
    try {
      const change = await this.changeFor(agent, now);
      const changed = change.upsert.length > 0 || change.remove.length > 0;
      if (changed) await provider.apply(change);
      const audit = changed ? event('dns.published', { zone: change.zone, upserted: change.upsert.map(rrsetKey), removed: change.remove.map(rrsetKey) }) : undefined;
      const serial = await store.recordPublished(name, agent.version, change, audit, this.now());
      this.published(agent, serial);
    } catch (error) {
      const attempts = claimed.attempts + 1;
      const retryable = !(error instanceof DnsProviderError) || error.retryable;
      const retryAfterMs = error instanceof DnsProviderError ? (error.retryAfterMs ?? 0) : 0;
      const waitMs = retryable ? Math.max(retryDelayMs(attempts), retryAfterMs) : REFUSED_RETRY_MS;
      const reason = error instanceof Error ? error.message : String(error);
      this.counts.failed += 1;
      logger.warn({ agent: name, version: agent.version, attempts, err: error }, 'dns publication failed');
      // The first failure of a version is audited; its retries are counted, not each written down.
      const audit = attempts === 1 ? event('dns.failed', { error: reason, retryable }) : undefined;
      // From the failure, not the attempt's start: a provider's own retries may have taken longer than this wait.
      const failure = { error: reason, retryable, attempts, nextAttemptAt: new Date(this.now().getTime() + waitMs) };
      await store.recordFailure(name, agent.version, failure, audit, this.now());
    }
  }

  /** What the provider must do for DNS to show the agent as it is now: the sets that differ, and those to drop. */
  private async changeFor(agent: AgentRecord, now: Date): Promise<ZoneChange> {
    const { store, zones, ttl, trustDomain, registryUrl } = this.options;
    const logIndex = this.options.logIndexes ? await store.latestLogIndex(agent.name) : undefined;
    const wanted = agentRecords(agent, { zones, ttl, trustDomain, registryUrl, logIndex, now });
    const desired = wanted.zone === undefined ? [] : wanted.rrsets;
    const published = await store.publishedRRsets(agent.name);
    const before = new Map(published.map((rrset) => [rrsetKey(rrset), rrset]));
    const after = new Set(desired.map(rrsetKey));
    return {
      zone: wanted.zone ?? zoneOf(agent.name, zones) ?? '',
      upsert: desired.filter((rrset) => !sameRRset(before.get(rrsetKey(rrset)), rrset)),
      remove: published.filter((rrset) => !after.has(rrsetKey(rrset))),
    };
  }

  private published(agent: AgentRecord, serial: number): void {
    const lag = Math.max(0, (this.now().getTime() - agent.updatedAt.getTime()) / 1000);
    this.counts.published += 1;
    this.counts.lagSecondsTotal += lag;
    this.counts.lastLagSeconds = lag;
    this.options.onPublished?.(serial);
  }
}

function retryDelayMs(attempts: number): number {
  return Math.min(MAX_RETRY_MS, 1000 * 2 ** Math.min(attempts - 1, 20));
}

function sameRRset(a: RRset | undefined, b: RRset): boolean {
  return a !== undefined && a.ttl === b.ttl && JSON.stringify(a.records) === JSON.stringify(b.records);
}
