// The registry processes of `npm run bench`: test/bench/serve.ts started in an OS process of its own, the environment
// the sections give it, and its end.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';

/** A running serve.ts and what it printed once it listened. */
export interface BenchProcess {
  readonly child: ChildProcess;
  readonly url: string;
  readonly mtlsUrl: string | undefined;
  readonly dnsPort: number | undefined;
}

/** Starts serve.ts with `env` and `args` (`--empty`: the empty handler); resolves once it prints its JSON line. */
export async function serveProcess(env: NodeJS.ProcessEnv, args: readonly string[] = []): Promise<BenchProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'serve.ts'), ...args], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const started = await new Promise<{ url: string; mtlsUrl?: string; dnsPort?: number }>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
    child.stdout?.once('data', (chunk: Buffer) => resolve(JSON.parse(chunk.toString()) as { url: string; mtlsUrl?: string; dnsPort?: number }));
  });
  return { child, url: started.url, mtlsUrl: started.mtlsUrl, dnsPort: started.dnsPort };
}

/** SIGTERM, resolved once the process has exited; nothing to do when it already has. */
export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

/**
 * This process's environment for a registry on `databaseUrl` with its CA under `dir`: gRPC on an ephemeral port of
 * 127.0.0.1, no mTLS listener, no Redis, warnings and failures only (access lines would bury the tables); `overrides`
 * win (one set to undefined is left out of the process's environment).
 */
export function benchProcessEnv({ dir, databaseUrl, ...overrides }: { dir: string; databaseUrl: string } & NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return {
    ...process.env,
    HOST: '127.0.0.1',
    PORT: '0',
    MTLS_ENABLED: 'false',
    LOG_LEVEL: 'warn',
    PKI_ROOT_DIR: join(dir, 'pki'),
    DATABASE_URL: databaseUrl,
    REDIS_ENABLED: 'false',
    ...overrides,
  };
}
