import { spawn } from 'node:child_process';
import { type KeyObject, generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ATR_NODE_ARGS, type CliResult, runAtr } from '../support/cli.ts';
import { type DescMessage, type MessageShape, fromBinary, toBinary } from '@bufbuild/protobuf';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  GetCheckpointResponseSchema,
  GetConsistencyProofResponseSchema,
  GetEntryResponseSchema,
  GetInclusionProofResponseSchema,
} from '../../gen/atr/v1/transparency_log_pb.js';
import { configWith } from '../../src/config/load.ts';
import { writeCaKey } from '../../src/pki/ca-key.ts';
import { createRegistryClient } from '../../src/sdk/client.ts';
import { type RunningServer, startServer } from '../../src/server/server.ts';
import { formatCheckpoint } from '../../src/tlog/checkpoint.ts';
import { leafHash } from '../../src/tlog/hash.ts';
import type { TransparencyLog } from '../../src/tlog/log.ts';
import { type NoteSigner, createNoteSigner, signNote } from '../../src/tlog/note.ts';

const ORIGIN = 'log.cli.test/atr';

type Result = CliResult;

/** Rewrites the (binary Connect) response of one TransparencyLogService method on its way through the proxy. */
interface Tamper {
  readonly method: string;
  rewrite(body: Uint8Array): Uint8Array;
}

function tamperWith<Desc extends DescMessage>(method: string, schema: Desc, edit: (message: MessageShape<Desc>) => void): Tamper {
  return {
    method,
    rewrite(body) {
      const message = fromBinary(schema, body);
      edit(message);
      return toBinary(schema, message);
    },
  };
}

let tmp: string;
let server: RunningServer;
let log: TransparencyLog;
let logSigner: NoteSigner;
let proxy: { url: string; close(): Promise<void> };
let tamper: Tamper | undefined;
let tampered = 0;
/** The log indexes of the first agents registered. */
let logged: number[] = [];

const atr = (args: readonly string[]): Promise<Result> => runAtr(args, tmp, { KEYS_ROOT_DIR: join(tmp, 'keys') });

const against = (...args: string[]) => atr([...args, '--server', server.url]);
const throughProxy = (...args: string[]) => atr([...args, '--server', proxy.url]);

/** An Ed25519 signer for the log's origin whose verifier key has a '+' in its base64, as about half of real keys do. */
function signerWithPlus(): { signer: NoteSigner; privateKey: KeyObject } {
  for (;;) {
    const { privateKey } = generateKeyPairSync('ed25519');
    const signer = createNoteSigner(ORIGIN, privateKey);
    if (signer.verifierKey.split('+').length > 3) return { signer, privateKey };
  }
}

/** A proxy in front of the server that passes everything through, except what `tamper` rewrites. */
async function startProxy(target: string): Promise<{ url: string; close(): Promise<void> }> {
  const upstream = new URL(target);
  const listener = createServer((req, res) => {
    const headers = { ...req.headers };
    // Uncompressed answers, so they can be read and rewritten.
    delete headers['accept-encoding'];
    delete headers['connect-accept-encoding'];
    const forward = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (answer) => {
      const chunks: Buffer[] = [];
      answer.on('data', (chunk: Buffer) => chunks.push(chunk));
      answer.on('end', () => {
        let body: Uint8Array = Buffer.concat(chunks);
        const binary = answer.headers['content-type'] === 'application/proto';
        if (tamper !== undefined && req.url?.endsWith(`/${tamper.method}`) && answer.statusCode === 200 && binary) {
          try {
            body = tamper.rewrite(body);
            tampered += 1;
          } catch {
            res.destroy();
            return;
          }
        }
        const outHeaders = { ...answer.headers, 'content-length': String(body.length) };
        delete outHeaders['transfer-encoding'];
        res.writeHead(answer.statusCode ?? 502, outHeaders);
        res.end(body);
      });
    });
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const address = listener.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        listener.closeAllConnections();
        listener.close(() => resolve());
      }),
  };
}

/** The same hex string with its first digit changed. */
const flipped = (hex: string) => `${hex.startsWith('0') ? '1' : '0'}${hex.slice(1)}`;
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const changedLeafHash = tamperWith('GetEntry', GetEntryResponseSchema, ({ entry }) => {
  if (entry !== undefined) entry.leafHash = flipped(entry.leafHash);
});
const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

