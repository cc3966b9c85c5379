import { ScalarType } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { createGrpcTransport } from '@connectrpc/connect-node';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { dialects } from '../support/databases.ts';
import { mutatedBytes, mutatedJsonBody, refusedJsonBody } from './hostile.ts';
import { anyCall, binaryOf, type Call, edgeCalls, jsonOf } from './requests.ts';
import { type FuzzTarget, startFuzzTarget } from './target.ts';
import { type Outcome, restRouteOf, sendConnect, sendGrpcWeb, sendRest, sendTyped } from './transports.ts';

// Random and mutated requests to every RPC, over gRPC, Connect (binary and JSON), gRPC-Web and REST, against a
// real server. Whatever comes in, the server never answers Internal/Unknown or a 5xx, and a request it refuses
// leaves agents, audit events and the log exactly as they were.
//
// Deterministic: the seed is fixed unless ATR_FUZZ_SEED is set (a number, or "random" to explore); a failure
// prints the seed and path that replay it (ATR_FUZZ_SEED=<seed> ATR_FUZZ_PATH=<path>). ATR_FUZZ_RUNS_SCALE scales the
// number of requests per transport.

const seedSetting = process.env['ATR_FUZZ_SEED'];
const seed = seedSetting === 'random' ? Date.now() ^ (Math.random() * 0x7fffffff) : Number(seedSetting ?? 0x5eed);
const replayPath = process.env['ATR_FUZZ_PATH'];
const scale = Number(process.env['ATR_FUZZ_RUNS_SCALE'] ?? 1);
const runs = (n: number) => Math.max(1, Math.round(n * scale));
// A property that outlived its test would go on sending requests into the next one's snapshots.
const timeout = Math.max(1, scale) * 90_000;

async function fuzz<T>(arbitrary: fc.Arbitrary<T>, check: (value: T) => Promise<void>, numRuns: number): Promise<void> {
  const result = await fc.check(fc.asyncProperty(arbitrary, check), {
    numRuns,
    seed,
    ...(replayPath === undefined ? {} : { path: replayPath }),
    endOnFailure: true, // requests change the server's state, so shrinking would not replay the same run
  });
  if (result.failed) {
    const error = result.errorInstance instanceof Error ? result.errorInstance.message : String(result.errorInstance);
    throw new Error(`after ${result.numRuns} requests: ${error}\nreplay with ATR_FUZZ_SEED=${result.seed} ATR_FUZZ_PATH=${result.counterexamplePath}`);
  }
}

describe.each(dialects)('every RPC under random and mutated requests, on %s', (dialect) => {
  let target: FuzzTarget;
  beforeAll(async () => {
    target = await startFuzzTarget(dialect);
  });
  afterAll(() => target?.close());

  const unary = () => target.methods.filter((method) => method.methodKind === 'unary');

  /** One request: never broken; when refused, nothing written. Input no request may carry must be refused. */
  async function expectHandled(label: string, send: () => Promise<Outcome>, mustRefuse = false): Promise<void> {
    const before = await target.snapshot();
    const outcome = await send();
    if (outcome.verdict === 'broken') throw new Error(`${label}\n  answered ${outcome.status}`);
    if (mustRefuse && outcome.verdict !== 'refused') throw new Error(`${label}\n  was not refused: ${outcome.status}`);
    if (outcome.verdict !== 'refused') return;
    const after = await target.snapshot();
    if (after !== before) throw new Error(`${label}\n  was refused (${outcome.status}) but changed state:\n  before ${before}\n  after  ${after}`);
  }

  it('every field of every RPC at each edge of its type, over gRPC (and Connect JSON for unpaired surrogates)', async () => {
    const transport = createGrpcTransport({ baseUrl: target.url });
    for (const call of edgeCalls(target.methods, target.valid)) {
      await expectHandled(summary('gRPC', call), () => sendTyped(transport, call));
      // JSON carries what the binary format cannot (protobuf-es writes U+FFFD for it): an unpaired surrogate.
      const json = JSON.stringify(jsonOf(call));
      if (call.method.methodKind !== 'unary' || !/\\ud[89a-f]/.test(json)) continue;
      await expectHandled(summary('Connect JSON', call), () => sendConnect(target.url, call.method, Buffer.from(json), 'application/json'));
    }
  }, timeout);

  it('gRPC: typed requests whose fields hold hostile values', async () => {
    const transport = createGrpcTransport({ baseUrl: target.url });
    await fuzz(anyCall(target.methods, target.valid), (call) => expectHandled(summary('gRPC', call), () => sendTyped(transport, call)), runs(250));
  }, timeout);

  it('Connect binary and gRPC-Web: protobuf bytes cut, flipped, spliced, with invalid UTF-8 or oversized', async () => {
    const requests = anyCall(unary(), target.valid).chain((call) =>
      fc.record({
        call: fc.constant(call),
        web: fc.boolean(),
        body: fc.oneof(
          fc.record({ bytes: fc.oneof(fc.constant(binaryOf(call)), mutatedBytes(binaryOf(call)), fc.uint8Array({ maxLength: 48 })), mustRefuse: fc.constant(false) }),
          fc.record({ bytes: fc.constantFrom(...refusedBinary(call)), mustRefuse: fc.constant(true) }),
        ),
      }),
    );
    await fuzz(
      requests,
      ({ call, web, body: { bytes, mustRefuse } }) =>
        expectHandled(
          `${summary(web ? 'gRPC-Web' : 'Connect binary', call)} as ${bytes.length} bytes`,
          () => (web ? sendGrpcWeb(target.url, call.method, bytes) : sendConnect(target.url, call.method, bytes, 'application/proto')),
          mustRefuse,
        ),
      runs(250),
    );
  }, timeout);

  it('gRPC-Web: envelopes with every flag byte and declared lengths that lie, around binary and JSON messages', async () => {
    const requests = anyCall(unary(), target.valid).chain((call) =>
      fc.record({
        call: fc.constant(call),
        json: fc.boolean(),
        flags: fc.oneof(fc.constantFrom(0x00, 0x01, 0x02, 0x40, 0x80, 0xff), fc.integer({ min: 0, max: 0xff })),
        declaredLength: fc.option(fc.oneof(fc.integer({ min: 0, max: 64 }), fc.constant(0xffffffff)), { nil: undefined }),
      }),
    );
    await fuzz(
      requests,
      ({ call, json, flags, declaredLength }) => {
        const message = json ? Buffer.from(JSON.stringify(jsonOf(call))) : binaryOf(call);
        const label = `${summary(json ? 'gRPC-Web+json' : 'gRPC-Web', call)} flags 0x${flags.toString(16)} declaring ${declaredLength ?? 'its'} length`;
        const contentType = json ? 'application/grpc-web+json' : 'application/grpc-web+proto';
        // A reserved flag bit is refused whatever the message; a complete frame with one must never be served.
        const mustRefuse = (flags & ~1) !== 0 && (declaredLength === undefined || declaredLength <= message.length);
        return expectHandled(label, () => sendGrpcWeb(target.url, call.method, message, { flags, declaredLength }, contentType), mustRefuse);
      },
      runs(200),
    );
  }, timeout);

  it('Connect JSON: bodies with wrong types, bad JSON, invalid UTF-8, deep nesting or oversized', async () => {
    const requests = anyCall(unary(), target.valid).chain((call) => {
      const text = JSON.stringify(jsonOf(call));
      return fc.record({ call: fc.constant(call), body: jsonBody(call, text) });
    });
    await fuzz(
      requests,
      ({ call, body: { bytes, mustRefuse } }) =>
        expectHandled(
          `${summary('Connect JSON', call)} as ${preview(bytes)}`,
          () => sendConnect(target.url, call.method, bytes, 'application/json'),
          mustRefuse,
        ),
      runs(250),
    );
  }, timeout);

  it('REST: hostile path variables, query parameters and raw bodies', async () => {
    const routed = unary().filter((method) => restRouteOf(method) !== undefined);
    const requests = anyCall(routed, target.valid).chain((call) => {
      const json = jsonOf(call);
      const text = JSON.stringify(json);
      return fc.record({
        call: fc.constant(call),
        json: fc.constant(json),
        body: fc.option(jsonBody(call, text), { nil: undefined }),
      });
    });
    await fuzz(
      requests,
      ({ call, json, body }) =>
        expectHandled(
          `${summary('REST', call)}${body ? ` with body ${preview(body.bytes)}` : ''}`,
          () => sendRest(target.url, call.method, json, body?.bytes),
          body?.mustRefuse && restRouteOf(call.method)?.body,
        ),
      runs(250),
    );
  }, timeout);
});

