// Crash safety: a registry killed with SIGKILL while registrations stream in and checkpoints are being published
// loses no acknowledged change, leaves no gap in its log, and after a restart signs a tree that is consistent with
// every checkpoint it published before the crash.
import { setTimeout as sleep } from 'node:timers/promises';
import { type Client, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { type LogEntry, TransparencyLogService } from '../../gen/atr/v1/transparency_log_pb.js';
import { parseCheckpoint } from '../../src/tlog/checkpoint.ts';
import { leafHash } from '../../src/tlog/hash.ts';
import { decodeLeaf } from '../../src/tlog/leaf.ts';
import { openNote } from '../../src/tlog/note.ts';
import { verifyConsistency, verifyInclusion } from '../../src/tlog/verify.ts';
import { dialects } from '../support/databases.ts';
import { type ServerProcess, processEnvironment, serverProcess } from '../support/server-process.ts';

const IN_FLIGHT = 8;
// The kill comes once this many registrations are acknowledged and this many checkpoints of a growing tree were seen.
const ACKNOWLEDGED_BEFORE_KILL = 150;
const CHECKPOINTS_BEFORE_KILL = 3;
const CHECKPOINT_POLL_MS = 200;

interface Acknowledged {
  readonly agentName: string;
  readonly logIndex: number;
}

interface SeenCheckpoint {
  readonly note: string;
  readonly size: number;
  readonly rootHex: string;
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const unhex = (text: string) => new Uint8Array(Buffer.from(text, 'hex'));

describe.each(dialects)('a registry killed mid-stream on %s', (dialect) => {
  const owner = `crash-${dialect}`;
  let env: NodeJS.ProcessEnv;
  let cleanup: () => Promise<void>;
  const servers: ServerProcess[] = [];

  beforeAll(async () => {
    ({ env, cleanup } = await processEnvironment(dialect, { CHECKPOINT_INTERVAL: '1' }));
  });
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop()));
    await cleanup?.();
  });

  async function start(): Promise<ServerProcess> {
    const server = await serverProcess(env);
    servers.push(server);
    return server;
  }

  it('keeps every acknowledged registration, a gap-free log and consistent checkpoints after kill -9', async () => {
    const { acknowledged, checkpoints, verifierKey } = await streamUntilKilled(await start(), owner);
    expect(acknowledged.length).toBeGreaterThanOrEqual(ACKNOWLEDGED_BEFORE_KILL);
    expect(checkpoints.length).toBeGreaterThanOrEqual(CHECKPOINTS_BEFORE_KILL);

    const restarted = await start();
    const transport = createConnectTransport({ baseUrl: restarted.url, httpVersion: '2' });
    const registry = createClient(RegistryService, transport);
    const log = createClient(TransparencyLogService, transport);

    // A new checkpoint over everything sequenced before the crash, signed by the key clients trusted before it.
    const published = await log.publishCheckpoint({});
    expect((await log.getCheckpoint({})).verifierKey).toBe(verifierKey);
    const signed = parseCheckpoint(openNote(published.checkpoint, verifierKey).text);
    expect(signed.size).toBe(Number(published.treeSize));

    // No gaps: entries 0 .. size-1, each hashing to its leaf hash and holding one registration of this stream.
    const entries = await allEntries(log);
    expect(entries.map((entry) => Number(entry.index))).toEqual(Array.from({ length: signed.size }, (_, i) => i));
    const events = entries.map((entry) => {
      expect(hex(leafHash(entry.data))).toBe(entry.leafHash);
      return decodeLeaf(entry.data);
    });
    for (const event of events) expect(event).toMatchObject({ event_type: 'agent.registered', status: 'active' });
    const logged = events.map((event) => event.agent_name);
    expect(new Set(logged).size).toBe(logged.length);

    // Every acknowledged registration is its own leaf, at the index it was acknowledged with, in the signed tree.
    for (const { agentName, logIndex } of acknowledged) expect(events[logIndex]?.agent_name).toBe(agentName);
    await eachLimited(acknowledged, async ({ logIndex }) => {
      const proof = await log.getInclusionProof({ index: BigInt(logIndex) });
      expect(Number(proof.treeSize)).toBe(signed.size);
      const leaf = unhex(entries[logIndex]!.leafHash);
      expect(verifyInclusion(leaf, logIndex, signed.size, proof.hashes.map(unhex), signed.rootHash)).toBe(true);
    });

    // A leaf commits with its change: every logged agent exists (acknowledged ones among them), and no agent
    // exists without its leaf.
    await eachLimited(logged, async (agentName) => {
      const { agent } = await registry.getAgent({ agentName });
      expect(agent?.agentName).toBe(agentName);
    });
    expect((await registry.listAgents({ owner, limit: 1 })).total).toBe(logged.length);

    // Every checkpoint seen before the crash was signed by this key and is a prefix of the new tree.
    for (const seen of checkpoints) {
      const before = parseCheckpoint(openNote(seen.note, verifierKey).text);
      expect([before.size, hex(before.rootHash)]).toEqual([seen.size, seen.rootHex]);
      const proof = await log.getConsistencyProof({ first: BigInt(seen.size), second: BigInt(signed.size) });
      expect(verifyConsistency(seen.size, signed.size, before.rootHash, signed.rootHash, proof.hashes.map(unhex))).toBe(true);
    }
  }, 60_000);
});

