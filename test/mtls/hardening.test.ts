import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/server.ts';
import { floodWithResets, goawayAfterIdle } from '../support/http2-client.ts';
import { runningServer } from '../support/server.ts';

// The mTLS listener's own limits: no client-initiated renegotiation, and the HTTP/2 session limits of the
// public listener (idle timeout, reset floods) on its TLS sessions.
describe('mTLS listener hardening', () => {
  let server: RunningServer;
  let cleanup: () => Promise<void>;
  let files: { cert: string; key: string; ca: string };
  let tls: { cert: string; key: string; ca: string };

  beforeAll(async () => {
    const started = await runningServer('sqlite', { idleTimeoutSeconds: 1 });
    server = started.server;
    cleanup = started.cleanup;
    const issued = await server.app.registry.register({ agentName: 'hardened.mtls.example', owner: 'mtls', capabilities: [] }, 'test');
    tls = { cert: issued.certPem, key: issued.privateKeyPem ?? '', ca: server.app.ca.trustBundlePem };
    files = { cert: join(started.environment.dir, 'agent.crt'), key: join(started.environment.dir, 'agent.key'), ca: join(started.environment.dir, 'bundle.pem') };
    writeFileSync(files.cert, tls.cert);
    writeFileSync(files.key, tls.key, { mode: 0o600 });
    writeFileSync(files.ca, tls.ca);
  });
  afterAll(async () => cleanup?.());

  /**
   * openssl s_client over TLS 1.2 with the agent's certificate: once connected it asks to renegotiate (its `R`
   * command), then sends GET /healthz; resolves with what it printed.
   */
  const renegotiateThenGet = () =>
    new Promise<{ stdout: string; stderr: string }>((resolve) => {
      const client = spawn('openssl', [
        's_client', '-connect', `127.0.0.1:${server.mtlsPort}`, '-tls1_2', '-CAfile', files.ca, '-cert', files.cert, '-key', files.key, '-alpn', 'http/1.1',
      ]);
      let stdout = '';
      let stderr = '';
      let asked = false;
      client.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      client.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (asked || !stdout.includes('Verify return code')) return;
        asked = true;
        client.stdin.write('R\n');
        setTimeout(() => client.stdin.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n'), 500).unref();
      });
      const timer = setTimeout(() => client.kill(), 3_000);
      client.on('close', () => {
        clearTimeout(timer);
        resolve({ stdout, stderr });
      });
    });

  it('refuses a client-initiated TLS 1.2 renegotiation, and the connection serves nothing after it', async () => {
    const { stdout, stderr } = await renegotiateThenGet();
    expect(stderr).toContain('RENEGOTIATING');
    expect(stderr).toContain('no renegotiation');
    expect(stdout).not.toMatch(/HTTP\/1\.1 200/);
  });

  it('still serves a TLS 1.2 client that does not renegotiate', async () => {
    const session = http2.connect(server.mtlsUrl ?? '', { ...tls, maxVersion: 'TLSv1.2' });
    session.on('error', () => {});
    const stream = session.request({ ':path': '/healthz' });
    const [headers] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
    expect(headers[':status']).toBe(200);
    stream.resume();
    session.destroy();
  });

  it('closes an HTTP/1.1 agent connection kept alive past 5 s after its answer, like the public listener', async () => {
    const socket = tlsConnect({ host: '127.0.0.1', port: server.mtlsPort ?? 0, servername: 'localhost', ALPNProtocols: ['http/1.1'], ...tls });
    socket.on('error', () => {});
    await once(socket, 'secureConnect');
    socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n');
    const [reply] = (await once(socket, 'data')) as [Buffer];
    expect(reply.toString('latin1')).toMatch(/^HTTP\/1\.1 200 /);
    const answeredAt = Date.now();
    await once(socket, 'close');
    expect(Date.now() - answeredAt).toBeGreaterThanOrEqual(4_500);
    expect(Date.now() - answeredAt).toBeLessThan(15_000);
  });

  it('sends GOAWAY to an idle agent session after IDLE_TIMEOUT_SECONDS', async () => {
    const session = http2.connect(server.mtlsUrl ?? '', tls);
    session.on('error', () => {});
    expect(await goawayAfterIdle(session)).toBe(http2.constants.NGHTTP2_NO_ERROR);
  });

  it('ends an agent session that floods the server with stream resets', async () => {
    const session = http2.connect(server.mtlsUrl ?? '', tls);
    session.on('error', () => {});
    await once(session, 'remoteSettings');
    expect((await floodWithResets(session, 2_000)).code).toBe(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    session.destroy();
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/atr_http2_sessions_ended\{limit="mtls:reset_flood"\} [1-9]/);
    expect(metrics).toMatch(/atr_http2_sessions_ended\{limit="mtls:idle"\} [1-9]/);
  });
});