/** The request's binary form with one string field sent again (the last occurrence wins) as bytes that are not UTF-8. */
function withInvalidUtf8(call: Call): Uint8Array | undefined {
  const field = call.method.input.fields.find(
    (f) => (f.fieldKind === 'scalar' || f.fieldKind === 'list') && f.scalar === ScalarType.STRING,
  );
  if (field === undefined) return undefined;
  const invalid = new BinaryWriter().tag(field.number, WireType.LengthDelimited).bytes(Uint8Array.of(0x61, 0xff, 0xfe, 0x62)).finish();
  return Buffer.concat([binaryOf(call), invalid]);
}

/** Protobuf bytes no server may accept: a string field that is not UTF-8, a message over 1 MiB. */
function refusedBinary(call: Call): Uint8Array[] {
  const oversized = new BinaryWriter().tag(1000, WireType.LengthDelimited).bytes(new Uint8Array(1 << 20)).finish();
  const invalid = withInvalidUtf8(call);
  return [...(invalid === undefined ? [] : [invalid]), Buffer.concat([binaryOf(call), oversized])];
}

/** A JSON body for the request: as it is, with a field of the wrong type, mutated, or one that must be refused. */
function jsonBody(call: Call, text: string): fc.Arbitrary<{ bytes: Uint8Array; mustRefuse: boolean }> {
  return fc.oneof(
    fc.record({ bytes: fc.oneof(fc.constant(Buffer.from(text)), wrongTyped(call), mutatedJsonBody(text)), mustRefuse: fc.constant(false) }),
    fc.record({ bytes: refusedJsonBody(text), mustRefuse: fc.constant(true) }),
  );
}

/** The request's JSON with one field set to a value of another type. */
function wrongTyped(call: Call): fc.Arbitrary<Uint8Array> {
  const names = call.method.input.fields.map((f) => f.name);
  if (names.length === 0) return fc.constant(Buffer.from('{"unknown_field":1}'));
  return fc
    .tuple(fc.constantFrom(...names), fc.jsonValue({ maxDepth: 3 }))
    .map(([name, value]) => Buffer.from(JSON.stringify({ ...jsonOf(call), [name]: value })));
}

function summary(transport: string, call: Call): string {
  const json = JSON.stringify(jsonOf(call), (_key, value: unknown) =>
    typeof value === 'string' && value.length > 80 ? `${value.slice(0, 80)}…(${value.length} characters)` : value,
  );
  return `${transport} ${call.method.parent.name}.${call.method.name} ${json.slice(0, 600)}`;
}

function preview(body: Uint8Array): string {
  const text = Buffer.from(body.subarray(0, 120)).toString('latin1');
  return `${JSON.stringify(text)}${body.length > 120 ? `…(${body.length} bytes)` : ''}`;
}
