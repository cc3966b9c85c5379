import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type TestServer, curl, seenApiKeys, startTestServer } from './fixture.ts';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());
beforeEach(() => server.agents.clear());

async function call(method: string, path: string, body?: string | Uint8Array, headers: Record<string, string> = {}) {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body }),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text === '' ? undefined : JSON.parse(text) };
}

const register = (agent: object) => call('POST', '/v1/agents', JSON.stringify(agent));

describe('REST transcoding', () => {
  it('POST /v1/agents answers 201 with the agent flattened into the body, snake_case, enums by short name', async () => {
    const res = await register({ agent_name: 'alpha.example', owner: 'ops', capabilities: ['chat'] });
    expect(res.status).toBe(201);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.json).toMatchObject({
      agent_name: 'alpha.example',
      owner: 'ops',
      capabilities: ['chat'],
      status: 'active',
      version: 1,
      cert_pem: 'cert of alpha.example',
      chain_pem: 'chain',
      private_key_pem: null,
      revocation_reason: null,
      revoked_at: null,
    });
    expect(res.json).not.toHaveProperty('agent');
    expect(res.json.issued_at).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('accepts camelCase field names in the body', async () => {
    const res = await register({ agentName: 'camel.example', owner: 'ops' });
    expect(res.status).toBe(201);
    expect(res.json.agent_name).toBe('camel.example');
  });

  it('fills path parameters, percent-decoded, and answers with response_body', async () => {
    await register({ agent_name: 'beta.example', owner: 'ops' });
    const res = await call('GET', '/v1/agents/beta%2Eexample');
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ agent_name: 'beta.example', status: 'active' });
    expect(res.json).not.toHaveProperty('agent');
  });

  it('lets path parameters override the body', async () => {
    await register({ agent_name: 'gamma.example', owner: 'ops' });
    const res = await call('POST', '/v1/agents/gamma.example/revoke', JSON.stringify({ agentName: 'other.example', reason: 'keyCompromise' }));
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ agent_name: 'gamma.example', status: 'revoked', revocation_reason: 'keyCompromise' });
  });

  it('fills scalar, enum (short or full name) and int fields from the query', async () => {
    for (const name of ['a.example', 'b.example', 'c.example']) await register({ agent_name: name, owner: 'ops' });
    await register({ agent_name: 'd.example', owner: 'dev' });
    await call('POST', '/v1/agents/c.example/revoke', '{}');

    const active = await call('GET', '/v1/agents?status=active&owner=ops&limit=1&offset=1');
    expect(active.status).toBe(200);
    expect(active.json).toMatchObject({ total: 2, limit: 1, offset: 1, next_page_token: null });
    expect(active.json.agents.map((a: { agent_name: string }) => a.agent_name)).toEqual(['b.example']);

    const revoked = await call('GET', '/v1/agents?status=AGENT_STATUS_REVOKED');
    expect(revoked.json.agents.map((a: { status: string }) => a.status)).toEqual(['revoked']);

    const byJsonName = await call('GET', '/v1/agents?pageSize=5&status=revoked');
    expect(byJsonName.status).toBe(200);
  });

  it('rejects unknown query parameters and unparsable values', async () => {
    const unknown = await call('GET', '/v1/agents?colour=blue');
    expect(unknown.status).toBe(400);
    expect(unknown.json).toEqual({ detail: 'colour: is not a field of this request', code: 'invalid_argument' });

    const notANumber = await call('GET', '/v1/agents?limit=many');
    expect(notANumber.status).toBe(400);
    expect(notANumber.json.detail).toBe('limit: must be an integer');

    const badEnum = await call('GET', '/v1/agents?status=sleeping');
    expect(badEnum.status).toBe(400);
    expect(badEnum.json).toEqual({ detail: 'status: must be one of active, revoked, expired, pending', code: 'invalid_argument' });
  });

  it('renders the zero enum value as null', async () => {
    server.agents.clear();
    await register({ agent_name: 'zero.example' });
    const agent = server.agents.get('zero.example');
    if (agent === undefined) throw new Error('not registered');
    agent.status = 0;
    const res = await call('GET', '/v1/agents/zero.example');
    expect(res.json.status).toBeNull();
  });

  it('rejects an unknown body field, naming it', async () => {
    const res = await register({ agent_name: 'x.example', colour: 'blue' });
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ detail: expect.stringContaining('colour'), code: 'invalid_argument' });
  });

  it('rejects invalid JSON, invalid UTF-8 and deep nesting', async () => {
    const broken = await call('POST', '/v1/agents', '{"agent_name": ');
    expect(broken.status).toBe(400);
    expect(broken.json.code).toBe('invalid_argument');

    const latin1 = await call('POST', '/v1/agents', new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]));
    expect(latin1.status).toBe(400);
    expect(latin1.json).toEqual({ detail: expect.stringContaining('UTF-8'), code: 'invalid_argument' });

    const deep = `{"capabilities": ${'['.repeat(40)}${']'.repeat(40)}}`;
    const nested = await call('POST', '/v1/agents', deep);
    expect(nested.status).toBe(400);
    expect(nested.json).toEqual({ detail: expect.stringContaining('deeper'), code: 'invalid_argument' });
  });

  it('rejects a body over 1 MiB', async () => {
    const res = await register({ agent_name: 'big.example', description: 'x'.repeat(1.1 * 1024 * 1024) });
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ detail: 'request: must be at most 1048576 bytes', code: 'input_too_large' });
    expect(server.agents.has('big.example')).toBe(false);
  });

  it('answers HEAD like GET, without the body', async () => {
    await register({ agent_name: 'head.example' });
    const res = await fetch(`${server.url}/v1/agents/head.example`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.text()).toBe('');
  });

  it('ignores a body on GET', async () => {
    await register({ agent_name: 'get.example' });
    const res = await curl('--http1.1', `${server.url}/v1/agents/get.example`, '-X', 'GET', '-d', '{"colour": "blue"}');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ agent_name: 'get.example' });
  });

  it('maps domain errors to status and {detail, code}', async () => {
    const missing = await call('GET', '/v1/agents/nobody.example');
    expect(missing.status).toBe(404);
    expect(missing.json).toEqual({ detail: 'agent nobody.example not found', code: 'agent_not_found' });

    await register({ agent_name: 'taken.example' });
    const taken = await register({ agent_name: 'taken.example' });
    expect(taken.status).toBe(409);
    expect(taken.json).toEqual({ detail: 'agent name taken.example is already taken', code: 'name_taken' });

    const invalid = await register({ agent_name: 'Not A Name' });
    expect(invalid.status).toBe(400);
    expect(invalid.json.code).toBe('invalid_name');
  });

  it('answers 405 with Allow when the path exists but the method does not', async () => {
    const collection = await call('DELETE', '/v1/agents');
    expect(collection.status).toBe(405);
    expect(collection.headers.get('allow')).toBe('POST, GET');
    expect(collection.json.code).toBe('method_not_allowed');

    const item = await call('PUT', '/v1/agents/x.example');
    expect(item.status).toBe(405);
    expect(item.headers.get('allow')).toBe('GET, PATCH');
  });

  it('answers 404 for an unknown path', async () => {
    const res = await call('GET', '/v1/agents/x.example/nothing');
    expect(res.status).toBe(404);
    expect(res.json).toEqual({ detail: expect.any(String), code: 'not_found' });
  });

  it('forwards request headers to the interceptors', async () => {
    seenApiKeys.length = 0;
    const res = await call('GET', '/v1/agents', undefined, { 'x-api-key': 'key-123' });
    expect(res.status).toBe(200);
    expect(seenApiKeys).toContain('key-123');

    const refused = await call('GET', '/v1/agents', undefined, { 'x-api-key': 'wrong' });
    expect(refused.status).toBe(401);
    expect(refused.json).toEqual({ detail: 'invalid API key', code: 'unauthenticated' });
  });

  it('serves every service with http rules, not only the registry', async () => {
    await register({ agent_name: 'resolve.example', owner: 'ops' });
    const res = await call('GET', '/v1/resolve/resolve.example');
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ agent_name: 'resolve.example', status: 'active', owner: 'ops', expires_at: null });
  });
});
