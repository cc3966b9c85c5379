import { gzipSync } from 'node:zlib';
import { create, toBinary } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetAgentRequestSchema, RegisterAgentRequestSchema, RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { VerifyService } from '../../gen/atr/v1/verify_pb.js';
import { dialects } from '../support/databases.ts';
import { rpcError } from '../support/rpc.ts';
import { derNestingBomb, pemOf } from './hostile.ts';
import { type FuzzTarget, startFuzzTarget } from './target.ts';

// One example of each refusal the fuzz test relies on, over the real transports: the code, the "<field>: <rule>"
// message, and a registry that is exactly as it was.

describe.each(dialects)('bad input is refused with the field and the rule, and changes nothing, on %s', (dialect) => {
  let target: FuzzTarget;
  let before: string;
  beforeAll(async () => {
    target = await startFuzzTarget(dialect);
    before = await target.snapshot();
  });
  afterAll(async () => {
    // Every request in this file is refused: nothing may have been written by any of them.
    expect(await target.snapshot()).toBe(before);
    await target.close();
  });

  const rpc = (method: string) => `${target.url}/atr.v1.${method}`;

  async function connect(method: string, body: Uint8Array | string, headers: Record<string, string>): Promise<{ status: number; code: string; message: string }> {
    const res = await fetch(rpc(method), { method: 'POST', headers: { 'connect-protocol-version': '1', ...headers }, body });
    const json = (await res.json()) as { code: string; message: string };
    return { status: res.status, code: json.code, message: json.message };
  }

  async function grpcWeb(method: string, message: Uint8Array, flags = 0, contentType = 'application/grpc-web+proto'): Promise<{ status: string; message: string }> {
    const frame = Buffer.concat([Buffer.from([flags, 0, 0, 0, 0]), message]);
    frame.writeUInt32BE(message.length, 1);
    const res = await fetch(rpc(method), { method: 'POST', headers: { 'content-type': contentType }, body: frame });
    const trailer = Buffer.from(await res.arrayBuffer()).subarray(5).toString();
    return {
      status: /grpc-status: (\d+)/.exec(trailer)?.[1] ?? '',
      message: decodeURIComponent(/grpc-message: (.*)\r\n/.exec(trailer)?.[1] ?? ''),
    };
  }

  async function rest(method: string, path: string, body?: unknown): Promise<{ status: number; detail: string; code: string }> {
    const res = await fetch(`${target.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const json = (await res.json()) as { detail: string; code: string };
    return { status: res.status, ...json };
  }

  /** A string field sent as bytes that are not UTF-8. */
  const notUtf8 = (field: number) => new BinaryWriter().tag(field, WireType.LengthDelimited).bytes(Uint8Array.of(0x61, 0xff, 0x62)).finish();
  const proto = { 'content-type': 'application/proto' };

  it('names the string field whose protobuf bytes are not UTF-8, on Connect and gRPC-Web', async () => {
    expect(await connect('RegistryService/GetAgent', notUtf8(1), proto)).toEqual({
      status: 400,
      code: 'invalid_argument',
      message: 'agent_name: is not valid UTF-8',
    });
    const register = Buffer.concat([toBinary(RegisterAgentRequestSchema, create(RegisterAgentRequestSchema, { agentName: 'utf8.fuzz.test' })), notUtf8(2)]);
    expect(await grpcWeb('RegistryService/RegisterAgent', register)).toEqual({ status: String(Code.InvalidArgument), message: 'owner: is not valid UTF-8' });
  });

  it('answers InvalidArgument, not Internal, to protobuf bytes that do not decode', async () => {
    const cut = toBinary(GetAgentRequestSchema, create(GetAgentRequestSchema, { agentName: 'alpha.fuzz.test' })).subarray(0, 5);
    expect(await connect('RegistryService/GetAgent', cut, proto)).toEqual({
      status: 400,
      code: 'invalid_argument',
      message: 'request: is not a valid atr.v1.GetAgentRequest in the protobuf binary format (premature EOF)',
    });
    expect((await grpcWeb('RegistryService/GetAgent', Uint8Array.of(0xff, 0xff))).status).toBe(String(Code.InvalidArgument));
  });

  it.each([
    ['0x02', 0x02],
    ['0x40', 0x40],
    ['0x80', 0x80],
  ])('refuses a message frame with the reserved flag bit %s set, rather than skipping its screen', async (_bit, flags) => {
    const rule = `request: frame flags 0x${flags.toString(16).padStart(2, '0')} set reserved bits; a request frame may set only 0x01 (compressed)`;
    expect(await grpcWeb('RegistryService/GetAgent', Uint8Array.of(0xff, 0xff), flags)).toEqual({ status: String(Code.InvalidArgument), message: rule });
    // JSON with a description that is not UTF-8: screened (and refused) whatever the flags say, never stored.
    const update = Buffer.from(`{"agentName":"alpha.fuzz.test","description":"a\xff","updateMask":"description"}`, 'latin1');
    expect(await grpcWeb('RegistryService/UpdateAgent', update, flags, 'application/grpc-web+json')).toEqual({ status: String(Code.InvalidArgument), message: rule });
  });

  it('refuses a frame flagged compressed when no encoding header names a compression, as InvalidArgument, not Internal', async () => {
    const get = toBinary(GetAgentRequestSchema, create(GetAgentRequestSchema, { agentName: 'alpha.fuzz.test' }));
    expect(await grpcWeb('RegistryService/GetAgent', get, 0x01)).toEqual({
      status: String(Code.InvalidArgument),
      message: 'request: frame is flagged compressed (0x01), but grpc-encoding names no compression',
    });
  });

  it('refuses a request over 1 MiB as InvalidArgument on every transport, compressed or not', async () => {
    const rule = 'request: must be at most 1048576 bytes';
    const huge = 'x'.repeat((1 << 20) + 1);
    const grpc = createClient(RegistryService, createGrpcTransport({ baseUrl: target.url }));
    const error = await rpcError(grpc.registerAgent({ agentName: 'huge.fuzz.test', owner: 'o', description: huge }));
    expect([error.code, error.rawMessage, error.metadata.get('atr-error-code')]).toEqual([Code.InvalidArgument, rule, 'input_too_large']);
    expect(await connect('RegistryService/RegisterAgent', JSON.stringify({ agentName: 'huge.fuzz.test', description: huge }), { 'content-type': 'application/json' })).toEqual({
      status: 400,
      code: 'invalid_argument',
      message: rule,
    });
    // 1 KiB on the wire, 2 MiB once inflated.
    const bomb = gzipSync(new BinaryWriter().tag(1000, WireType.LengthDelimited).bytes(new Uint8Array(2 << 20)).finish());
    expect(await connect('RegistryService/RegisterAgent', bomb, { ...proto, 'content-encoding': 'gzip' })).toMatchObject({ status: 400, message: rule });
    expect(await rest('POST', '/v1/agents', { agent_name: 'huge.fuzz.test', owner: 'o', description: huge })).toEqual({
      status: 400,
      detail: rule,
      code: 'input_too_large',
    });
  });

  it('refuses a JSON field it does not know, on Connect as on REST, rather than ignoring a misspelt one', async () => {
    const body = JSON.stringify({ agentName: 'typo.fuzz.example', owner: 'o', ownr: 'x' });
    const answer = await connect('RegistryService/RegisterAgent', body, { 'content-type': 'application/json' });
    expect(answer).toMatchObject({ status: 400, code: 'invalid_argument', message: 'ownr: is not a field of this request' });
    expect(await rest('POST', '/v1/agents', { agent_name: 'typo.fuzz.example', owner: 'o', ownr: 'x' })).toEqual({
      status: 400,
      detail: 'ownr: is not a field of this request',
      code: 'invalid_argument',
    });
  });

  it('names the field and the rule for a value of the wrong kind, never the protobuf type', async () => {
    const json = { 'content-type': 'application/json' };
    expect(await connect('RegistryService/ListAgents', JSON.stringify({ status: 'bogus' }), json)).toMatchObject({
      status: 400,
      message: 'status: must be one of AGENT_STATUS_ACTIVE, AGENT_STATUS_REVOKED, AGENT_STATUS_EXPIRED, AGENT_STATUS_PENDING',
    });
    expect(await rest('GET', '/v1/agents?status=bogus')).toMatchObject({ status: 400, detail: 'status: must be one of active, revoked, expired, pending' });
    expect(await rest('POST', '/v1/agents', { agent_name: 'kind.fuzz.example', owner: 7 })).toMatchObject({ detail: 'owner: must be a string' });
    expect(await rest('POST', '/v1/agents/kind.fuzz.example/rotate', { expected_version: 'two' })).toMatchObject({
      detail: 'expected_version: must be an integer',
    });
    expect(await connect('RegistryService/UpdateAgent', JSON.stringify({ agentName: 'kind.fuzz.example', updateMask: 3 }), json)).toMatchObject({
      message: 'update_mask: must be a string',
    });
  });

  it('refuses Connect JSON that is not UTF-8 or nests deeper than 32 levels', async () => {
    const json = { 'content-type': 'application/json' };
    expect(await connect('RegistryService/RegisterAgent', Buffer.from('{"agentName":"a\xff"}', 'latin1'), json)).toMatchObject({
      status: 400,
      message: 'request: is not valid UTF-8',
    });
    expect(await connect('RegistryService/RegisterAgent', `{"capabilities":${'['.repeat(40)}${']'.repeat(40)}}`, json)).toMatchObject({
      status: 400,
      message: 'request: nests deeper than 32 levels',
    });
  });

  it('refuses certificates that are not one PEM block or one DER value, without auditing a verification', async () => {
    const verify = createClient(VerifyService, createGrpcTransport({ baseUrl: target.url }));
    const { certPem, certDer } = target.valid;
    const cases: [Parameters<typeof verify.verifyCertificate>[0], string][] = [
      [{ certPem: `${certPem}garbage` }, 'cert_pem: must contain nothing but whitespace around the PEM block'],
      [{ certPem: certPem + certPem }, 'cert_pem: must be exactly one PEM block, found 2'],
      [{ certPem: pemOf(derNestingBomb(10_000), 'CERTIFICATE') }, 'cert_pem: nests DER elements deeper than 32 levels'],
      [{ certDer: derNestingBomb(10_000) }, 'cert_der: nests DER elements deeper than 32 levels'],
      [{ certDer: Buffer.concat([certDer, Uint8Array.of(0)]) }, 'cert_der: has data after the DER-encoded certificate'],
      [{ certDer: certDer.subarray(0, 200) }, 'cert_der: is not a DER-encoded X.509 certificate'],
      [{ certDer: new Uint8Array(64 * 1024 + 1) }, 'cert_der: must be at most 65536 bytes'],
    ];
    for (const [request, rule] of cases) {
      const error = await rpcError(verify.verifyCertificate(request));
      expect([error.code, error.rawMessage], rule).toEqual([Code.InvalidArgument, rule]);
    }
  });

  it('refuses a CSR nesting bomb and a token audience with control characters', async () => {
    const registry = createClient(RegistryService, createGrpcTransport({ baseUrl: target.url }));
    const csrPem = pemOf(derNestingBomb(10_000), 'CERTIFICATE REQUEST');
    const bomb = await rpcError(registry.registerAgent({ agentName: 'bomb.fuzz.test', owner: 'o', csrPem }));
    expect([bomb.code, bomb.rawMessage]).toEqual([Code.InvalidArgument, 'csr_pem: nests DER elements deeper than 32 levels']);
    const verify = createClient(VerifyService, createGrpcTransport({ baseUrl: target.url }));
    const audience = await rpcError(verify.verifyToken({ token: target.valid.token, audience: 'api\u0000' }));
    expect([audience.code, audience.rawMessage]).toEqual([Code.InvalidArgument, 'audience: must be at most 1024 characters, without control characters']);
  });

  it.each([
    ['/v1/agents?owner=%27%20OR%201%3D1%20--', 'owner: may contain only ASCII letters, digits, single spaces and ._@:/+-; "\'" (U+0027) is not'],
    ['/v1/agents?capability=search%27--', 'capability: "search\'--" must start with a letter or digit'],
    ['/v1/audit?agent_name=%27%20OR%20%271%27%3D%271', 'agent_name: must not contain whitespace'],
    ['/v1/audit?event_type=agent.registered%27%20--', 'event_type: "agent.registered\' --" is not one of'],
    ['/v1/log/entries?agent_name=a%25', 'agent_name: label "a%" may contain only a-z, 0-9 and hyphens'],
    ['/v1/log/entries?event_type=%2A', 'event_type: "*" is not one of'],
  ])('refuses SQL metacharacters in the filter of GET %s', async (path, rule) => {
    const answer = await rest('GET', path);
    expect(answer.status).toBe(400);
    expect(answer.detail).toContain(rule);
  });

  it.each([
    [{ agent_name: 'pаypal.fuzz.test', owner: 'o' }, 'agent_name: must be ASCII (write internationalised labels as xn--); "а" (U+0430) is not'],
    [{ agent_name: 'zwj\u200d.fuzz.test', owner: 'o' }, 'agent_name: must not contain control or format characters'],
    [{ agent_name: 'owner.fuzz.test', owner: 'ｔｅａｍ' }, 'owner: may contain only ASCII letters, digits, single spaces and ._@:/+-; "ｔ" (U+FF54) is not'],
    [{ agent_name: 'caps.fuzz.test', owner: 'o', capabilities: Array.from({ length: 65 }, (_, i) => `c${i}`) }, 'capabilities: at most 64 capabilities'],
    [{ agent_name: 'caps.fuzz.test', owner: 'o', capabilities: ['c'.repeat(65)] }, 'capabilities: each capability must be 1 to 64 characters'],
  ])('refuses registration %#', async (body, rule) => {
    const answer = await rest('POST', '/v1/agents', body);
    expect(answer.status).toBe(400);
    expect(answer.detail).toContain(rule);
  });

  it('answers gRPC callers with InvalidArgument and the atr-error-code of the rule', async () => {
    const registry = createClient(RegistryService, createGrpcTransport({ baseUrl: target.url }));
    const error = await registry.listAgents({ owner: "' OR 1=1 --" }).catch((e: unknown) => ConnectError.from(e));
    expect(error).toBeInstanceOf(ConnectError);
    expect([(error as ConnectError).code, (error as ConnectError).metadata.get('atr-error-code')]).toEqual([Code.InvalidArgument, 'invalid_argument']);
  });
});
