import { Code, type Client, createClient } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { TransparencyLogService } from '../../gen/atr/v1/transparency_log_pb.js';
import { VerifyService } from '../../gen/atr/v1/verify_pb.js';
import type { App } from '../../src/server/app.ts';
import { parseCheckpoint } from '../../src/tlog/checkpoint.ts';
import { newLogEntry } from '../../src/tlog/entry.ts';
import { leafHash } from '../../src/tlog/hash.ts';
import { openNote } from '../../src/tlog/note.ts';
import { verifyConsistency, verifyInclusion } from '../../src/tlog/verify.ts';
import { dialects } from '../support/databases.ts';
import { rpcError } from '../support/rpc.ts';
import { inProcessApp, runningServer } from '../support/server.ts';

const unhex = (hex: string) => new Uint8Array(Buffer.from(hex, 'hex'));

describe.each(dialects)('transparency log on %s', (dialect) => {
  let app: App;
  let cleanup: () => Promise<void>;
  let registry: Client<typeof RegistryService>;
  let verify: Client<typeof VerifyService>;
  let log: Client<typeof TransparencyLogService>;

  beforeAll(async () => {
    const started = await inProcessApp(dialect);
    app = started.app;
    cleanup = started.cleanup;
    registry = createClient(RegistryService, started.transport);
    verify = createClient(VerifyService, started.transport);
    log = createClient(TransparencyLogService, started.transport);
  });
  afterAll(() => cleanup());

  /** The signed checkpoint, opened with the server's verifier key. */
  async function checkpoint() {
    const published = await log.publishCheckpoint({});
    const { verifierKey } = await log.getCheckpoint({});
    const { text } = openNote(published.checkpoint, verifierKey);
    return parseCheckpoint(text);
  }

  it('logs every change in its transaction and proves each one against a signed checkpoint', async () => {
    const agentName = `logged.${dialect}.example`;
    const registered = await registry.registerAgent({ agentName, owner: 'o' });
    const updated = await registry.updateAgent({ agentName, description: 'd' });
    const rotated = await registry.rotateCertificate({ agentName });
    const revoked = await registry.revokeAgent({ agentName, reason: 'keyCompromise' });
    const indexes = [registered.logIndex, updated.logIndex, rotated.logIndex, revoked.logIndex].map(Number);
    expect(indexes).toEqual([indexes[0]!, indexes[0]! + 1, indexes[0]! + 2, indexes[0]! + 3]);

    const listed = await log.listEntries({ agentName });
    expect(listed.entries.map((e) => e.event?.eventType)).toEqual(['agent.registered', 'agent.updated', 'agent.rotated', 'agent.revoked']);
    const revokedEntry = listed.entries[3]!;
    expect(revokedEntry.event).toMatchObject({ agentName, status: 'revoked', reason: 'keyCompromise', certFingerprint: revoked.agent!.certFingerprint });
    expect(Buffer.from(leafHash(revokedEntry.data)).toString('hex')).toBe(revokedEntry.leafHash);

    const signed = await checkpoint();
    expect(signed.origin).toBe('atr.local/log');
    for (const index of indexes) {
      const proof = await log.getInclusionProof({ index: BigInt(index) });
      expect(Number(proof.treeSize)).toBe(signed.size);
      const { entry } = await log.getEntry({ index: BigInt(index) });
      expect(verifyInclusion(leafHash(entry!.data), index, signed.size, proof.hashes.map(unhex), signed.rootHash)).toBe(true);
      // By leaf hash too.
      const byHash = await log.getInclusionProof({ leafHash: entry!.leafHash });
      expect(byHash.index).toBe(BigInt(index));
    }
  });

  it('keeps every checkpoint consistent with the ones before', async () => {
    const first = await checkpoint();
    await registry.registerAgent({ agentName: `grow.${dialect}.example`, owner: 'o' });
    const second = await checkpoint();
    expect(second.size).toBe(first.size + 1);
    const proof = await log.getConsistencyProof({ first: BigInt(first.size), second: BigInt(second.size) });
    expect(verifyConsistency(first.size, second.size, first.rootHash, second.rootHash, proof.hashes.map(unhex))).toBe(true);
    expect(verifyConsistency(first.size, second.size, second.rootHash, second.rootHash, proof.hashes.map(unhex))).toBe(false);
  });

  it('adds no leaf for a refused request, and no leaf for verifications unless configured', async () => {
    const before = (await app.log!.integrate()).nextIndex;
    await rpcError(registry.registerAgent({ agentName: 'Bad Name', owner: 'o' }));
    await rpcError(registry.revokeAgent({ agentName: `nobody.${dialect}.example` }));
    const { certPem } = await registry.registerAgent({ agentName: `verified.${dialect}.example`, owner: 'o' });
    await verify.verifyCertificate({ certPem });
    expect((await app.log!.integrate()).nextIndex).toBe(before + 1);
  });

  it('refuses proofs beyond the latest checkpoint and unknown entries', async () => {
    const signed = await checkpoint();
    const beyond = await rpcError(log.getInclusionProof({ index: 0n, treeSize: BigInt(signed.size + 5) }));
    expect(beyond.code).toBe(Code.FailedPrecondition);
    expect((await rpcError(log.getEntry({ index: 10_000_000n }))).code).toBe(Code.NotFound);
    expect((await rpcError(log.getInclusionProof({ leafHash: 'zz' }))).code).toBe(Code.InvalidArgument);
  });

  it('gives 50 concurrent registrations 50 distinct leaves', async () => {
    const owner = `log-bulk-${dialect}`;
    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, i) => registry.registerAgent({ agentName: `bulk-${i}.log.${dialect}.example`, owner })),
    );
    const indexes = new Set(responses.map((r) => Number(r.logIndex)));
    expect(indexes.size).toBe(50);
    await checkpoint();
    let registers = 0;
    let pageToken = '';
    do {
      const page = await log.listEntries({ eventType: 'agent.registered', pageSize: 100, pageToken });
      registers += page.entries.filter((e) => e.event?.agentName.endsWith(`.log.${dialect}.example`) && e.event.agentName.startsWith('bulk-')).length;
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(registers).toBe(50);
  });
});

