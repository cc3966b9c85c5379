import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Dialect } from '../../src/config/database-url.ts';
import { createTestDatabase } from './databases.ts';

const SERVE = join(import.meta.dirname, '..', 'bench', 'serve.ts');

/** A registry in an OS process of its own (test/bench/serve.ts), for what one process cannot show: sharing, crashes. */
export interface ServerProcess {
  readonly url: string;
  readonly mtlsUrl: string | undefined;
  readonly child: ChildProcess;
  readonly exited: Promise<unknown>;
  /** SIGTERM, resolved once the process has exited. */
  stop(): Promise<void>;
}

/**
 * Starts a server process with `env` (see processEnvironment); resolves once it listens. Its log lines (stderr) go to
 * this process's stderr, or to `child.stderr` with `stderr: 'pipe'`.
 */
export async function serverProcess(env: NodeJS.ProcessEnv, options: { stderr?: 'inherit' | 'pipe' } = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', SERVE], { env, stdio: ['ignore', 'pipe', options.stderr ?? 'inherit'] });
  const exited = once(child, 'exit');
  const started = await new Promise<{ url: string; mtlsUrl?: string }>((resolve, reject) => {
    void exited.then(([code, signal]) => reject(new Error(`server exited (${code ?? signal}) before it listened`)));
    child.stdout?.once('data', (chunk: Buffer) => resolve(JSON.parse(chunk.toString()) as { url: string; mtlsUrl?: string }));
  });
  return {
    url: started.url,
    mtlsUrl: started.mtlsUrl,
    child,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * The environment of server processes that share one fresh database and CA directory: ephemeral ports on
 * 127.0.0.1, plus `extra`. Start the first process before the others: it creates the schema and the CA they load.
 */
export async function processEnvironment(
  dialect: Dialect,
  extra: NodeJS.ProcessEnv = {},
): Promise<{ env: NodeJS.ProcessEnv; cleanup(): Promise<void> }> {
  const database = await createTestDatabase(dialect);
  const dir = mkdtempSync(join(tmpdir(), 'atr-process-'));
  return {
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: '0',
      MTLS_PORT: '0',
      DATABASE_URL: database.url,
      PKI_ROOT_DIR: join(dir, 'pki'),
      KEYS_ROOT_DIR: join(dir, 'keys'),
      // Warnings and failures only, unless `extra` says otherwise: access lines would bury the test output.
      LOG_LEVEL: 'warn',
      ...extra,
    },
    async cleanup() {
      await database.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Two server processes on one fresh database and CA directory; `stop` ends both and removes what they shared. */
export async function serverProcessPair(
  dialect: Dialect,
  extra: NodeJS.ProcessEnv = {},
): Promise<{ a: ServerProcess; b: ServerProcess; stop(): Promise<void> }> {
  const environment = await processEnvironment(dialect, extra);
  const started: ServerProcess[] = [];
  const stop = async () => {
    await Promise.all(started.map((server) => server.stop()));
    await environment.cleanup();
  };
  try {
    // One after the other: the first creates the schema and the CA the second loads.
    for (let i = 0; i < 2; i++) started.push(await serverProcess(environment.env));
  } catch (error) {
    await stop();
    throw error;
  }
  const [a, b] = started as [ServerProcess, ServerProcess];
  return { a, b, stop };
}