async function register(...names: string[]): Promise<number[]> {
  const { registry } = createRegistryClient({ baseUrl: server.url });
  const indexes: number[] = [];
  for (const agentName of names) {
    const response = await registry.registerAgent({ agentName, owner: 'log-test' });
    if (response.logIndex === undefined) throw new Error(`no log index for ${agentName}`);
    indexes.push(Number(response.logIndex));
  }
  return indexes;
}

async function latest(): Promise<{ size: number; rootHash: Uint8Array; note: string }> {
  const checkpoint = await log.latestCheckpoint();
  if (checkpoint === undefined) throw new Error('no checkpoint yet');
  return checkpoint;
}

/** A checkpoint signed with the log's own key: what a log that shows different views to different clients could publish. */
const forged = (size: number, rootHash: Uint8Array) => signNote(formatCheckpoint({ origin: ORIGIN, size, rootHash }), logSigner);

function writeState(path: string, note: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify({ verifier_key: logSigner.verifierKey, checkpoint: note }));
}

const storedNote = (path: string) => (JSON.parse(readFileSync(path, 'utf8')) as { checkpoint: string }).checkpoint;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'atr-cli-log-'));
  const pki = join(tmp, 'pki');
  mkdirSync(pki, { recursive: true, mode: 0o700 });
  const made = signerWithPlus();
  logSigner = made.signer;
  writeCaKey(join(pki, 'log.key'), made.privateKey, undefined);
  // Checkpoints only when a test publishes one, so every size below is the one the test expects.
  server = await startServer(
    configWith({
      port: 0,
      mtlsPort: 0,
      databaseUrl: `sqlite:///${tmp}/atr.db`,
      pkiRootDir: pki,
      transparencyLogOrigin: ORIGIN,
      checkpointInterval: 86_400,
    }),
  );
  if (server.app.log === undefined) throw new Error('the transparency log is off');
  log = server.app.log;
  proxy = await startProxy(server.url);
  logged = await register('one.log.test', 'two.log.test', 'three.log.test');
});

afterAll(async () => {
  await proxy?.close();
  await server?.close();
  rmSync(tmp, { recursive: true, force: true });
});

beforeEach(() => {
  tamper = undefined;
  tampered = 0;
});