describe.each(dialects)('tlog-tiles over HTTP on %s', (dialect) => {
  let url: string;
  let app: App;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    const started = await runningServer(dialect);
    url = started.server.url;
    app = started.server.app;
    cleanup = started.cleanup;
    // 300 entries, sequenced straight into the store in one transaction: enough for a full tile and a partial one.
    await app.store.transaction(async (tx) => {
      for (let i = 0; i < 300; i++) {
        await tx.appendLogEntry(
          newLogEntry({ event_type: 'agent.updated', agent_name: `tile-${i}.example`, cert_fingerprint: '', cert_serial: '', status: 'active', reason: '', timestamp: new Date(0).toISOString(), actor: 'test' }),
          new Date(),
        );
      }
    });
    await app.log!.publishCheckpoint();
  });
  afterAll(() => cleanup());

  it('serves the checkpoint, the key, hash tiles and entry bundles per the tlog-tiles spec', async () => {
    const key = (await (await fetch(`${url}/log/key`)).text()).trim();
    const note = await (await fetch(`${url}/log/checkpoint`)).text();
    const signed = parseCheckpoint(openNote(note, key).text);
    expect(signed.size).toBe(300);

    const full = await fetch(`${url}/log/tile/0/000`);
    expect(full.status).toBe(200);
    expect(full.headers.get('cache-control')).toContain('immutable');
    const hashes = Buffer.from(await full.arrayBuffer());
    expect(hashes.length).toBe(256 * 32);

    const bundle = Buffer.from(await (await fetch(`${url}/log/tile/entries/000`)).arrayBuffer());
    const leaves: Buffer[] = [];
    for (let at = 0; at < bundle.length; ) {
      const length = bundle.readUInt16BE(at);
      leaves.push(bundle.subarray(at + 2, at + 2 + length));
      at += 2 + length;
    }
    expect(leaves).toHaveLength(256);
    leaves.forEach((leaf, i) => expect(Buffer.from(leafHash(leaf))).toEqual(hashes.subarray(i * 32, (i + 1) * 32)));

    const partial = await fetch(`${url}/log/tile/0/001.p/44`);
    expect(partial.status).toBe(200);
    expect(Buffer.from(await partial.arrayBuffer()).length).toBe(44 * 32);
    expect((await fetch(`${url}/log/tile/0/001.p/45`)).status).toBe(404);
    expect((await fetch(`${url}/log/tile/0/001`)).status).toBe(404);
    // Level 1 holds the root of each full level-0 tile: the hash of 256 leaves.
    const level1 = Buffer.from(await (await fetch(`${url}/log/tile/1/000.p/1`)).arrayBuffer());
    expect(level1.length).toBe(32);
    expect((await fetch(`${url}/log/tile/0/x001`)).status).toBe(404);
  });

  it('answers REST reads with hex hashes and 64-bit integers as numbers', async () => {
    const root = (await (await fetch(`${url}/v1/log/root`)).json()) as { root_hash: string };
    expect(root).toMatchObject({ tree_size: 300 });
    expect(root.root_hash).toMatch(/^[0-9a-f]{64}$/);
    const proof = (await (await fetch(`${url}/v1/log/entries/7/proof`)).json()) as { hashes: string[] };
    expect(proof).toMatchObject({ index: 7, tree_size: 300 });
    expect(proof.hashes.every((h: string) => /^[0-9a-f]{64}$/.test(h))).toBe(true);
    const consistency = (await (await fetch(`${url}/v1/log/consistency?first=10&second=300`)).json()) as { hashes: string[] };
    expect(consistency.hashes.length).toBeGreaterThan(0);
    const entry = await (await fetch(`${url}/v1/log/entries/3`)).json();
    expect(entry).toMatchObject({ index: 3, event: { agent_name: 'tile-3.example' } });
  });
});

