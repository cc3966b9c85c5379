// `atr serve --workers 2` with TLS on the public listener (PUBLIC_TLS=registry) and METRICS_PORT: both workers answer
// over TLS on the one printed https:// port, each with a certificate of its own from the shared intermediate, and
// both answer on the one metrics port (a scrape reaches one worker, its atr-worker header says which). SQLite only:
// nothing here depends on the database.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ATR_NODE_ARGS } from '../support/cli.ts';
import { processEnvironment } from '../support/server-process.ts';

/** Starting the CLI compiles it through tsx in three processes, on a machine that may be busy. */
const START_MS = 180_000;

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A new TLS connection's answer to GET `path`: its status, the worker that answered and the ALPN protocol spoken. */
async function overTls(url: string, ca: string, path: string): Promise<{ status: number; worker: string; alpn: string | undefined }> {
  const session = http2.connect(url, { ca, servername: 'localhost' });
  try {
    const stream = session.request({ ':path': path });
    stream.resume();
    const [headers] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
    return { status: Number(headers[':status']), worker: String(headers['atr-worker']), alpn: session.alpnProtocol };
  } finally {
    session.close();
  }
}

/** A scrape on a connection of its own (new connections go to the workers in turn). */
function scrape(port: number): Promise<{ status: number; worker: string; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, worker: String(res.headers['atr-worker']), body }));
      })
      .on('error', reject);
  });
}

describe('atr serve --workers 2 with PUBLIC_TLS=registry and METRICS_PORT', () => {
  let environment: Awaited<ReturnType<typeof processEnvironment>>;
  let child: ChildProcess;
  let url: string;
  let metricsPort: number;
  let ca: string;

  beforeAll(async () => {
    metricsPort = await freePort();
    environment = await processEnvironment('sqlite', {
      PUBLIC_TLS: 'registry',
      PUBLIC_HOSTNAMES: 'localhost',
      METRICS_PORT: String(metricsPort),
      REDIS_ENABLED: 'false',
    });
    child = spawn(process.execPath, [...ATR_NODE_ARGS, 'serve', '--workers', '2'], { env: environment.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = once(child, 'exit');
    const printed = await new Promise<string>((resolve, reject) => {
      void exited.then(([code]) => reject(new Error(`atr serve exited (${String(code)}) before it listened: ${stderr}`)));
      let stdout = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (/workers \(pids [\d, ]+\)\n/.test(stdout)) resolve(stdout);
      });
    });
    url = /^ATR listening on (\S+)$/m.exec(printed)?.[1] ?? '';
    ca = readFileSync(join(environment.env['PKI_ROOT_DIR'] ?? '', 'root.crt'), 'utf8');
  }, START_MS);
  afterAll(async () => {
    if (child?.exitCode === null) child.kill('SIGKILL');
    await environment?.cleanup();
  });

  it('answers over TLS on the printed https:// port from both workers, HTTP/2 by ALPN', async () => {
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const workers = new Set<string>();
    for (let i = 0; i < 20 && workers.size < 2; i++) {
      const answer = await overTls(url, ca, '/healthz');
      expect(answer).toMatchObject({ status: 200, alpn: 'h2' });
      workers.add(answer.worker);
    }
    expect([...workers].sort()).toEqual(['1', '2']);
    expect((await overTls(url, ca, '/metrics')).status).toBe(404);
  });

  it('serves /metrics from both workers on the one metrics port', async () => {
    const workers = new Set<string>();
    for (let i = 0; i < 20 && workers.size < 2; i++) {
      const answer = await scrape(metricsPort);
      expect(answer.status).toBe(200);
      expect(answer.body).toContain('atr_connections_open');
      workers.add(answer.worker);
    }
    expect([...workers].sort()).toEqual(['1', '2']);
  });

  it('stops with exit 0 on SIGTERM', async () => {
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    expect(await exited).toEqual([0, null]);
  }, 60_000);
});