describe('atr log', () => {
  it("checkpoint --publish verifies the new checkpoint's signature, with the reported or a pinned key", async () => {
    expect(logSigner.verifierKey).toBe(log.verifierKey);
    const published = await against('log', 'checkpoint', '--publish');
    expect(published.stderr).toBe('');
    expect(published.code).toBe(0);
    const { size, rootHash, note } = await latest();
    expect(size).toBe(logged.length);
    expect(published.stdout).toMatch(new RegExp(`origin:\\s+${ORIGIN}\n`));
    expect(published.stdout).toMatch(new RegExp(`size:\\s+${size}\n`));
    expect(published.stdout).toMatch(new RegExp(`root hash:\\s+${hex(rootHash)}\n`));
    expect(published.stdout).toMatch(/signature:\s+verified with the key the server reports/);
    expect(published.stdout).toContain(note.trimEnd());

    const pinned = await against('log', 'checkpoint', '--key', logSigner.verifierKey);
    expect(pinned.code).toBe(0);
    expect(pinned.stdout).toMatch(/signature:\s+verified with the pinned key/);
    const keyFile = join(tmp, 'log.vkey');
    writeFileSync(keyFile, `${logSigner.verifierKey}\n`);
    const fromFile = await against('log', 'checkpoint', '--key-file', keyFile);
    expect(fromFile.code).toBe(0);
    expect(fromFile.stdout).toMatch(/signature:\s+verified with the pinned key/);
  });

  it('checkpoint with a pinned key that did not sign it fails', async () => {
    const other = signerWithPlus().signer;
    const { code, stdout, stderr } = await against('log', 'checkpoint', '--key', other.verifierKey);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toContain(`does not verify with the key ${other.verifierKey}`);
  });

  it('checkpoint fails when the size reported beside the note is not the signed one', async () => {
    tamper = tamperWith('GetCheckpoint', GetCheckpointResponseSchema, (response) => {
      response.treeSize += 1n;
    });
    const { code, stderr } = await throughProxy('log', 'checkpoint');
    expect(tampered).toBe(1);
    expect(stderr).toMatch(new RegExp(`the server reports size ${logged.length + 1} .* but its signed checkpoint says size ${logged.length} `));
    expect(code).toBe(1);
  });

  it('prove prints OK and exits 0 for every logged change', async () => {
    expect(logged).toEqual([0, 1, 2]);
    for (const index of logged) {
      const { code, stdout, stderr } = await against('log', 'prove', String(index), '--key', logSigner.verifierKey);
      expect(stderr).toBe('');
      expect(stdout).toMatch(new RegExp(`^OK: entry ${index} is in the signed tree of size ${logged.length}\n`));
      expect(stdout).toMatch(new RegExp(`leaf hash:\\s+${hex((await log.entry(index)).leafHash)}\n`));
      expect(code).toBe(0);
    }
    const overGrpc = await against('log', 'prove', '2', '--protocol', 'grpc');
    expect(overGrpc.stdout).toMatch(/^OK: entry 2 /);
    expect(overGrpc.code).toBe(0);
  });

  it('prove fails with exit 1 when one hex digit of a proof hash is changed on the way', async () => {
    const untouched = await throughProxy('log', 'prove', '1');
    expect(untouched.stdout).toMatch(/^OK: /);
    expect(untouched.code).toBe(0);

    let original = '';
    let changed = '';
    tamper = tamperWith('GetInclusionProof', GetInclusionProofResponseSchema, ({ hashes }) => {
      original = hashes[0] ?? '';
      changed = flipped(original);
      hashes[0] = changed;
    });
    const { code, stdout } = await throughProxy('log', 'prove', '1');
    expect(tampered).toBe(1);
    expect(original).toMatch(/^[0-9a-f]{64}$/);
    expect(stdout).toMatch(/^FAIL: the inclusion proof does not lead from the entry's leaf hash to the checkpoint's root\n/);
    expect(stdout).toContain(changed);
    expect(code).toBe(1);
  });

  it('prove fails when the entry data does not hash to the reported leaf hash', async () => {
    tamper = changedLeafHash;
    const { code, stdout } = await throughProxy('log', 'prove', '0');
    expect(tampered).toBe(1);
    expect(stdout).toMatch(/^FAIL: the server reports leaf hash [0-9a-f]{64}, but the entry's data hashes to/);
    expect(code).toBe(1);
  });

  it('entry shows the event and checks the leaf hash against the data', async () => {
    const stored = await log.entry(2);
    const { code, stdout, stderr } = await against('log', 'entry', '2');
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(/index:\s+2\n/);
    expect(stdout).toMatch(new RegExp(`leaf hash:\\s+${hex(leafHash(stored.data))}\n`));
    expect(stdout).toMatch(/event:\s+agent\.registered\n/);
    expect(stdout).toMatch(/agent:\s+three\.log\.test\n/);
    expect(stdout).toMatch(/status:\s+active\n/);

    tamper = changedLeafHash;
    const lied = await throughProxy('log', 'entry', '2');
    expect(tampered).toBe(1);
    expect(lied.stderr).toContain(`the entry's data hashes to ${hex(stored.leafHash)}`);
    expect(lied.code).toBe(1);
  });

  it('consistency: OK from a root verified earlier, FAIL on a changed proof or a wrong root, UNVERIFIABLE without a root', async () => {
    const before = await latest();
    await register('four.log.test', 'five.log.test');
    expect((await against('log', 'checkpoint', '--publish')).code).toBe(0);
    const after = await latest();
    expect(after.size).toBe(before.size + 2);
    const firstRoot = hex(before.rootHash);

    const ok = await against('log', 'consistency', String(before.size), '--first-root', firstRoot);
    expect(ok.stdout).toMatch(new RegExp(`^OK: the tree of size ${after.size} extends the tree of size ${before.size}\n`));
    expect(ok.stdout).toMatch(new RegExp(`second root:\\s+${hex(after.rootHash)}\n`));
    expect(ok.code).toBe(0);

    const explicit = await against('log', 'consistency', String(before.size), String(after.size), '--first-root', firstRoot);
    expect(explicit.code).toBe(0);

    const wrongRoot = await against('log', 'consistency', String(before.size), '--first-root', flipped(firstRoot));
    expect(wrongRoot.stdout).toMatch(/^FAIL: the consistency proof does not show/);
    expect(wrongRoot.code).toBe(1);

    const unverifiable = await against('log', 'consistency', String(before.size));
    expect(unverifiable.stdout).toMatch(new RegExp(`^UNVERIFIABLE: no trusted root for size ${before.size}`));
    expect(unverifiable.code).toBe(1);

    tamper = tamperWith('GetConsistencyProof', GetConsistencyProofResponseSchema, ({ hashes }) => {
      hashes[hashes.length - 1] = flipped(hashes.at(-1) ?? '');
    });
    const changed = await throughProxy('log', 'consistency', String(before.size), '--first-root', firstRoot);
    expect(tampered).toBe(1);
    expect(changed.stdout).toMatch(/^FAIL: /);
    expect(changed.code).toBe(1);
  });

  it('monitor --once trusts the first checkpoint, then verifies growth and updates its state file', async () => {
    const state = join(tmp, 'monitor', 'state.json');
    const first = await against('log', 'monitor', '--once', '--state', state);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`trusting the server's key ${logSigner.verifierKey} on first use`);
    const start = await latest();
    expect(storedNote(state)).toBe(start.note);

    await register('six.log.test', 'seven.log.test', 'eight.log.test');
    expect((await against('log', 'checkpoint', '--publish')).code).toBe(0);
    const grown = await latest();
    expect(grown.size).toBe(start.size + 3);

    const second = await against('log', 'monitor', '--once', '--state', state);
    expect(second.stderr).toBe('');
    expect(second.stdout).toMatch(new RegExp(`OK  ${ORIGIN}  size ${grown.size}  root ${hex(grown.rootHash)}  grew from ${start.size}, consistency verified\n$`));
    expect(second.code).toBe(0);
    expect(storedNote(state)).toBe(grown.note);

    const third = await against('log', 'monitor', '--once', '--state', state);
    expect(third.stdout).toMatch(/unchanged\n$/);
    expect(third.code).toBe(0);
  });

  it('monitor exits 3 on a fork: a stored checkpoint of the same size with another root', async () => {
    const { size, note } = await latest();
    const state = join(tmp, 'fork', 'state.json');
    const fork = forged(size, randomBytes(32));
    writeState(state, fork);
    const { code, stdout } = await against('log', 'monitor', '--once', '--state', state);
    expect(stdout).toMatch(new RegExp(`^INCONSISTENT: two different roots for size ${size}: the log forked\n`));
    expect(stdout).toContain(fork.split('\n').slice(0, 3).join('\n  '));
    expect(stdout).toContain(note.split('\n').slice(0, 3).join('\n  '));
    expect(code).toBe(3);
    expect(storedNote(state)).toBe(fork);
  });

  it('monitor exits 3 when the log shrinks below a stored checkpoint', async () => {
    const { size, note } = await latest();
    const state = join(tmp, 'shrunk', 'state.json');
    const bigger = forged(size + 5, randomBytes(32));
    writeState(state, bigger);
    const { code, stdout } = await against('log', 'monitor', '--once', '--state', state);
    expect(stdout).toMatch(new RegExp(`^INCONSISTENT: the log shrank from size ${size + 5} to ${size}\n`));
    expect(stdout).toContain(bigger.split('\n').slice(0, 3).join('\n  '));
    expect(stdout).toContain(note.split('\n').slice(0, 3).join('\n  '));
    expect(code).toBe(3);
  });

  it('monitor exits 3 when the stored smaller tree is not a prefix of the new one, and prints the proof', async () => {
    const { size } = await latest();
    const state = join(tmp, 'split', 'state.json');
    const otherView = forged(size - 2, randomBytes(32));
    writeState(state, otherView);
    const { code, stdout } = await against('log', 'monitor', '--once', '--state', state);
    expect(stdout).toMatch(new RegExp(`^INCONSISTENT: the consistency proof from size ${size - 2} to ${size} does not verify\n`));
    expect(stdout).toMatch(new RegExp(`consistency proof ${size - 2} -> ${size}:\n\\s+0\\s+[0-9a-f]{64}\n`));
    expect(code).toBe(3);
    expect(storedNote(state)).toBe(otherView);
  });

  it('monitor exits 3 when a proof hash is changed on the way, and keeps the last good checkpoint', async () => {
    const state = join(tmp, 'tampered', 'state.json');
    // The log's real checkpoint, as a monitor that ran before the next change would have stored it.
    const older = await latest();
    writeState(state, older.note);
    const size = older.size;
    await register('nine.log.test');
    expect((await against('log', 'checkpoint', '--publish')).code).toBe(0);

    let changed = '';
    tamper = tamperWith('GetConsistencyProof', GetConsistencyProofResponseSchema, ({ hashes }) => {
      changed = flipped(hashes[0] ?? '');
      hashes[0] = changed;
    });
    const refused = await throughProxy('log', 'monitor', '--once', '--state', state);
    expect(tampered).toBe(1);
    expect(refused.stdout).toMatch(new RegExp(`^INCONSISTENT: the consistency proof from size ${size} to ${size + 1} does not verify\n`));
    expect(refused.stdout).toContain(changed);
    expect(refused.code).toBe(3);
    expect(storedNote(state)).toBe(older.note);

    tamper = undefined;
    const accepted = await throughProxy('log', 'monitor', '--once', '--state', state);
    expect(accepted.stdout).toMatch(new RegExp(`size ${size + 1} .* grew from ${size}, consistency verified\n$`));
    expect(accepted.code).toBe(0);
  });

  it('monitor with a pinned key that did not sign the checkpoint exits 3 and stores nothing', async () => {
    const state = join(tmp, 'wrong-key', 'state.json');
    const other = signerWithPlus().signer;
    const { code, stdout } = await against('log', 'monitor', '--once', '--state', state, '--key', other.verifierKey);
    expect(stdout).toMatch(new RegExp(`^INCONSISTENT: the checkpoint does not verify with the key ${literal(other.verifierKey)}`));
    expect(stdout).toContain('stored checkpoint: none');
    expect(stdout).toContain((await latest()).note.split('\n').slice(0, 3).join('\n  '));
    expect(code).toBe(3);
    expect(existsSync(state)).toBe(false);

    const pinnedState = join(tmp, 'monitor', 'state.json');
    const conflicting = await against('log', 'monitor', '--once', '--state', pinnedState, '--key', other.verifierKey);
    expect(conflicting.stderr).toContain(`${pinnedState} was verified with the key ${logSigner.verifierKey}, not the one given`);
    expect(conflicting.code).toBe(1);
  });

  it('monitor without --once polls until SIGINT, then exits 0', async () => {
    const { stdout, stderr, code } = await monitorUntil(server.url, ({ stdout }) => stdout.split('  OK  ').length > 2);
    expect(stdout).toMatch(/unchanged\n/);
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });

  it('monitor without --once reports an unreachable server and tries again at the next poll', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const address = closed.address();
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    if (address === null || typeof address === 'string') throw new Error('no port');
    const { stdout, stderr, code } = await monitorUntil(`http://127.0.0.1:${address.port}`, ({ stderr }) => stderr.split('poll failed').length > 2);
    expect(stderr).toMatch(/poll failed: .*ECONNREFUSED.*; retrying in 1s\n.*poll failed/s);
    expect(stdout).toBe('');
    expect(code).toBe(0);
  });
});

/** Runs `log monitor --interval 1` until its output satisfies `enough`, then sends SIGINT and waits for the exit. */
async function monitorUntil(url: string, enough: (output: { stdout: string; stderr: string }) => boolean): Promise<Result> {
  const state = join(tmp, 'loop', `${randomBytes(4).toString('hex')}.json`);
  const child = spawn(process.execPath, [...ATR_NODE_ARGS, 'log', 'monitor', '--interval', '1', '--state', state, '--server', url], { cwd: tmp });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const output = { stdout: '', stderr: '' };
  try {
    await new Promise<void>((resolve, reject) => {
      const collect = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
        output[stream] += chunk.toString();
        if (enough(output)) resolve();
      };
      child.stdout.on('data', collect('stdout'));
      child.stderr.on('data', collect('stderr'));
      void exited.then((code) => reject(new Error(`monitor exited with ${code}: ${output.stdout}${output.stderr}`)));
    });
    child.kill('SIGINT');
    return { code: (await exited) ?? -1, ...output };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}