/**
 * Keeps IN_FLIGHT registrations going and polls the checkpoint until enough of both were seen, then kills the
 * server with SIGKILL while the registrations in flight are still being served.
 */
async function streamUntilKilled(
  server: ServerProcess,
  owner: string,
): Promise<{ acknowledged: Acknowledged[]; checkpoints: SeenCheckpoint[]; verifierKey: string }> {
  const transport = createConnectTransport({ baseUrl: server.url, httpVersion: '2' });
  const registry = createClient(RegistryService, transport);
  const log = createClient(TransparencyLogService, transport);
  const acknowledged: Acknowledged[] = [];
  const checkpoints = new Map<number, SeenCheckpoint>();
  let verifierKey = '';
  let killed = false;
  let next = 0;
  const kill = () => {
    killed = true;
    server.child.kill('SIGKILL');
  };
  const killWhenDue = () => {
    const grown = [...checkpoints.keys()].filter((size) => size > 0).length;
    if (!killed && acknowledged.length >= ACKNOWLEDGED_BEFORE_KILL && grown >= CHECKPOINTS_BEFORE_KILL) kill();
  };
  // A call that fails after the kill was never acknowledged; one that fails before it is a bug, and ends the stream.
  const untilKilled = async (call: () => Promise<void>) => {
    while (!killed) {
      try {
        await call();
      } catch (error) {
        if (killed) return;
        kill();
        throw error;
      }
      killWhenDue();
    }
  };
  const register = () =>
    untilKilled(async () => {
      const agentName = `agent-${next++}.${owner}.example`;
      const { logIndex } = await registry.registerAgent({ agentName, owner });
      if (logIndex === undefined) throw new Error(`${agentName}: registered without a log index`);
      acknowledged.push({ agentName, logIndex: Number(logIndex) });
    });
  const watch = () =>
    untilKilled(async () => {
      const latest = await log.getCheckpoint({});
      verifierKey = latest.verifierKey;
      checkpoints.set(Number(latest.treeSize), { note: latest.checkpoint, size: Number(latest.treeSize), rootHex: latest.rootHash });
      await sleep(CHECKPOINT_POLL_MS);
    });
  await Promise.all([...Array.from({ length: IN_FLIGHT }, register), watch()]);
  await server.exited;
  return { acknowledged, checkpoints: [...checkpoints.values()], verifierKey };
}

async function allEntries(log: Client<typeof TransparencyLogService>): Promise<LogEntry[]> {
  const entries: LogEntry[] = [];
  let pageToken = '';
  do {
    const page = await log.listEntries({ pageSize: 500, pageToken });
    entries.push(...page.entries);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return entries;
}

/** Runs `work` for every item, IN_FLIGHT at a time. */
async function eachLimited<T>(items: readonly T[], work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
}
