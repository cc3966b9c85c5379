import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/server.ts';
import { floodWithResets, goawayAfterIdle } from '../support/http2-client.ts';
import { runningServer } from '../support/server.ts';

const h2Preface = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';
// An empty SETTINGS frame: length 0, type 4, no flags, stream 0.
const emptySettings = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);

/** A raw TCP connection from `localAddress`; resolves once connected. */
async function connect(port: number, localAddress = '127.0.0.1'): Promise<net.Socket> {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress });
  socket.on('error', () => {});
  await once(socket, 'connect');
  return socket;
}

/** Resolves with how long the server took to close the connection, or 'open' if it had not after `waitMs`. */
async function closedWithin(socket: net.Socket, waitMs: number): Promise<number | 'open'> {
  const started = Date.now();
  socket.resume();
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - started)));
  const open = new Promise<'open'>((resolve) => setTimeout(() => resolve('open'), waitMs).unref());
  return Promise.race([closed, open]);
}

/** GET /healthz over HTTP/1.1 from `localAddress`: the status, or the error code. */
function healthz(port: number, localAddress = '127.0.0.1'): Promise<number | string> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    let reply = '';
    socket.on('data', (chunk: Buffer) => (reply += chunk.toString('latin1')));
    socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(reply)?.[1] ?? 0) || 'closed'));
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  });
}

describe('HTTP/2 session limits on the public listener', () => {
  let server: RunningServer;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ server, cleanup } = await runningServer('sqlite', { handshakeTimeoutSeconds: 1, idleTimeoutSeconds: 1, mtlsEnabled: false }));
  });
  afterAll(async () => cleanup?.());

  it('closes a connection that sends the preface and never its SETTINGS', async () => {
    const socket = await connect(server.port);
    socket.write(h2Preface);
    const waited = await closedWithin(socket, 5_000);
    expect(waited).not.toBe('open');
    expect(waited).toBeGreaterThanOrEqual(900);
  });

  it('closes a connection that sends nothing at all', async () => {
    const socket = await connect(server.port);
    expect(await closedWithin(socket, 5_000)).not.toBe('open');
  });

  it('sends GOAWAY (NO_ERROR) to a session idle past IDLE_TIMEOUT_SECONDS, then closes it', async () => {
    const session = http2.connect(server.url);
    session.on('error', () => {});
    expect(await goawayAfterIdle(session)).toBe(http2.constants.NGHTTP2_NO_ERROR);
  });

  it('also ends a session that opened with a bare preface and SETTINGS and then fell silent', async () => {
    const socket = await connect(server.port);
    socket.write(h2Preface);
    socket.write(emptySettings);
    const waited = await closedWithin(socket, 5_000);
    expect(waited).not.toBe('open');
  });

  it('cuts the connection of a client that ignores the GOAWAY and never closes its side', async () => {
    const socket = net.connect({ port: server.port, host: '127.0.0.1', allowHalfOpen: true });
    socket.on('error', () => {});
    await once(socket, 'connect');
    socket.write(h2Preface);
    socket.write(emptySettings);
    socket.resume();
    await once(socket, 'end'); // the server's FIN after its GOAWAY; this client answers with nothing and stays open
    // The server (this process) lets go of its descriptor all the same; the client's side is its own affair.
    const held = () =>
      execFileSync('ss', ['-Htanp', `( sport = :${server.port} and dport = :${socket.localPort} )`], { encoding: 'utf8' }).includes(`pid=${process.pid},`);
    const deadline = Date.now() + 7_000;
    while (held() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(held()).toBe(false);
    socket.destroy();
  });

  it('keeps a session whose stream is open (a health Watch) past the idle timeout', async () => {
    const session = http2.connect(server.url);
    session.on('error', () => {});
    let goaway = false;
    session.once('goaway', () => (goaway = true));
    const watch = session.request({ ':method': 'POST', ':path': '/grpc.health.v1.Health/Watch', 'content-type': 'application/grpc', te: 'trailers' });
    watch.end(Buffer.from([0, 0, 0, 0, 0])); // an empty HealthCheckRequest: the whole server
    const [first] = (await once(watch, 'data')) as [Buffer];
    expect(first[0]).toBe(0); // a message frame: the first status
    await new Promise((r) => setTimeout(r, 2_500));
    expect(goaway).toBe(false);
    expect(watch.closed).toBe(false);
    session.destroy();
  });

  it('resets a request that stops arriving (headers sent, body never ended) after the idle timeout', async () => {
    const session = http2.connect(server.url);
    session.on('error', () => {});
    const stream = session.request({ ':method': 'POST', ':path': '/atr.v1.ResolveService/ResolveAgent', 'content-type': 'application/grpc' }, { endStream: false });
    stream.on('error', () => {});
    stream.write(Buffer.from([0, 0, 0, 0, 10])); // a frame header promising 10 bytes that never come
    const started = Date.now();
    await once(stream, 'close');
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(stream.rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
    session.destroy();
  });

  it('ends a session whose client resets streams in a flood (rapid reset) with ENHANCE_YOUR_CALM, early', async () => {
    const session = http2.connect(server.url);
    session.on('error', () => {});
    const { code, opened } = await floodWithResets(session, 5_000);
    expect(code).toBe(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    expect(opened).toBeLessThan(1_000);
    session.destroy();
    // The server answers as before.
    expect(await healthz(server.port)).toBe(200);
  });
});

describe('connection caps', () => {
  let server: RunningServer;
  let cleanup: () => Promise<void>;
  const held: net.Socket[] = [];

  beforeAll(async () => {
    ({ server, cleanup } = await runningServer('sqlite', { maxConnectionsPerClient: 4, maxConnections: 6, handshakeTimeoutSeconds: 120 }));
  });
  afterAll(async () => {
    for (const socket of held) socket.destroy();
    await cleanup?.();
  });

  it('closes connections from one address past MAX_CONNECTIONS_PER_CLIENT; other addresses still get answers', async () => {
    for (let i = 0; i < 4; i++) held.push(await connect(server.port, '127.0.0.2'));
    const extra = await connect(server.port, '127.0.0.2');
    expect(await closedWithin(extra, 2_000)).not.toBe('open');
    // The cap is shared with the mTLS listener: it refuses this address too.
    const overMtls = await connect(server.mtlsPort ?? 0, '127.0.0.2');
    expect(await closedWithin(overMtls, 2_000)).not.toBe('open');
    expect(await healthz(server.port, '127.0.0.3')).toBe(200);
    // One connection closed, one more accepted.
    const first = held.shift();
    first?.destroy();
    await new Promise((r) => setTimeout(r, 100));
    expect(await healthz(server.port, '127.0.0.2')).toBe(200);
  });

  it('closes connections past MAX_CONNECTIONS in all, then accepts again as they close', async () => {
    // Three held from .2 already; three more from .4 reach six in all.
    expect(held).toHaveLength(3);
    for (let i = 0; i < 3; i++) held.push(await connect(server.port, '127.0.0.4'));
    await new Promise((r) => setTimeout(r, 100));
    const extra = await connect(server.port, '127.0.0.5');
    expect(await closedWithin(extra, 2_000)).not.toBe('open');
    held.pop()?.destroy();
    await new Promise((r) => setTimeout(r, 100));
    expect(await healthz(server.port, '127.0.0.5')).toBe(200);
  });

  it('counts refused connections in /metrics', async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toMatch(/atr_connections_refused\{cap="per_client"\} [1-9]/);
    expect(text).toMatch(/atr_connections_refused\{cap="total"\} [1-9]/);
  });
});
