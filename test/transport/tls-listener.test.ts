// The TLS listener's credentials on their own: a connection accepted before the first certificate is known waits for
// it and is then served; a renewal is presented to the next connection; a client that stays silent while it waits is
// closed at the handshake timeout.
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SecureContextOptions, TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Listener, listen } from '../../src/server/listener.ts';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'atr-tls-listener-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A self-signed P-256 certificate for localhost, its subject's CN set to `name`. */
async function certificate(name: string): Promise<{ cert: string; key: string }> {
  const [cert, key] = [join(dir, `${name}.crt`), join(dir, `${name}.key`)];
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', `/CN=${name}`, '-addext', 'subjectAltName=DNS:localhost', '-keyout', key, '-out', cert]);
  return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') };
}

/** GET / trusting `ca`: the status and the CN of the certificate the server presented. */
function get(port: number, ca: string): Promise<{ status: number; presented: string }> {
  return new Promise((resolve, reject) => {
    https
      .get({ host: '127.0.0.1', servername: 'localhost', port, path: '/', ca, agent: false }, (res) => {
        const presented = (res.socket as TLSSocket).getPeerCertificate().subject.CN;
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, presented: String(presented) }));
      })
      .on('error', reject);
  });
}

describe('a TLS listener whose credentials come later and change', () => {
  let first: { cert: string; key: string };
  let second: { cert: string; key: string };
  let provide: (options: SecureContextOptions) => void = () => {};
  let renew: (options: SecureContextOptions) => void = () => {};
  let listener: Listener;

  beforeAll(async () => {
    [first, second] = await Promise.all([certificate('first'), certificate('second')]);
    listener = await listen({
      host: '127.0.0.1',
      port: 0,
      handshakeTimeoutMs: 1_000,
      handler: (_req, res) => res.end('ok'),
      tls: {
        ready: new Promise((resolve) => (provide = resolve)),
        onRenewed: (use) => (renew = use),
      },
    });
  });
  afterAll(() => listener?.close());

  it('closes a silent connection that waited past the handshake timeout', async () => {
    const socket = net.connect({ host: '127.0.0.1', port: listener.port });
    socket.on('error', () => {});
    socket.resume();
    await once(socket, 'close');
  });

  it('serves a connection that arrived before the first certificate once it is known', async () => {
    expect(listener.url).toBe(`https://127.0.0.1:${listener.port}`);
    const early = get(listener.port, first.cert + second.cert);
    await new Promise((resolve) => setTimeout(resolve, 200));
    provide(first);
    expect(await early).toEqual({ status: 200, presented: 'first' });
  });

  it('presents the renewed certificate to the next connection', async () => {
    renew(second);
    expect(await get(listener.port, first.cert + second.cert)).toEqual({ status: 200, presented: 'second' });
  });
});
