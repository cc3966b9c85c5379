// A real server process with API keys on: every line it writes to stderr is JSON, every API call gets an access
// line, and none of the secrets that passed through it (keys, the agent's private key, a token, certificates)
// appears anywhere in its log.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistryClient } from '../../src/sdk/client.ts';
import { signToken } from '../../src/sdk/token.ts';
import { processEnvironment, type ServerProcess, serverProcess } from '../support/server-process.ts';

const AUDIENCE = 'https://api.example';
const pemBody = (pem: string) => pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s/g, '');

describe('the log of a server process', () => {
  let server: ServerProcess;
  let cleanup: () => Promise<void>;
  let dir: string;
  let stderr = '';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'atr-logging-'));
    const environment = await processEnvironment('sqlite', {
      API_KEY_ENABLED: 'true',
      ADMIN_KEY_FILE: join(dir, 'admin.key'),
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'json',
    });
    cleanup = environment.cleanup;
    server = await serverProcess(environment.env, { stderr: 'pipe' });
    server.child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  });
  afterAll(async () => {
    await server?.stop();
    await cleanup?.();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes JSON lines, an access line per call with a request id, and never a secret', async () => {
    const adminKey = readFileSync(join(dir, 'admin.key'), 'utf8').trim();
    const rest = async (method: string, path: string, body: unknown, headers: Record<string, string> = {}) => {
      const response = await fetch(`${server.url}${path}`, {
        method,
        headers: { 'content-type': 'application/json', ...headers },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      return { status: response.status, requestId: response.headers.get('x-request-id'), json: (await response.json()) as Record<string, unknown> };
    };

    // REST, with an id of the caller's: it comes back and names the access line.
    const registered = await rest('POST', '/v1/agents', { agent_name: 'logged.example', owner: 'team' }, { 'x-api-key': adminKey, 'x-request-id': 'caller-id-1' });
    expect(registered.status).toBe(201);
    expect(registered.requestId).toBe('caller-id-1');
    const keyPem = registered.json['private_key_pem'] as string;
    const certPem = registered.json['cert_pem'] as string;
    expect(keyPem).toContain('PRIVATE KEY');

    // Connect, with a token; gRPC for a read; a new API key over REST.
    const token = await signToken({ agentName: 'logged.example', keyPem, certPem, audience: AUDIENCE });
    const connect = createRegistryClient({ baseUrl: server.url });
    expect((await connect.verify.verifyToken({ token, audience: AUDIENCE })).verified).toBe(true);
    const grpc = createRegistryClient({ baseUrl: server.url, protocol: 'grpc', apiKey: adminKey });
    expect((await grpc.resolve.resolveAgent({ agentName: 'logged.example' })).agentName).toBe('logged.example');
    const created = await rest('POST', '/v1/keys', { role: 'reader' }, { authorization: `Bearer ${adminKey}`, 'x-request-id': 'bad id with spaces' });
    expect(created.status).toBe(201);
    const createdKey = created.json['secret'] as string;
    expect(createdKey).toMatch(/^atr_/);
    expect(created.requestId).toMatch(/^[0-9a-f]{16}-[0-9a-z]+$/);

    // Wrong keys, on REST and Connect.
    const wrongKey = `${createdKey.slice(0, -4)}xxxx`;
    expect((await rest('GET', '/v1/keys', undefined, { 'x-api-key': wrongKey })).status).toBe(401);
    const wrong = createRegistryClient({ baseUrl: server.url, apiKey: 'atr_nosuchkey_secretsecret' });
    await expect(wrong.keys.listApiKeys({})).rejects.toThrow();

    await server.stop();
    const lines = stderr.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as Record<string, unknown>);
    for (const line of lines) expect(line).toEqual(expect.objectContaining({ level: expect.any(String), time: expect.any(String), msg: expect.any(String) }));
    expect(lines.map((line) => line['msg'])).toContain('listening');

    const access = lines.filter((line) => line['msg'] === 'request');
    for (const line of access) {
      expect(line).toEqual(
        expect.objectContaining({
          requestId: expect.any(String),
          principal: expect.any(String),
          protocol: expect.stringMatching(/^(grpc|grpc-web|connect|rest)$/),
          method: expect.stringMatching(/^atr\.v1\.\w+\/\w+$/),
          code: expect.any(String),
          latencyMs: expect.any(Number),
        }),
      );
    }
    const adminId = `key:${adminKey.split('_')[1]}`;
    expect(access).toEqual([
      expect.objectContaining({ requestId: 'caller-id-1', protocol: 'rest', method: 'atr.v1.RegistryService/RegisterAgent', principal: adminId, code: 'ok' }),
      expect.objectContaining({ protocol: 'connect', method: 'atr.v1.VerifyService/VerifyToken', principal: 'anonymous', code: 'ok' }),
      expect.objectContaining({ protocol: 'grpc', method: 'atr.v1.ResolveService/ResolveAgent', principal: adminId, code: 'ok' }),
      expect.objectContaining({ requestId: created.requestId, protocol: 'rest', method: 'atr.v1.ApiKeyService/CreateApiKey', code: 'ok' }),
      expect.objectContaining({ protocol: 'rest', method: 'atr.v1.ApiKeyService/ListApiKeys', principal: 'anonymous', code: 'unauthenticated' }),
      expect.objectContaining({ protocol: 'connect', method: 'atr.v1.ApiKeyService/ListApiKeys', principal: 'anonymous', code: 'unauthenticated' }),
    ]);

    const secrets = { adminKey, createdKey, wrongKey, token, keyPem: pemBody(keyPem), certPem: pemBody(certPem) };
    for (const [name, secret] of Object.entries(secrets)) expect(stderr.includes(secret), name).toBe(false);
    // Not even a line of a PEM body.
    for (const pem of [keyPem, certPem]) {
      for (const chunk of pem.split('\n').filter((line) => line.length >= 32 && !line.startsWith('-----'))) expect(stderr).not.toContain(chunk);
    }
  });
});
