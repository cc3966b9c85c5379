import { once } from 'node:events';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { ConnectError, createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { describe, expect, it } from 'vitest';
import { Health } from '../../gen/grpc/health/v1/health_pb.js';
import { type HttpHandler, listen } from '../../src/server/listener.ts';
import { startTestServer } from './fixture.ts';

const hello: HttpHandler = (req, res) => {
  res.setHeader('content-type', 'text/plain');
  res.end(`hello over ${req.httpVersion}`);
};

function h1Get(url: string, agent?: http.Agent): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, agent === undefined ? {} : { agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

function h2Get(session: http2.ClientHttp2Session, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': path });
    let body = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => (body += chunk));
    stream.on('end', () => resolve(body));
    stream.on('error', reject);
  });
}

// Writes the pieces on a raw connection, each in its own turn of the event loop, and returns what comes back first.
async function firstBytesBack(pieces: string[]): Promise<Buffer> {
  const listener = await listen({ host: '127.0.0.1', port: 0, handler: hello });
  const socket = net.connect(listener.port, '127.0.0.1');
  try {
    await once(socket, 'connect');
    for (const piece of pieces) {
      socket.write(piece);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    const [reply] = await once(socket, 'data');
    return Buffer.from(reply);
  } finally {
    socket.destroy();
    await listener.close();
  }
}

describe('listen', () => {
  it('serves HTTP/1.1 and h2c on one ephemeral port', async () => {
    const listener = await listen({ host: '127.0.0.1', port: 0, handler: hello });
    try {
      expect(listener.port).toBeGreaterThan(0);
      expect(listener.url).toBe(`http://127.0.0.1:${listener.port}`);
      expect(await h1Get(`${listener.url}/`)).toBe('hello over 1.1');
      const session = http2.connect(listener.url);
      try {
        expect(await h2Get(session, '/')).toBe('hello over 2.0');
      } finally {
        session.close();
      }
    } finally {
      await listener.close();
    }
  });

  it('serves IPv6 hosts, with the address in brackets in the URL', async () => {
    const listener = await listen({ host: '::1', port: 0, handler: hello });
    try {
      expect(listener.url).toBe(`http://[::1]:${listener.port}`);
      expect(await h1Get(`${listener.url}/`)).toBe('hello over 1.1');
    } finally {
      await listener.close();
    }
  });

  it('recognises the HTTP/2 preface when it arrives in pieces', async () => {
    const reply = await firstBytesBack(['PRI * HTT', 'P/2.0\r\n\r\nSM\r\n\r\n']);
    // The server's connection preface is a SETTINGS frame: type 4 in the fourth byte of the frame header.
    expect(reply[3]).toBe(4);
  });

  it('answers an HTTP/1.1 request that merely starts like the preface', async () => {
    const reply = await firstBytesBack(['PRI /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n']);
    expect(reply.toString('latin1')).toMatch(/^HTTP\/1\.1 /);
  });

  it('close() ends idle HTTP/2 sessions and HTTP/1.1 keep-alive connections, then refuses new ones', async () => {
    // A grace period longer than the test's timeout: close() must end idle connections itself, not by force.
    const listener = await listen({ host: '127.0.0.1', port: 0, handler: hello, graceMs: 600_000 });
    const agent = new http.Agent({ keepAlive: true });
    const session = http2.connect(listener.url);
    session.on('error', () => {});
    try {
      expect(await h1Get(`${listener.url}/`, agent)).toBe('hello over 1.1');
      expect(await h2Get(session, '/')).toBe('hello over 2.0');
      expect(Object.values(agent.freeSockets).flat()).toHaveLength(1);

      const goaway = once(session, 'goaway');
      const sessionClosed = once(session, 'close');
      await listener.close();
      await goaway;
      await sessionClosed;
      await expect(h1Get(`${listener.url}/`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    } finally {
      agent.destroy();
      session.destroy();
    }
  });

  it('close() cuts streams still open after the grace period', async () => {
    const server = await startTestServer({ graceMs: 50 });
    const client = createClient(Health, createGrpcTransport({ baseUrl: server.url }));
    const updates = client.watch({ service: '' })[Symbol.asyncIterator]();
    expect((await updates.next()).value).toMatchObject({ status: 1 });

    await server.close();
    const outcome = await updates.next().then(
      (result) => (result.done ? 'ended' : 'another update'),
      (error: unknown) => (error instanceof ConnectError ? 'failed' : 'unexpected error'),
    );
    expect(['ended', 'failed']).toContain(outcome);
  });

  it('close() can be called twice', async () => {
    const listener = await listen({ host: '127.0.0.1', port: 0, handler: hello });
    await Promise.all([listener.close(), listener.close()]);
    await listener.close();
  });
});
