import {
  type DescField,
  type DescMessage,
  type DescMethod,
  type Message,
  type MessageInitShape,
  ScalarType,
  create,
  toBinary,
  toJson,
} from '@bufbuild/protobuf';
import fc from 'fast-check';
import { AUDIT_EVENT_TYPES } from '../../src/registry/fields.ts';
import {
  OVER_64_KIB,
  derNestingBomb,
  hostileBytes,
  hostileInt32,
  hostileInt64,
  hostileString,
  hostileUint32,
  hostileUint64,
  mutatedBytes,
  mutatedPem,
  mutatedString,
  mutatedToken,
  poison,
} from './hostile.ts';
import type { Valid } from './target.ts';

// Requests for any RPC, built from its descriptor: a valid request for the method (from the seeded registry),
// then some of its fields replaced by hostile values of the field's own type, or by values valid for the field.

/** A request message and the method it is for. */
export interface Call {
  readonly method: DescMethod;
  readonly message: Message;
}

/** A valid request for each RPC the registry knows how to make one for; any other RPC starts from its empty message. */
function validRequests(method: DescMethod, valid: Valid): MessageInitShape<DescMessage>[] {
  const [name = '', other = ''] = valid.agentNames;
  const requests: Record<string, MessageInitShape<DescMessage>[]> = {
    RegisterAgent: [
      { agentName: 'fresh.fuzz.test', owner: 'team-a', capabilities: ['search'], description: 'new', endpoints: [...valid.endpoints] },
      { agentName: 'fresh-csr.fuzz.test', owner: 'team-b', csrPem: valid.csrPem },
    ],
    GetAgent: [{ agentName: name }],
    ListAgents: [{ owner: 'team-a', capability: 'search' }, { pageSize: 1, pageToken: valid.pageTokens[0] ?? '' }, { limit: 2, offset: 1 }],
    GetAgentCertificate: [{ agentName: name }],
    RotateCertificate: [{ agentName: other, csrPem: valid.csrPem }, { agentName: other }],
    RevokeAgent: [{ agentName: other, reason: 'superseded' }],
    UpdateAgent: [{ agentName: name, description: 'updated', capabilities: ['search'], updateMask: { paths: ['description'] } }],
    ListAuditEvents: [{ agentName: name, eventType: 'agent.registered', limit: 5 }],
    RenewCertificate: [{ csrPem: valid.csrPem }],
    VerifyCertificate: [{ certPem: valid.certPem }, { certDer: valid.certDer }],
    VerifyToken: [{ token: valid.token, audience: valid.audience }],
    WatchRevocations: [{ sinceSeconds: 60 }],
    ResolveAgent: [{ agentName: name }],
    GetEntry: [{ index: 1n }],
    ListEntries: [{ agentName: name, eventType: 'agent.registered', pageSize: 2 }, { pageSize: 1, pageToken: valid.pageTokens[1] ?? '' }],
    GetInclusionProof: [{ index: 1n }, { leafHash: valid.leafHash }],
    GetConsistencyProof: [{ first: 1n, second: 2n }],
  };
  return requests[method.name] ?? [{}];
}

/** A valid request for `method` with none, one or a few fields replaced. */
export function callFor(method: DescMethod, valid: Valid): fc.Arbitrary<Call> {
  const fields = method.input.fields;
  const replacement = fields.length === 0 ? fc.constant(undefined) : fc.nat({ max: fields.length - 1 }).chain((i) => {
    const field = fields[i] as DescField;
    return valueOf(field, valid, 0).map((value) => ({ field, value }));
  });
  return fc
    .tuple(fc.constantFrom(...validRequests(method, valid)), fc.array(replacement, { maxLength: 3 }))
    .map(([init, replacements]) => {
      const message = create(method.input, init);
      const fieldsOf = message as unknown as Record<string, unknown>;
      for (const replaced of replacements) if (replaced) fieldsOf[replaced.field.localName] = replaced.value;
      return { method, message };
    });
}

/** A call for any of the methods. */
export function anyCall(methods: readonly DescMethod[], valid: Valid): fc.Arbitrary<Call> {
  return fc.constantFrom(...methods).chain((method) => callFor(method, valid));
}

export function binaryOf(call: Call): Uint8Array {
  return toBinary(call.method.input, call.message);
}

/** The proto JSON of the request; messages proto JSON cannot express (an irreversible FieldMask path) fall back to {}. */
export function jsonOf(call: Call): Record<string, unknown> {
  try {
    return toJson(call.method.input, call.message, { useProtoFieldName: true }) as Record<string, unknown>;
  } catch {
    return {};
  }
}

function valueOf(field: DescField, valid: Valid, depth: number): fc.Arbitrary<unknown> {
  switch (field.fieldKind) {
    case 'scalar':
      return scalarOf(field.scalar, field.name, valid);
    case 'enum':
      return fc.oneof(fc.constantFrom(...field.enum.values.map((v) => v.number)), fc.integer({ min: -3, max: 1000 }));
    case 'list': {
      const element =
        field.listKind === 'scalar'
          ? scalarOf(field.scalar, field.name, valid)
          : field.listKind === 'enum'
            ? fc.integer({ min: -3, max: 100 })
            : messageOf(field.message, valid, depth + 1);
      // Lists around the 64-entry limit, of short distinct strings (else the first bad entry would always win).
      const long =
        field.listKind === 'scalar' && field.scalar === ScalarType.STRING
          ? [fc.integer({ min: 63, max: 66 }).map((n) => Array.from({ length: n }, (_, i) => `c${i}`))]
          : [];
      return fc.oneof(fc.array(element, { maxLength: 4 }), ...long);
    }
    case 'message':
      return messageOf(field.message, valid, depth + 1);
    case 'map':
      return fc.constant({});
  }
}

