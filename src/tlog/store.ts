import type { NodeId } from './tree-math.ts';

export interface LogState {
  /** The index the next entry will get: entries [0, nextIndex) are sequenced. */
  readonly nextIndex: number;
  /** Entries [0, integratedSize) are in the tree; rootHash is its root. */
  readonly integratedSize: number;
  readonly rootHash: Uint8Array;
}

export interface LogEntry {
  readonly index: number;
  readonly data: Uint8Array;
  readonly leafHash: Uint8Array;
  readonly agentName: string;
  readonly eventType: string;
  readonly createdAt: Date;
}

export interface NewLogEntry {
  readonly data: Uint8Array;
  readonly leafHash: Uint8Array;
  readonly agentName: string;
  readonly eventType: string;
}

export interface StoredCheckpoint {
  readonly size: number;
  readonly rootHash: Uint8Array;
  /** The signed note, as published. */
  readonly note: string;
  readonly createdAt: Date;
}

/** Turns a batch of new leaf hashes into the tree nodes to store and the new root. */
export type Integration = (
  size: number,
  leafHashes: readonly Uint8Array[],
  read: (nodes: readonly NodeId[]) => Promise<Uint8Array[]>,
) => Promise<{ nodes: { node: NodeId; hash: Uint8Array }[]; root: Uint8Array }>;

/** The log's storage. Sequencing happens inside registry transactions (RegistryTx.appendLogEntry). */
export interface TlogStore {
  state(): Promise<LogState>;
  /**
   * Under the sequencer lock: reads up to maxBatch sequenced but unintegrated leaf hashes, stores the nodes
   * `integration` computes and the new size and root, all in one transaction. Safe to run from many processes.
   */
  integrate(maxBatch: number, integration: Integration): Promise<LogState>;
  /** Stored perfect-subtree hashes, in the order asked, in one query. */
  readNodes(nodes: readonly NodeId[]): Promise<Uint8Array[]>;
  /** Consecutive node hashes of one level: a tile's contents. */
  nodeRange(level: number, from: number, count: number): Promise<Uint8Array[]>;
  entries(from: number, count: number): Promise<LogEntry[]>;
  entryByLeafHash(leafHash: Uint8Array): Promise<LogEntry | undefined>;
  listEntries(
    filter: { agentName?: string | undefined; eventType?: string | undefined },
    afterIndex: number | undefined,
    limit: number,
  ): Promise<LogEntry[]>;
  latestCheckpoint(): Promise<StoredCheckpoint | undefined>;
  /** Keeps the first checkpoint published for a size; a second one for the same size is ignored. */
  saveCheckpoint(checkpoint: StoredCheckpoint): Promise<void>;
}
