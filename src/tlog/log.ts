import { DomainError } from '../errors.ts';
import { type Logger, silentLogger } from '../log/logger.ts';
import { formatCheckpoint } from './checkpoint.ts';
import { newNodes } from './integrate.ts';
import { type NoteSigner, signNote } from './note.ts';
import { consistencyProof, inclusionProof, type NodeId, rootAt } from './proof.ts';
import type { Integration, LogEntry, LogState, StoredCheckpoint, TlogStore } from './store.ts';

export interface TransparencyLogOptions {
  readonly store: TlogStore;
  /** The checkpoint origin line, e.g. atr.local/log. */
  readonly origin: string;
  readonly signer: NoteSigner;
  readonly checkpointIntervalMs: number;
  /** How often to look for sequenced entries (other processes' too); local appends also wake it. */
  readonly integrateIntervalMs?: number;
  readonly maxBatch?: number;
  /** Where failures of the background integration and checkpoints are reported. */
  readonly logger?: Logger;
}

/**
 * The RFC 9162 log of every state change. Entries are sequenced inside the registry's transactions; this class
 * integrates them into the tree in batches, publishes signed checkpoints, and serves entries and proofs.
 */
export class TransparencyLog {
  private readonly store: TlogStore;
  private readonly maxBatch: number;
  private integrating: Promise<LogState> | undefined;
  private timers: NodeJS.Timeout[] = [];
  private stopped = false;
  private notified = false;
  /** The latest checkpoint's size as last seen, and when; proofs up to it need no extra read. */
  private published = 0;
  private publishedSeenAt = 0;

  constructor(private readonly options: TransparencyLogOptions) {
    this.store = options.store;
    this.maxBatch = options.maxBatch ?? 10_000;
  }

  /** Starts background integration and periodic checkpoints. */
  start(): void {
    const every = (ms: number, work: () => Promise<unknown>) => {
      const timer = setInterval(() => {
        if (!this.stopped) void work().catch((error: unknown) => this.failed(error));
      }, ms);
      timer.unref();
      this.timers.push(timer);
    };
    every(this.options.integrateIntervalMs ?? 200, () => this.integrate());
    every(this.options.checkpointIntervalMs, () => this.publishCheckpoint());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    await this.integrating?.catch(() => undefined);
  }

  /**
   * Called after a transaction that sequenced entries commits: integrate soon rather than at the next tick. The
   * changes of one group commit all notify at once; they share one integration, not one each.
   */
  notify(): void {
    if (this.notified) return;
    this.notified = true;
    setImmediate(() => {
      this.notified = false;
      if (!this.stopped) void this.integrate().catch((error: unknown) => this.failed(error));
    });
  }

  /** Integrates everything sequenced so far, in batches; concurrent calls share one run. */
  // Integration and checkpoints run in the background: a failure is logged and the next tick tries again.
  private failed(error: unknown): void {
    (this.options.logger ?? silentLogger).error({ component: 'transparency-log', err: error }, 'transparency log work failed');
  }

  integrate(): Promise<LogState> {
    this.integrating ??= this.integrateAll().finally(() => {
      this.integrating = undefined;
    });
    return this.integrating;
  }

  /**
   * Integrates what is pending and, when the tree grew, signs and stores a new checkpoint; returns the latest.
   * This is how a caller waits for its entry: once it returns, every entry sequenced before the call is provable.
   */
  async publishCheckpoint(): Promise<StoredCheckpoint> {
    const state = await this.integrate();
    const latest = await this.store.latestCheckpoint();
    if (latest && latest.size >= state.integratedSize) return this.seen(latest);
    const body = formatCheckpoint({ origin: this.options.origin, size: state.integratedSize, rootHash: state.rootHash });
    await this.store.saveCheckpoint({
      size: state.integratedSize,
      rootHash: state.rootHash,
      note: signNote(body, this.options.signer),
      createdAt: new Date(),
    });
    // Another process may have published the same size first; what is stored is what was published.
    return this.seen((await this.store.latestCheckpoint()) ?? failure('checkpoint was not stored'));
  }

  latestCheckpoint(): Promise<StoredCheckpoint | undefined> {
    return this.store.latestCheckpoint();
  }

  get verifierKey(): string {
    return this.options.signer.verifierKey;
  }

