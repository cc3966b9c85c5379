// MAX_CONNECTIONS_PER_CLIENT counts TCP peers: connections are capped before any header names a forwarded client. A
// trusted proxy carries many clients on its connections, so it is exempt from the per-client cap (not from
// MAX_CONNECTIONS); any other peer is capped as before.
import { once } from 'node:events';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.ts';
import { runningServer } from '../support/server.ts';

/** GET /healthz over HTTP/1.1 on a new connection: the status, or how the connection ended without one. */
function healthz(port: number): Promise<number | string> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let reply = '';
    socket.on('data', (chunk: Buffer) => (reply += chunk.toString('latin1')));
    socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(reply)?.[1] ?? 0) || 'closed'));
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  });
}

/** `count` idle connections, held open until the returned function closes them. */
async function hold(port: number, count: number): Promise<() => void> {
  const sockets = await Promise.all(
    Array.from({ length: count }, async () => {
      const socket = net.connect({ port, host: '127.0.0.1' });
      socket.on('error', () => {});
      await once(socket, 'connect');
      return socket;
    }),
  );
  return () => sockets.forEach((socket) => socket.destroy());
}

async function withServer(overrides: Partial<Config>, test: (port: number) => Promise<void>): Promise<void> {
  const server = await runningServer('sqlite', { mtlsEnabled: false, maxConnectionsPerClient: 2, ...overrides });
  try {
    await test(server.server.port);
  } finally {
    await server.cleanup();
  }
}

describe('the per-client connection cap behind a proxy', () => {
  it('lets a trusted proxy hold more connections than one client may', async () => {
    await withServer({ trustedProxies: ['127.0.0.1'] }, async (port) => {
      const release = await hold(port, 3);
      try {
        expect(await healthz(port)).toBe(200);
      } finally {
        release();
      }
    });
  }, 60_000);

  it('still caps a peer that is not a trusted proxy', async () => {
    await withServer({ trustedProxies: ['10.0.0.0/8'] }, async (port) => {
      const release = await hold(port, 2);
      try {
        expect(await healthz(port)).not.toBe(200);
      } finally {
        release();
      }
    });
  }, 60_000);

  it('still caps a trusted proxy at MAX_CONNECTIONS', async () => {
    await withServer({ trustedProxies: ['127.0.0.1'], maxConnections: 3 }, async (port) => {
      const release = await hold(port, 3);
      try {
        expect(await healthz(port)).not.toBe(200);
      } finally {
        release();
      }
    });
  }, 60_000);
});
