import { domainToASCII } from 'node:url';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import type { Config } from '../../src/config/schema.ts';
import { Registry } from '../../src/registry/registry.ts';
import type { RunningServer } from '../../src/server/server.ts';
import { runningServer } from '../support/server.ts';

type Json = Record<string, unknown>;

// "pаypal" with a Cyrillic а (U+0430), written the only way a name may carry it: as an xn-- label.
const lookalike = `${domainToASCII('pаypal')}.example.com`;
const rule = 'label "xn--pypal-4ve" ("pаypal") mixes the Latin and Cyrillic scripts (UTS #39); set ALLOW_MIXED_SCRIPT_NAMES=true to allow it';

function serverWith(overrides: Partial<Config>) {
  const started: { server?: RunningServer; cleanup?: () => Promise<void> } = {};
  beforeAll(async () => Object.assign(started, await runningServer('sqlite', overrides)));
  afterAll(() => started.cleanup?.());
  const server = () => started.server ?? expect.unreachable('the server has not started');
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${server().url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Json };
  };
  return { server, call };
}

describe('mixed-script names, ALLOW_MIXED_SCRIPT_NAMES off (the default)', () => {
  const { server, call } = serverWith({});

  it('refuses to register "pаypal" over REST with 400 and the rule, and writes nothing', async () => {
    expect(lookalike).toBe('xn--pypal-4ve.example.com');
    const before = { audit: await call('GET', '/v1/audit'), log: await call('GET', '/v1/log/entries') };

    const refused = await call('POST', '/v1/agents', { agent_name: lookalike, owner: 'mallory' });
    expect(refused.status).toBe(400);
    expect(refused.body).toEqual({ code: 'invalid_name', detail: `agent_name: ${rule} ("${lookalike}")` });

    expect((await call('GET', `/v1/agents/${lookalike}`)).status).toBe(404);
    expect(await call('GET', '/v1/audit')).toEqual(before.audit);
    expect(await call('GET', '/v1/log/entries')).toEqual(before.log);
  });

  it.each([
    ['Connect', () => createConnectTransport({ baseUrl: server().url, httpVersion: '1.1' })],
    ['gRPC', () => createGrpcTransport({ baseUrl: server().url })],
  ])('refuses it over %s with InvalidArgument and the rule', async (_, transport) => {
    const registry = createClient(RegistryService, transport());
    const error = await registry.registerAgent({ agentName: lookalike, owner: 'mallory' }).then(
      () => expect.unreachable('registered'),
      (e: unknown) => ConnectError.from(e),
    );
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toBe(`agent_name: ${rule} ("${lookalike}")`);
  });

  it('registers single-script internationalised names', async () => {
    for (const unicode of ['münchen', 'москва', '東京のカタカナ']) {
      const created = await call('POST', '/v1/agents', { agent_name: `${domainToASCII(unicode)}.example`, owner: 'intl' });
      expect(created.status, unicode).toBe(201);
    }
  });

  it('still serves and manages an agent registered while the setting was on', async () => {
    const { app } = server();
    const permissive = new Registry({ store: app.store, ca: app.ca, certValidityDays: 1, allowMixedScriptNames: true });
    await permissive.register({ agentName: lookalike, owner: 'legacy', capabilities: [] }, 'test');

    expect((await call('GET', `/v1/agents/${lookalike}`)).status).toBe(200);
    expect((await call('GET', `/v1/resolve/${lookalike}`)).status).toBe(200);
    expect((await call('GET', `/v1/audit?agent_name=${lookalike}`)).body).toMatchObject({ total: 1 });
    expect((await call('PATCH', `/v1/agents/${lookalike}`, { description: 'kept' })).status).toBe(200);
    expect((await call('POST', `/v1/agents/${lookalike}/rotate`, {})).status).toBe(200);
    expect((await call('POST', `/v1/agents/${lookalike}/revoke`, { reason: 'cessationOfOperation' })).status).toBe(200);
  });
});

describe('mixed-script names, ALLOW_MIXED_SCRIPT_NAMES=true', () => {
  const { call } = serverWith({ allowMixedScriptNames: true });

  it('registers "pаypal"', async () => {
    const created = await call('POST', '/v1/agents', { agent_name: lookalike, owner: 'mallory' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ agent_name: lookalike, status: 'active' });
    expect((await call('GET', `/v1/agents/${lookalike}`)).body).toMatchObject({ agent_name: lookalike });
  });
});
