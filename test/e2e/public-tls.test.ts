// TLS on the public listener, with real clients: curl (HTTP/1.1 and HTTP/2), node:https, openssl s_client showing
// the ALPN choice, grpc-js with TLS credentials, Connect and gRPC-Web, REST, the web UI and the CLI with --cacert,
// all on the one port; a certificate issued by the registry's intermediate (PUBLIC_TLS=registry) or the operator's
// files (PUBLIC_TLS=files), and clear refusals to start with files that cannot serve.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { ResolveService } from '../../gen/atr/v1/resolve_pb.js';
import { ConfigError } from '../../src/config/load.ts';
import { startServer } from '../../src/server/server.ts';
import { runAtr } from '../support/cli.ts';
import { dialects } from '../support/databases.ts';
import { recordingLogger } from '../support/logger.ts';
import { runningServer, testEnvironment } from '../support/server.ts';

const run = promisify(execFile);
const scratch = mkdtempSync(join(tmpdir(), 'atr-public-tls-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A web UI directory with just an index page: enough to see / served over TLS. */
function webUiDir(): string {
  const dir = join(scratch, `web-${randomBytes(4).toString('hex')}`);
  mkdirSync(join(dir, 'assets'), { recursive: true });
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>ATR over TLS</title>');
  return dir;
}

function writeScratch(name: string, content: string): string {
  const path = join(scratch, `${randomBytes(4).toString('hex')}-${name}`);
  writeFileSync(path, content);
  return path;
}

/** curl's answer: the status and HTTP version (`%{http_version}`) it spoke, and the body. */
async function curl(args: readonly string[]): Promise<{ status: number; version: string; body: string }> {
  const { stdout } = await run('curl', ['-sS', '-o', '-', '-w', '\n%{http_code} %{http_version}', ...args]);
  const at = stdout.lastIndexOf('\n');
  const [status = '', version = ''] = stdout.slice(at + 1).split(' ');
  return { status: Number(status), version, body: stdout.slice(0, at) };
}

/** What `openssl s_client` says of a handshake that offers only `alpn`. */
async function handshake(port: number, alpn: string, caFile: string): Promise<string> {
  return openssl(['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-alpn', alpn, '-CAfile', caFile, '-verify_return_error'], '');
}

/** openssl with `input` on its stdin, then end of input; its stdout. */
async function openssl(args: readonly string[], input: string): Promise<string> {
  const running = run('openssl', args);
  running.child.stdin?.end(input);
  return (await running).stdout;
}

function httpsGet(url: string, ca: string): Promise<{ status: number; alpn: string | false; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca }, (res) => {
        const alpn = (res.socket as { alpnProtocol?: string | false }).alpnProtocol ?? false;
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, alpn, body }));
      })
      .on('error', reject);
  });
}

/** grpc.health.v1.Health/Check for the whole server through grpc-js over TLS; the status byte of its answer. */
function grpcHealth(port: number, ca: string): Promise<number> {
  const client = new grpc.Client(`localhost:${port}`, grpc.credentials.createSsl(Buffer.from(ca)));
  return new Promise<number>((resolve, reject) => {
    client.makeUnaryRequest(
      '/grpc.health.v1.Health/Check',
      (request: Buffer) => request,
      (response: Buffer) => response,
      Buffer.alloc(0),
      (error, response) => {
        client.close();
        // HealthCheckResponse { status = 1 }: field 1, varint.
        if (error || response === undefined) reject(error ?? new Error('no answer'));
        else resolve(response[0] === 0x08 ? (response[1] ?? 0) : -1);
      },
    );
  });
}