  async entry(index: number): Promise<LogEntry> {
    const [entry] = await this.store.entries(index, 1);
    if (!entry) throw new DomainError('log_entry_not_found', `log entry ${index} does not exist`);
    return entry;
  }

  entries(from: number, count: number): Promise<LogEntry[]> {
    return this.store.entries(from, count);
  }

  listEntries(filter: { agentName?: string | undefined; eventType?: string | undefined }, afterIndex: number | undefined, limit: number) {
    return this.store.listEntries(filter, afterIndex, limit);
  }

  async entryByLeafHash(leafHash: Uint8Array): Promise<LogEntry> {
    const entry = await this.store.entryByLeafHash(leafHash);
    if (!entry) throw new DomainError('log_entry_not_found', 'no log entry has that leaf hash');
    return entry;
  }

  /** The inclusion proof of entry `index` in the tree of `treeSize` (default: the latest checkpoint's size). */
  async inclusionProof(index: number, treeSize?: number): Promise<{ treeSize: number; hashes: Uint8Array[] }> {
    const size = await this.provableSize(treeSize);
    if (index >= size) {
      throw new DomainError('log_not_ready', `entry ${index} is not in the tree of size ${size} (publish a newer checkpoint or wait for one)`);
    }
    return { treeSize: size, hashes: await inclusionProof(index, size, this.readNodes) };
  }

  async consistencyProof(first: number, second: number): Promise<Uint8Array[]> {
    if (first > second) throw new DomainError('invalid_argument', `first: must not exceed second (${first} > ${second})`);
    await this.provableSize(second);
    return consistencyProof(first, second, this.readNodes);
  }

  /** Hashes of nodes (level, from .. from+count-1): tile contents. */
  nodeRange(level: number, from: number, count: number): Promise<Uint8Array[]> {
    return this.store.nodeRange(level, from, count);
  }

  private readonly readNodes = (nodes: readonly NodeId[]) => this.store.readNodes(nodes);

  /**
   * A tree size that proofs may be asked for: at most the latest checkpoint's, so every answer is signed. Sizes up
   * to the last one seen are answered without a read; anything newer (or the default) is checked in storage.
   */
  private async provableSize(requested: number | undefined): Promise<number> {
    if (requested !== undefined && requested <= this.published) return requested;
    // "The latest checkpoint" may be a second old: checkpoints are published every few seconds anyway.
    const fresh = Date.now() - this.publishedSeenAt < 1000;
    const published = requested === undefined && fresh ? this.published : await this.refreshPublished();
    if (requested === undefined) return published;
    if (requested > published) {
      throw new DomainError('log_not_ready', `tree_size: ${requested} is beyond the latest checkpoint (${published})`);
    }
    return requested;
  }

  private async refreshPublished(): Promise<number> {
    const latest = await this.store.latestCheckpoint();
    if (latest) this.seen(latest);
    else this.publishedSeenAt = Date.now();
    return this.published;
  }

  private seen(checkpoint: StoredCheckpoint): StoredCheckpoint {
    this.published = Math.max(this.published, checkpoint.size);
    this.publishedSeenAt = Date.now();
    return checkpoint;
  }

  private async integrateAll(): Promise<LogState> {
    let state = await this.store.integrate(this.maxBatch, integration);
    while (state.integratedSize < state.nextIndex) state = await this.store.integrate(this.maxBatch, integration);
    return state;
  }
}

/** New nodes for a batch of leaves, and the root of the grown tree read through them. */
const integration: Integration = async (size, leafHashes, read) => {
  const nodes = await newNodes(size, leafHashes, read);
  const fresh = new Map(nodes.map(({ node, hash }) => [`${node.level}/${node.index}`, hash]));
  const root = await rootAt(size + leafHashes.length, async (wanted) => {
    const missing = wanted.filter((node) => !fresh.has(`${node.level}/${node.index}`));
    const stored = missing.length > 0 ? await read(missing) : [];
    const fromStore = new Map(missing.map((node, i) => [`${node.level}/${node.index}`, stored[i]!]));
    return wanted.map((node) => fresh.get(`${node.level}/${node.index}`) ?? fromStore.get(`${node.level}/${node.index}`)!);
  });
  return { nodes, root };
};

function failure(message: string): never {
  throw new Error(message);
}
