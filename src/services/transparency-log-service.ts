import type { ServiceImpl } from '@connectrpc/connect';
import type {
  GetConsistencyProofRequest,
  GetInclusionProofRequest,
  ListEntriesRequest,
  TransparencyLogService,
} from '../../gen/atr/v1/transparency_log_pb.js';
import { DomainError, invalidArgument } from '../errors.ts';
import { checkAuditFilter } from '../registry/fields.ts';
import { decodeLeaf } from '../tlog/leaf.ts';
import type { TransparencyLog } from '../tlog/log.ts';
import type { LogEntry, StoredCheckpoint } from '../tlog/store.ts';
import { timestamp } from './convert.ts';
import { decodePageToken, encodePageToken, pageSize } from './pagination.ts';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

/** TransparencyLogService: entries, checkpoints and proofs of the registry's Merkle log. */
export class TransparencyLogServiceImpl implements ServiceImpl<typeof TransparencyLogService> {
  constructor(private readonly transparencyLog: TransparencyLog | undefined) {}

  private get log(): TransparencyLog {
    if (!this.transparencyLog) {
      throw new DomainError('log_disabled', 'the transparency log is switched off (TRANSPARENCY_LOG_ENABLED=false)');
    }
    return this.transparencyLog;
  }

  async getCheckpoint() {
    const checkpoint = (await this.log.latestCheckpoint()) ?? (await this.log.publishCheckpoint());
    return { ...checkpointMessage(checkpoint), verifierKey: this.log.verifierKey, publishedAt: timestamp(checkpoint.createdAt) };
  }

  async publishCheckpoint() {
    return checkpointMessage(await this.log.publishCheckpoint());
  }

  async getEntry(request: { index: bigint }) {
    return { entry: entryMessage(await this.log.entry(indexOf('index', request.index))) };
  }

  async listEntries(request: ListEntriesRequest) {
    const limit = pageSize('page_size', request.pageSize);
    const entries = await this.log.listEntries(
      checkAuditFilter({ agentName: request.agentName || undefined, eventType: request.eventType || undefined }),
      decodePageToken(request.pageToken),
      limit,
    );
    const last = entries.at(-1);
    return {
      entries: entries.map(entryMessage),
      nextPageToken: last && entries.length === limit ? encodePageToken(last.index) : '',
    };
  }

  async getInclusionProof(request: GetInclusionProofRequest) {
    const entry = request.leafHash
      ? await this.log.entryByLeafHash(hashOf('leaf_hash', request.leafHash))
      : await this.log.entry(indexOf('index', request.index));
    const treeSize = request.treeSize === 0n ? undefined : indexOf('tree_size', request.treeSize);
    const proof = await this.log.inclusionProof(entry.index, treeSize);
    return {
      index: BigInt(entry.index),
      treeSize: BigInt(proof.treeSize),
      leafHash: hex(entry.leafHash),
      hashes: proof.hashes.map(hex),
    };
  }

  async getConsistencyProof(request: GetConsistencyProofRequest) {
    const latest = await this.log.latestCheckpoint();
    const second = request.second === 0n ? (latest?.size ?? 0) : indexOf('second', request.second);
    const first = indexOf('first', request.first);
    const hashes = await this.log.consistencyProof(first, second);
    return { first: BigInt(first), second: BigInt(second), hashes: hashes.map(hex) };
  }
}

function checkpointMessage(checkpoint: StoredCheckpoint) {
  return { checkpoint: checkpoint.note, treeSize: BigInt(checkpoint.size), rootHash: hex(checkpoint.rootHash) };
}

function entryMessage(entry: LogEntry) {
  const event = decodeLeaf(entry.data);
  return {
    index: BigInt(entry.index),
    data: entry.data,
    leafHash: hex(entry.leafHash),
    event: {
      eventType: event.event_type,
      agentName: event.agent_name,
      certFingerprint: event.cert_fingerprint,
      certSerial: event.cert_serial,
      status: event.status,
      reason: event.reason,
      timestamp: event.timestamp,
      actor: event.actor,
    },
  };
}

function indexOf(field: string, value: bigint): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw invalidArgument(field, 'is beyond any log size');
  return Number(value);
}

function hashOf(field: string, value: string): Uint8Array {
  if (!/^[0-9a-f]{64}$/i.test(value)) throw invalidArgument(field, 'must be 64 hex digits (a SHA-256 hash)');
  return Buffer.from(value, 'hex');
}