describe.each(dialects)('TLS on the public listener, issued by the registry (%s)', (dialect) => {
  let server: Awaited<ReturnType<typeof runningServer>>;
  let ca: string;
  let caFile: string;
  let port: number;
  beforeAll(async () => {
    server = await runningServer(dialect, { publicTls: 'registry', publicHostnames: ['localhost', '127.0.0.1'], webUiDir: webUiDir() });
    ca = server.server.app.ca.rootPem;
    caFile = writeScratch('ca.pem', ca);
    port = server.server.port;
  }, 120_000);
  afterAll(() => server?.cleanup());

  it('listens on https:// and names that port in the CRL distribution point', async () => {
    expect(server.server.url).toBe(`https://127.0.0.1:${port}`);
    const agent = await createClient(RegistryService, connect(server.server.url, ca, '2')).registerAgent({ agentName: 'crl.tls.example', owner: 'tls' });
    expect(await openssl(['x509', '-noout', '-ext', 'crlDistributionPoints'], agent.certPem)).toContain(`URI:https://127.0.0.1:${port}/v1/crl`);
  });

  it('speaks HTTP/1.1 and HTTP/2 to curl, which checks the certificate against the registry CA for localhost and 127.0.0.1', async () => {
    expect(await curl(['--http1.1', '--cacert', caFile, `https://localhost:${port}/healthz`])).toEqual({ status: 200, version: '1.1', body: '{"status":"ok"}' });
    const h2 = await curl(['--http2', '--cacert', caFile, `https://127.0.0.1:${port}/v1/trust-bundle`]);
    expect({ status: h2.status, version: h2.version }).toEqual({ status: 200, version: '2' });
    expect(h2.body).toContain('BEGIN CERTIFICATE');
    // REST over TLS.
    const rest = await curl(['--cacert', caFile, `https://localhost:${port}/v1/agents/crl.tls.example`]);
    expect(rest.status).toBe(200);
    expect(JSON.parse(rest.body)).toMatchObject({ agent_name: 'crl.tls.example', owner: 'tls' });
    // The web UI.
    const page = await curl(['--cacert', caFile, `https://localhost:${port}/`]);
    expect(page).toMatchObject({ status: 200, body: expect.stringContaining('ATR over TLS') });
  });

  it('picks the protocol by ALPN: h2 when offered, http/1.1 when only it is, as openssl s_client shows', async () => {
    const h2 = await handshake(port, 'h2', caFile);
    expect(h2).toContain('ALPN protocol: h2');
    expect(h2).toContain('Verify return code: 0 (ok)');
    expect(await handshake(port, 'http/1.1', caFile)).toContain('ALPN protocol: http/1.1');
    // node:https offers no ALPN at all: it is served HTTP/1.1.
    expect(await httpsGet(`https://localhost:${port}/readyz`, ca)).toMatchObject({ status: 200, alpn: false, body: expect.stringContaining('"ready"') });
  });

  it('serves grpc-js with TLS credentials, Connect over HTTP/2 and gRPC-Web over HTTP/1.1', async () => {
    expect(await grpcHealth(port, ca)).toBe(1);
    const resolved = await createClient(ResolveService, connect(server.server.url, ca, '2')).resolveAgent({ agentName: 'crl.tls.example' });
    expect(resolved.agentName).toBe('crl.tls.example');
    const web = createGrpcWebTransport({ baseUrl: server.server.url, httpVersion: '1.1', nodeOptions: { ca } });
    expect((await createClient(ResolveService, web).resolveAgent({ agentName: 'crl.tls.example' })).owner).toBe('tls');
  });

  it('answers nothing in clear text on the TLS port', async () => {
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  });

  it('lets the CLI call it with --server https://... and --cacert', async () => {
    const result = await runAtr(['resolve', 'crl.tls.example', '--server', server.server.url, '--cacert', caFile], scratch);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('crl.tls.example');
  }, 120_000);
});

function connect(baseUrl: string, ca: string, httpVersion: '1.1' | '2') {
  return createConnectTransport({ baseUrl, httpVersion, nodeOptions: { ca } });
}

describe('TLS on the public listener from files', () => {
  let cert: string;
  let key: string;
  beforeAll(async () => {
    const dir = mkdtempSync(join(scratch, 'files-'));
    cert = join(dir, 'server.crt');
    key = join(dir, 'server.key');
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', key, '-out', cert]);
  });

  it('serves the operator\'s certificate, and warns when its key is readable by others', async () => {
    chmodSync(key, 0o644);
    const environment = await testEnvironment('sqlite', { tlsCertFile: cert, tlsKeyFile: key });
    const { logger, lines } = recordingLogger();
    const server = await startServer(environment.config, logger);
    try {
      expect(server.url).toMatch(/^https:/);
      expect(await curl(['--http2', '--cacert', cert, `https://localhost:${server.port}/healthz`])).toMatchObject({ status: 200, version: '2' });
      expect(lines.filter((line) => line.message.startsWith('TLS_KEY_FILE is readable'))).toEqual([
        expect.objectContaining({ level: 'warn', fields: { file: key, mode: '644' } }),
      ]);
    } finally {
      await server.close();
      await environment.cleanup();
    }
  }, 120_000);

  it('refuses to start with a missing key, an unreadable file or a key that is not the certificate\'s', async () => {
    chmodSync(key, 0o600);
    const other = join(scratch, 'other.key');
    await run('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', other]);
    const cases = [
      [{ publicTls: 'files', tlsCertFile: cert }, /PUBLIC_TLS=files needs both TLS_CERT_FILE and TLS_KEY_FILE \(missing TLS_KEY_FILE\)/],
      [{ tlsCertFile: join(scratch, 'absent.crt'), tlsKeyFile: key }, /TLS_CERT_FILE=".*absent\.crt": cannot read it \(ENOENT\)/],
      [{ tlsCertFile: cert, tlsKeyFile: other }, /TLS_CERT_FILE and TLS_KEY_FILE: not a usable PEM certificate chain and matching key/],
    ] as const;
    for (const [overrides, message] of cases) {
      const environment = await testEnvironment('sqlite', overrides);
      try {
        const started = startServer(environment.config, recordingLogger().logger);
        await expect(started).rejects.toThrow(ConfigError);
        await expect(started).rejects.toThrow(message);
      } finally {
        await environment.cleanup();
      }
    }
  }, 120_000);
});