function messageOf(desc: DescMessage, valid: Valid, depth: number): fc.Arbitrary<Message> {
  if (depth > 2 || desc.fields.length === 0) return fc.constant(create(desc));
  const entries = desc.fields.map((field) => [field.localName, valueOf(field, valid, depth)] as const);
  return fc.record(Object.fromEntries(entries), { requiredKeys: [] }).map((init) => create(desc, init as MessageInitShape<DescMessage>));
}

function scalarOf(type: ScalarType, name: string, valid: Valid): fc.Arbitrary<unknown> {
  switch (type) {
    case ScalarType.STRING:
      return stringOf(name, valid);
    case ScalarType.BYTES:
      return fc.oneof(fc.constant(valid.certDer), mutatedBytes(valid.certDer), hostileBytes);
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return hostileInt32;
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return hostileUint32;
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return hostileUint64;
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return hostileInt64;
    case ScalarType.BOOL:
      return fc.boolean();
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return fc.double();
  }
}

/** Strings for a field by what its name says it holds: valid values, the same mutated, and hostile text. */
function stringOf(name: string, valid: Valid): fc.Arbitrary<string> {
  if (name.endsWith('csr_pem')) return fc.oneof(fc.constant(valid.csrPem), mutatedPem(valid.csrPem, 'CERTIFICATE REQUEST', valid.csrDer), hostileString);
  if (name.endsWith('cert_pem')) return fc.oneof(fc.constant(valid.certPem), mutatedPem(valid.certPem, 'CERTIFICATE', valid.certDer), hostileString);
  if (name === 'token') return fc.oneof(fc.constant(valid.token), mutatedToken(valid.token), hostileString);
  const values = validStrings(name, valid);
  if (values.length === 0) return hostileString;
  return fc.oneof(
    { weight: 1, arbitrary: fc.constantFrom(...values) },
    { weight: 3, arbitrary: fc.constantFrom(...values).chain(mutatedString) },
    { weight: 2, arbitrary: hostileString },
  );
}

/** Values a string field holds when the request is right, by the field's name. */
function validStrings(name: string, valid: Valid): readonly string[] {
  if (name.endsWith('csr_pem')) return [valid.csrPem];
  if (name.endsWith('cert_pem')) return [valid.certPem];
  if (name === 'token') return [valid.token];
  if (name.endsWith('agent_name')) return valid.agentNames;
  if (name === 'owner') return valid.owners;
  if (name.startsWith('capabilit')) return valid.capabilities;
  if (name === 'page_token') return valid.pageTokens.filter((token) => token !== '');
  if (name === 'leaf_hash') return [valid.leafHash];
  if (name === 'event_type') return AUDIT_EVENT_TYPES;
  if (name === 'reason') return ['keyCompromise', 'superseded', 'unspecified'];
  if (name === 'endpoints') return valid.endpoints;
  if (name === 'audience') return [valid.audience];
  if (name === 'paths') return ['capabilities', 'description', 'endpoints'];
  return [];
}

/**
 * Every field of every RPC set, one at a time, to each value at an edge of its type (a valid value with a poison
 * character, an empty or oversized one, integer extremes, DER bombs, lists past 64 entries): the systematic sweep
 * that random runs reach only by luck.
 */
export function edgeCalls(methods: readonly DescMethod[], valid: Valid): Call[] {
  return methods.flatMap((method) => {
    const [base = {}] = validRequests(method, valid);
    return method.input.fields.flatMap((field) =>
      edgeValues(field, valid, 0).map((value) => {
        const message = create(method.input, base);
        (message as unknown as Record<string, unknown>)[field.localName] = value;
        return { method, message };
      }),
    );
  });
}

function edgeValues(field: DescField, valid: Valid, depth: number): unknown[] {
  switch (field.fieldKind) {
    case 'scalar':
      return scalarEdges(field.scalar, field.name, valid);
    case 'enum':
      return [-1, 999];
    case 'list': {
      if (field.listKind === 'message') return depth > 1 ? [] : messageEdges(field.message, valid, depth).map((m) => [m]);
      if (field.listKind === 'enum') return [[-1]];
      const elements = scalarEdges(field.scalar, field.name, valid).map((value) => [value]);
      if (field.scalar !== ScalarType.STRING) return elements;
      const [first = 'x'] = validStrings(field.name, valid);
      return [...elements, [first, first], Array.from({ length: 65 }, (_, i) => `c${i}`)];
    }
    case 'message':
      return depth > 1 ? [] : messageEdges(field.message, valid, depth);
    case 'map':
      return [];
  }
}

function messageEdges(desc: DescMessage, valid: Valid, depth: number): Message[] {
  return desc.fields.flatMap((field) =>
    edgeValues(field, valid, depth + 1).map((value) => create(desc, { [field.localName]: value } as MessageInitShape<DescMessage>)),
  );
}

function scalarEdges(type: ScalarType, name: string, valid: Valid): unknown[] {
  switch (type) {
    case ScalarType.STRING: {
      const [base = 'x'] = validStrings(name, valid);
      return ['', ...poison.map((p) => base + p), base.slice(0, 1) + 'a'.repeat(OVER_64_KIB)];
    }
    case ScalarType.BYTES:
      return [new Uint8Array(), valid.certDer.subarray(0, 100), derNestingBomb(40), derNestingBomb(20_000), new Uint8Array(OVER_64_KIB)];
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return [-1, 2 ** 31 - 1, -(2 ** 31)];
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return [2 ** 32 - 1];
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return [2n ** 53n + 1n, 2n ** 64n - 1n];
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return [-1n, 2n ** 63n - 1n];
    case ScalarType.BOOL:
      return [true];
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return [Number.NaN, Number.POSITIVE_INFINITY];
  }
}