describe('with verifications logged', () => {
  it('appends a leaf per verification, in the same transaction as its audit event', async () => {
    const started = await inProcessApp('sqlite', { transparencyLogVerifyEvents: true });
    try {
      const registry = createClient(RegistryService, started.transport);
      const verify = createClient(VerifyService, started.transport);
      const log = createClient(TransparencyLogService, started.transport);
      const { certPem } = await registry.registerAgent({ agentName: 'watched.example', owner: 'o' });
      await verify.verifyCertificate({ certPem });
      // Well-formed DER, but not a certificate: a verification that fails as malformed.
      await verify.verifyCertificate({ certDer: Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x01) });
      await log.publishCheckpoint({});
      const events = (await log.listEntries({ eventType: 'cert.verified' })).entries.map((e) => e.event);
      expect(events).toMatchObject([
        { agentName: 'watched.example', reason: 'verified', status: 'active' },
        { agentName: '', reason: 'malformed' },
      ]);
    } finally {
      await started.cleanup();
    }
  });
});

describe('with the log switched off', () => {
  it('answers FailedPrecondition and leaves log_index out', async () => {
    const started = await runningServer('sqlite', { transparencyLogEnabled: false });
    try {
      const { createConnectTransport } = await import('@connectrpc/connect-node');
      const transport = createConnectTransport({ baseUrl: started.server.url, httpVersion: '1.1' });
      const registered = await createClient(RegistryService, transport).registerAgent({ agentName: 'nolog.example', owner: 'o' });
      expect(registered.logIndex).toBeUndefined();
      const error = await rpcError(createClient(TransparencyLogService, transport).getCheckpoint({}));
      expect(error.code).toBe(Code.FailedPrecondition);
      expect((await fetch(`${started.server.url}/log/checkpoint`)).status).toBe(404);
    } finally {
      await started.cleanup();
    }
  });
});
