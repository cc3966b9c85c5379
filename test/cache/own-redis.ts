// A redis-server of a test's own, on a free port, that the test may stop, kill and start again without disturbing
// the shared one on 6379; and a TCP proxy in front of a server, which a test cuts to make Redis unreachable for one
// process while the server and its data stay up.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export interface OwnRedis {
  readonly url: string;
  /** Starts the server again on the same port, with the same directory (a snapshot saved there is loaded). */
  start(): Promise<void>;
  /** SHUTDOWN NOSAVE, or SIGKILL; resolves once the process has exited. */
  stop(how: 'shutdown' | 'kill'): Promise<void>;
  /** A client for the test's own commands (SAVE, GET); reconnects across restarts. */
  readonly client: Redis;
  close(): Promise<void>;
}

export async function ownRedis(): Promise<OwnRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'atr-redis-'));
  let child: ChildProcess | undefined;
  const start = async () => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--logfile', join(dir, 'redis.log')];
    child = spawn('redis-server', args, { stdio: 'ignore' });
    await untilAnswering(port);
  };
  const stop = async (how: 'shutdown' | 'kill') => {
    const running = child;
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
    const exited = once(running, 'exit');
    if (how === 'kill') {
      running.kill('SIGKILL');
    } else {
      const admin = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null });
      await admin.connect();
      await admin.shutdown('NOSAVE').catch(() => undefined);
      admin.disconnect();
    }
    await exited;
  };
  await start();
  const client = new Redis({ port, host: '127.0.0.1', retryStrategy: () => 50 });
  client.on('error', () => undefined);
  return {
    url: `redis://127.0.0.1:${port}`,
    start,
    stop,
    client,
    async close() {
      client.disconnect();
      await stop('kill');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface TcpProxy {
  readonly url: string;
  /** Closes every connection through the proxy and refuses new ones, until `restore`. */
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

/** A redis:// URL that reaches the server at `target` through a proxy this test controls. */
export async function tcpProxy(target: URL): Promise<TcpProxy> {
  let refusing = false;
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const server = net.createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = net.connect(Number(target.port), target.hostname);
    track(client);
    track(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `redis://127.0.0.1:${port}`,
    cut() {
      refusing = true;
      for (const socket of sockets) socket.destroy();
    },
    restore() {
      refusing = false;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

async function untilAnswering(port: number): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') return;
    } catch {
      // Not listening yet.
    } finally {
      probe.disconnect();
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`redis-server on port ${port} did not start`);
}
