import type { AgentRecord } from '../registry/records.ts';
import type { CertificateWithAgent } from './record-codec.ts';

/** A lookup in progress: what it may keep depends on when it started and on whether a change overtook it. */
export interface LocalRead {
  /** The agent it is about; undefined while unknown (a certificate seen for the first time). */
  readonly name: string | undefined;
  /** performance.now(): a clock that setting the system time does not move, so no entry outlives its TTL. */
  readonly startedAt: number;
  overtaken: boolean;
}

interface Held<T> {
  readonly value: T;
  readonly expiresAt: number;
}

/** Everything held about one agent, so that a change drops it in one step. */
interface AgentEntry {
  agent: Held<AgentRecord> | undefined;
  readonly certificates: Map<string, Held<CertificateWithAgent>>;
}

/**
 * The in-process tier: recent lookups by agent name and by certificate fingerprint, each kept at most `ttlMs`
 * from the moment its read STARTED, so that no entry is used more than `ttlMs` after a change it did not see.
 * Changes drop their agents' entries (`drop`), and a read that a change overtook keeps nothing, so that once a
 * change has returned this process never answers from before it. Bounded to `maxAgents` agents, oldest filled
 * first out. `ttlMs` 0 keeps no lookups.
 *
 * Beside the lookups it keeps which agent each fingerprint belongs to, which never changes (names are never
 * reused), so that a lookup by fingerprint can go straight to the agent's entries here and in Redis.
 */
export class LocalCache {
  private readonly agents = new Map<string, AgentEntry>();
  private readonly names = new Map<string, string>();
  private readonly reads = new Set<LocalRead>();
  private readonly counts = { hits: 0, misses: 0 };

  constructor(
    private readonly ttlMs: number,
    private readonly maxAgents = 10_000,
  ) {}

  get enabled(): boolean {
    return this.ttlMs > 0;
  }

  /** Lookups answered from memory, lookups not, and agents held. */
  stats(): { hits: number; misses: number; agents: number } {
    return { ...this.counts, agents: this.agents.size };
  }

  agent(name: string): AgentRecord | undefined {
    return this.counted(this.agents.get(name)?.agent);
  }

  certificate(name: string, fingerprint: string): CertificateWithAgent | undefined {
    return this.counted(this.agents.get(name)?.certificates.get(fingerprint));
  }

  /** The agent a certificate belongs to, when this process has seen it. */
  nameOf(fingerprint: string): string | undefined {
    return this.names.get(fingerprint);
  }

  rememberName(fingerprint: string, name: string): void {
    if (this.names.size >= this.maxAgents && !this.names.has(fingerprint)) this.names.delete(this.names.keys().next().value ?? '');
    this.names.set(fingerprint, name);
  }

  startRead(name: string | undefined): LocalRead {
    const read = { name, startedAt: performance.now(), overtaken: false };
    if (this.enabled) this.reads.add(read);
    return read;
  }

  finishRead(read: LocalRead): void {
    this.reads.delete(read);
  }

  keepAgent(read: LocalRead, agent: AgentRecord): void {
    const entry = this.entryFor(read, agent.name);
    if (entry) entry.agent = { value: agent, expiresAt: read.startedAt + this.ttlMs };
  }

  keepCertificate(read: LocalRead, fingerprint: string, found: CertificateWithAgent): void {
    const entry = this.entryFor(read, found.agent.name);
    if (!entry) return;
    const now = performance.now();
    // Superseded certificates of a busy agent would otherwise pile up until the agent's next change.
    for (const [key, held] of entry.certificates) if (held.expiresAt <= now) entry.certificates.delete(key);
    entry.certificates.set(fingerprint, { value: found, expiresAt: read.startedAt + this.ttlMs });
  }

  /** Forgets everything about these agents, and keeps reads in flight about them (or about unknown agents) from filling. */
  drop(names: readonly string[]): void {
    const dropped = new Set(names);
    for (const name of dropped) this.agents.delete(name);
    for (const read of this.reads) {
      if (read.name === undefined || dropped.has(read.name)) read.overtaken = true;
    }
  }

  private counted<T>(held: Held<T> | undefined): T | undefined {
    if (!this.enabled) return undefined;
    if (held === undefined || held.expiresAt <= performance.now()) {
      this.counts.misses++;
      return undefined;
    }
    this.counts.hits++;
    return held.value;
  }

  /** Where a finished read may keep its answer, or undefined when it may not. */
  private entryFor(read: LocalRead, name: string): AgentEntry | undefined {
    if (!this.enabled || read.overtaken || read.startedAt + this.ttlMs <= performance.now()) return undefined;
    let entry = this.agents.get(name);
    if (entry === undefined) {
      if (this.agents.size >= this.maxAgents) this.agents.delete(this.agents.keys().next().value ?? '');
      entry = { agent: undefined, certificates: new Map() };
      this.agents.set(name, entry);
    }
    return entry;
  }
}
