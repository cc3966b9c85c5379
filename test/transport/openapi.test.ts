import { readFileSync } from 'node:fs';
import type { JsonObject, JsonValue } from '@bufbuild/protobuf';
import { MethodOptions_IdempotencyLevel } from '@bufbuild/protobuf/wkt';
import { type Interceptor, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-web';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { ResolveService } from '../../gen/atr/v1/resolve_pb.js';
import { main } from '../../src/cli/main.ts';
import { restRoutes } from '../../src/server/rest.ts';
import { apiServices } from '../../src/server/routes.ts';
import { runningServer } from '../support/server.ts';

type Operation = { parameters?: { name: string; in: string; required: boolean }[]; requestBody?: JsonObject; responses: Record<string, JsonObject> };

let base: string;
let adminKey: string;
let cleanup: () => Promise<void>;
let doc: JsonObject;

beforeAll(async () => {
  const started = await runningServer('sqlite', { apiKeyEnabled: true });
  base = started.server.url;
  cleanup = started.cleanup;
  adminKey = readFileSync(started.environment.config.adminKeyFile, 'utf8').trim();
  const res = await fetch(`${base}/openapi.json`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('application/json');
  doc = (await res.json()) as JsonObject;
});
afterAll(() => cleanup());

const operationOf = (path: string, verb: string) => ((doc['paths'] as JsonObject)[path] as JsonObject | undefined)?.[verb.toLowerCase()] as Operation | undefined;

/** Follows a local $ref (`#/components/schemas/atr.v1.Agent`); throws when it points nowhere. */
function resolve(ref: string): JsonValue {
  let at: JsonValue = doc;
  for (const part of ref.replace(/^#\//, '').split('/')) {
    const next: JsonValue | undefined = typeof at === 'object' && at !== null && !Array.isArray(at) ? at[part.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined;
    if (next === undefined) throw new Error(`${ref} does not resolve`);
    at = next;
  }
  return at;
}

function refsIn(value: JsonValue): string[] {
  if (Array.isArray(value)) return value.flatMap(refsIn);
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([key, v]) => (key === '$ref' && typeof v === 'string' ? [v] : refsIn(v)));
}

/** The property names of a response schema, through $ref and the nullable anyOf. */
function propertiesOf(schema: JsonValue): string[] {
  const object = schema as JsonObject;
  if (typeof object['$ref'] === 'string') return propertiesOf(resolve(object['$ref']));
  if (Array.isArray(object['anyOf'])) return propertiesOf(object['anyOf'][0] ?? {});
  return Object.keys((object['properties'] as JsonObject | undefined) ?? {}).sort();
}

async function callDocumented(verb: string, template: string, values: Record<string, string>, body?: unknown) {
  const operation = operationOf(template, verb);
  expect(operation, `${verb} ${template}`).toBeDefined();
  const path = template.replace(/\{(\w+)\}/g, (_, name: string) => {
    expect(operation?.parameters?.find((p) => p.name === name && p.in === 'path')).toBeDefined();
    return encodeURIComponent(values[name] ?? '');
  });
  const res = await fetch(`${base}${path}`, {
    method: verb,
    headers: { 'x-api-key': adminKey, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = (await res.json()) as JsonObject;
  const documented = operation?.responses[String(res.status)];
  expect(documented, `${verb} ${template} answered ${res.status}: ${JSON.stringify(json)}`).toBeDefined();
  const schema = ((documented?.['content'] as JsonObject)['application/json'] as JsonObject)['schema'] as JsonValue;
  expect(Object.keys(json).sort()).toEqual(propertiesOf(schema));
  return json;
}

describe('GET /openapi.json', () => {
  it('is a structurally valid OpenAPI 3.1 document: required fields, every $ref resolves, JSON round trip', () => {
    expect(doc['openapi']).toBe('3.1.0');
    expect(doc['info']).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    expect(Object.keys(doc['paths'] as JsonObject).length).toBeGreaterThan(0);
    const refs = refsIn(doc);
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) expect(() => resolve(ref), ref).not.toThrow();
    expect(JSON.parse(JSON.stringify(doc))).toEqual(doc);
    const ids = Object.values(doc['paths'] as JsonObject).flatMap((item) => Object.values(item as JsonObject).map((op) => (op as JsonObject)['operationId']));
    expect(new Set(ids).size).toBe(ids.length);
    expect((doc['components'] as JsonObject)['securitySchemes']).toMatchObject({ ApiKey: { type: 'apiKey', in: 'header', name: expect.any(String) }, Bearer: { type: 'http', scheme: 'bearer' } });
  });

  it('documents every REST route the transcoder serves, with its method, path and query parameters', () => {
    const routes = restRoutes(apiServices);
    expect(routes.length).toBeGreaterThan(20);
    for (const route of routes) {
      const operation = operationOf(route.template, route.verb);
      expect(operation, `${route.verb} ${route.template}`).toBeDefined();
      const inPath = route.segments.flatMap((s) => ('field' in s ? [s.field.name] : []));
      const parameters = operation?.parameters ?? [];
      expect(parameters.filter((p) => p.in === 'path').map((p) => p.name)).toEqual(inPath);
      expect(parameters.filter((p) => p.in === 'path').every((p) => p.required)).toBe(true);
      const query = parameters.filter((p) => p.in === 'query').map((p) => p.name);
      if (route.bodyField === undefined) {
        expect(operation?.requestBody).toBeUndefined();
        const expected = route.method.input.fields.filter((f) => !inPath.includes(f.name) && f.fieldKind !== 'map' && !(f.fieldKind === 'message' && f.message.typeName === 'google.protobuf.Struct'));
        expect(query.sort()).toEqual(expected.map((f) => f.name).sort());
      } else {
        expect(query).toEqual([]);
        expect(operation?.requestBody).toBeDefined();
      }
      expect(Object.keys(operation?.responses ?? {})).toEqual(expect.arrayContaining([String(route.status), '4XX']));
    }
    const documented = Object.values(doc['paths'] as JsonObject).flatMap((item) => Object.keys(item as JsonObject));
    expect(documented).toHaveLength(routes.length);
  });

  it('matches what the routes answer, for one call per verb', async () => {
    const created = await callDocumented('POST', '/v1/agents', {}, { agent_name: 'doc.openapi.example', owner: 'docs', capabilities: ['chat'] });
    expect(created['private_key_pem']).toEqual(expect.stringContaining('PRIVATE KEY'));
    expect(created['log_index']).toEqual(expect.any(Number));
    const fetched = await callDocumented('GET', '/v1/agents/{agent_name}', { agent_name: 'doc.openapi.example' });
    expect(fetched).toMatchObject({ description: null, revocation_reason: null, version: 1 });
    await callDocumented('PATCH', '/v1/agents/{agent_name}', { agent_name: 'doc.openapi.example' }, { description: 'documented' });
    const key = await callDocumented('POST', '/v1/keys', {}, { role: 'reader' });
    expect(key['secret']).toMatch(/^atr_/);
    const keyId = (key['key'] as JsonObject)['key_id'] as string;
    const revoked = await callDocumented('DELETE', '/v1/keys/{key_id}', { key_id: keyId });
    expect(revoked).toMatchObject({ key_id: keyId, owner: null });
    const root = await callDocumented('GET', '/v1/log/root', {});
    expect(root['tree_size']).toEqual(expect.any(Number));
  });

  it('is printed by atr openapi, with --server as its server', async () => {
    const written: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    try {
      expect(await main(['openapi', '--server', base])).toBe(0);
    } finally {
      spy.mockRestore();
    }
    const printed = JSON.parse(written.join('')) as JsonObject;
    expect(printed['servers']).toEqual([{ url: base }]);
    expect(printed['paths']).toEqual(doc['paths']);
  });
});

describe('Connect GET', () => {
  it('serves the reads marked NO_SIDE_EFFECTS and no other method', () => {
    const reads = apiServices.flatMap((s) => s.methods).filter((m) => m.idempotency === MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS).map((m) => m.name);
    expect(reads).toEqual(expect.arrayContaining(['ResolveAgent', 'GetAgent', 'ListAgents', 'GetCheckpoint', 'GetTrustBundle']));
    expect(reads).not.toContain('VerifyCertificate');
    expect(reads).not.toContain('VerifyToken');
    expect(reads).not.toContain('RegisterAgent');
  });

  it('answers a GET with the message in the query, and refuses a bad field by name', async () => {
    const message = encodeURIComponent(JSON.stringify({ agentName: 'doc.openapi.example' }));
    const res = await fetch(`${base}/atr.v1.ResolveService/ResolveAgent?connect=v1&encoding=json&message=${message}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ agentName: 'doc.openapi.example', status: 'AGENT_STATUS_ACTIVE' });

    const bad = encodeURIComponent(JSON.stringify({ agentName: 'doc.openapi.example', colour: 'blue' }));
    const refused = await fetch(`${base}/atr.v1.ResolveService/ResolveAgent?connect=v1&encoding=json&message=${bad}`);
    expect(refused.status).toBe(400);
    expect(refused.headers.get('atr-error-code')).toBe('invalid_argument');
    expect(await refused.json()).toEqual({ code: 'invalid_argument', message: 'colour: is not a field of this request' });

    const garbage = Buffer.from([0x0a, 0xff, 0xff]).toString('base64url');
    const undecodable = await fetch(`${base}/atr.v1.ResolveService/ResolveAgent?connect=v1&encoding=proto&base64=1&message=${garbage}`);
    expect(undecodable.status).toBe(400);
    expect(((await undecodable.json()) as JsonObject)['message']).toMatch(/^request: is not a valid atr.v1.ResolveAgentRequest in the protobuf binary format/);

    const write = encodeURIComponent(JSON.stringify({ agentName: 'get.openapi.example', owner: 'docs' }));
    expect((await fetch(`${base}/atr.v1.RegistryService/RegisterAgent?connect=v1&encoding=json&message=${write}`)).status).toBe(405);
  });

  it('is what a Connect client with useHttpGet sends for reads', async () => {
    const sent: string[] = [];
    const recording: typeof fetch = (input, init) => {
      sent.push(`${init?.method ?? 'GET'} ${new URL(String(input)).pathname}`);
      return fetch(input, init);
    };
    const transport = createConnectTransport({ baseUrl: base, useHttpGet: true, fetch: recording, interceptors: [bearer(adminKey)] });
    const resolved = await createClient(ResolveService, transport).resolveAgent({ agentName: 'doc.openapi.example' });
    expect(resolved.owner).toBe('docs');
    const listed = await createClient(RegistryService, transport).listAgents({ owner: 'docs' });
    expect(listed.total).toBe(1);
    await createClient(RegistryService, transport).revokeAgent({ agentName: 'doc.openapi.example' });
    expect(sent).toEqual([
      'GET /atr.v1.ResolveService/ResolveAgent',
      'GET /atr.v1.RegistryService/ListAgents',
      'POST /atr.v1.RegistryService/RevokeAgent',
    ]);
  });
});

function bearer(key: string): Interceptor {
  return (next) => (req) => {
    req.header.set('authorization', `Bearer ${key}`);
    return next(req);
  };
}
