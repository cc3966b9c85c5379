import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ComposeService } from './compose-file.ts';
import type { Image } from './dockerfile.ts';

// A registry started the way a container of the image would start it, without Docker: the image's directories (with
// their owners and modes) under a temporary root, the checkout's compiled server in place of the copied files, and
// the server run by an unprivileged account with setpriv.

const CHECKOUT = join(import.meta.dirname, '..', '..');

export interface Account {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

/** The local account a container user maps to: root stays root; another user (node) is itself when it exists here, else nobody. */
export function localAccount(user: string): Account {
  const entries = readFileSync('/etc/passwd', 'utf8').split('\n').map((line) => line.split(':'));
  const find = (name: string) => entries.find((entry) => entry[0] === name);
  const entry = find(user) ?? (user === 'root' ? undefined : find('nobody'));
  if (entry === undefined) throw new Error(`no local account for the container user ${user}`);
  return { name: entry[0] ?? '', uid: Number(entry[2]), gid: Number(entry[3]) };
}

/**
 * The container's file system under a new temporary directory: every directory the image made, with its owner and
 * mode; its copied files as links to this checkout's; and each of `service`'s mount points the image lacks created
 * as Docker creates them, owned by root with mode 0755 (a new named volume takes the owner and mode of the directory
 * it is mounted on, so a mount point the image has keeps the image's).
 */
export function containerFileSystem(image: Image, service: ComposeService): { root: string; remove(): void } {
  const root = mkdtempSync(join(tmpdir(), 'atr-container-'));
  chmodSync(root, 0o755);
  const paths = [...image.paths].sort(([a], [b]) => a.length - b.length);
  for (const [path, entry] of paths) {
    if (entry.kind === 'copied') {
      symlinkSync(join(CHECKOUT, posix.basename(path)), join(root, path));
      continue;
    }
    makeDirectory(join(root, path), localAccount(entry.user), entry.mode);
  }
  for (const { target } of service.volumes) {
    if (!image.paths.has(target)) makeDirectory(join(root, target), localAccount('root'), 0o755);
  }
  return { root, remove: () => rmSync(root, { recursive: true, force: true }) };
}

function makeDirectory(path: string, owner: Account, mode: number): void {
  mkdirSync(path, { recursive: true });
  chownSync(path, owner.uid, owner.gid);
  chmodSync(path, mode);
}

/**
 * The environment a container of `service` gets: the image's, then the service's, with absolute paths into the
 * image moved under `root`, then `overrides` (the hosts a test has in place of the compose network's, and ports).
 */
export function containerEnvironment(image: Image, service: ComposeService, root: string, overrides: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'] };
  for (const [name, value] of Object.entries({ ...image.env, ...service.environment })) {
    env[name] = value.startsWith(`${image.workdir}/`) ? join(root, value) : value;
  }
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

export interface ContainerProcess {
  readonly url: string;
  readonly mtlsUrl: string;
  stop(): Promise<void>;
}

/**
 * Runs the compiled server (`node dist/src/cli/bin.js serve`, the image's CMD) as `account` in the container's
 * working directory; resolves once /readyz answers 200. Rejects with its stderr when it exits first.
 */
export async function startContainer(workdir: string, env: NodeJS.ProcessEnv, account: Account): Promise<ContainerProcess> {
  const child = spawn(
    'setpriv',
    [`--reuid=${account.uid}`, `--regid=${account.gid}`, '--clear-groups', '--', process.execPath, 'dist/src/cli/bin.js', 'serve'],
    { cwd: workdir, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const output = { stdout: '', stderr: '', closed: false };
  child.stdout.on('data', (chunk: Buffer) => (output.stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output.stderr += chunk.toString()));
  child.once('close', () => (output.closed = true));
  const stop = () => stopProcess(child);
  try {
    return { ...(await untilReady(output)), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Waits for the listening lines `atr serve` prints, then for /readyz to answer 200; throws once the process is gone. */
async function untilReady(output: { stdout: string; stderr: string; closed: boolean }): Promise<{ url: string; mtlsUrl: string }> {
  while (!output.closed) {
    const url = /ATR listening on (\S+)/.exec(output.stdout)?.[1];
    const mtlsUrl = /agents \(mTLS\) on (\S+)/.exec(output.stdout)?.[1];
    if (url !== undefined && mtlsUrl !== undefined) {
      const ready = await fetch(`${url}/readyz`).then((response) => response.ok, () => false);
      if (ready) return { url, mtlsUrl };
    }
    await sleep(100);
  }
  throw new Error(`the server exited before it was ready:\n${output.stderr}`);
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}
