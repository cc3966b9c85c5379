import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { type DescField, type DescMessage, type JsonValue, ScalarType, fromBinary } from '@bufbuild/protobuf';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import type { ConnectRouter } from '@connectrpc/connect';
import type { UniversalHandler, UniversalServerRequest, UniversalServerResponse } from '@connectrpc/connect/protocol';
import { DomainError, invalidArgument } from '../errors.ts';
import { jsonDepth, MAX_JSON_DEPTH } from '../json-depth.ts';
import { connectUnaryError, toConnectError } from './errors.ts';
import { checkJsonInput } from './json-input.ts';

// What every request body must be before a message is decoded from it, on every protocol: at most 1 MiB (on the
// wire and decompressed), well-formed UTF-8 JSON nesting at most 32 levels whose keys and values fit the request's
// fields, or a protobuf message that decodes.
// connect-es answers a binary message that does not decode with Internal (its serializer cannot tell a client's
// bytes from its own) and decodes JSON with a lenient UTF-8 decoder; screening the body first makes both a
// client error that names the rule, before any handler or interceptor runs.

export const MAX_REQUEST_BYTES = 1 << 20;

const REQUEST = 'request';
/** The one flag a request's envelope may carry. */
const COMPRESSED_FLAG = 0x01;
/** fromBinary's own recursion limit. */
const MAX_MESSAGE_DEPTH = 100;

export const requestTooLarge = () =>
  new DomainError('input_too_large', `${REQUEST}: must be at most ${MAX_REQUEST_BYTES} bytes`);

/** A whole request body, refused as soon as it (or the length it declares) passes MAX_REQUEST_BYTES. */
export async function readRequestBody(body: AsyncIterable<Uint8Array>, declaredLength: string | null | undefined): Promise<Buffer> {
  if (Number(declaredLength) > MAX_REQUEST_BYTES) throw requestTooLarge();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > MAX_REQUEST_BYTES) throw requestTooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

// One decoder serves every request: a decode call without `stream` starts afresh.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Request body bytes as JSON text: well-formed UTF-8, nesting at most MAX_JSON_DEPTH levels. */
export function jsonTextOf(bytes: Uint8Array): string {
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    throw invalidArgument(REQUEST, 'is not valid UTF-8');
  }
  if (jsonDepth(text) > MAX_JSON_DEPTH) throw invalidArgument(REQUEST, `nests deeper than ${MAX_JSON_DEPTH} levels`);
  return text;
}

/**
 * Makes every handler the router holds screen its request body first; call once all services are registered.
 * A refused body fails the body stream with the refusal, so connect-es answers it in the caller's protocol.
 */
export function screenRequests(router: ConnectRouter): void {
  router.handlers.splice(0, router.handlers.length, ...router.handlers.map(screened));
}

interface Format {
  readonly binary: boolean;
  /** gRPC, gRPC-Web and Connect streaming frame messages in 5-byte envelopes; Connect unary sends one bare. */
  readonly enveloped: boolean;
  /** The header naming the compression of the message (for envelopes: of those flagged compressed). */
  readonly encoding: string;
}

const formats: Readonly<Record<string, Format>> = {
  'application/proto': { binary: true, enveloped: false, encoding: 'content-encoding' },
  'application/json': { binary: false, enveloped: false, encoding: 'content-encoding' },
  'application/connect+proto': { binary: true, enveloped: true, encoding: 'connect-content-encoding' },
  'application/connect+json': { binary: false, enveloped: true, encoding: 'connect-content-encoding' },
  'application/grpc': { binary: true, enveloped: true, encoding: 'grpc-encoding' },
  'application/grpc+proto': { binary: true, enveloped: true, encoding: 'grpc-encoding' },
  'application/grpc+json': { binary: false, enveloped: true, encoding: 'grpc-encoding' },
  'application/grpc-web': { binary: true, enveloped: true, encoding: 'grpc-encoding' },
  'application/grpc-web+proto': { binary: true, enveloped: true, encoding: 'grpc-encoding' },
  'application/grpc-web+json': { binary: false, enveloped: true, encoding: 'grpc-encoding' },
};

function screened(handler: UniversalHandler): UniversalHandler {
  // A client or bidi stream (reflection) sends messages as it goes and waits for answers; only a request that is
  // one message can be read whole first.
  const kind = handler.method.methodKind;
  if (kind !== 'unary' && kind !== 'server_streaming') return handler;
  const screen = (req: UniversalServerRequest) => {
    const type = (req.header.get('content-type') ?? '').split(';', 1)[0]?.trim().toLowerCase() ?? '';
    if (req.method === 'GET') return screenGet(req, handler);
    const format = formats[type];
    if (format === undefined || req.method !== 'POST' || !isByteStream(req.body)) return handler(req);
    // The body's length is checked here; connect-es would answer a declared length over its limit with
    // ResourceExhausted before reading a byte.
    const header = new Headers(req.header);
    header.delete('content-length');
    return handler({ ...req, header, body: screenedBody(req, req.body, format, handler.method.input) });
  };
  return Object.assign(screen, {
    requestPath: handler.requestPath,
    method: handler.method,
    service: handler.service,
    protocolNames: handler.protocolNames,
    allowedMethods: handler.allowedMethods,
    supportedContentType: handler.supportedContentType,
  });
}

async function* screenedBody(
  req: UniversalServerRequest,
  body: AsyncIterable<Uint8Array>,
  format: Format,
  input: DescMessage,
): AsyncIterable<Uint8Array> {
  try {
    const bytes = await readRequestBody(body, req.header.get('content-length'));
    for (const message of messagesOf(bytes, format, req.header)) checkMessage(message, format, input);
    yield bytes;
  } catch (reason) {
    throw reason instanceof DomainError ? toConnectError(reason) : reason;
  }
}

/** The request's messages, decompressed; framing or compression it cannot read is left for connect-es to refuse. */
function messagesOf(bytes: Buffer, format: Format, header: Headers): Uint8Array[] {
  const encoding = header.get(format.encoding) ?? 'identity';
  if (!format.enveloped) return [decompressed(bytes, encoding)].filter((m) => m !== undefined);
  const messages: Uint8Array[] = [];
  for (let offset = 0; offset + 5 <= bytes.length; ) {
    const flags = bytes[offset] ?? 0;
    // In a request only bit 0 (compressed) means anything; connect-es skips frames with other bits set, so a
    // frame that set one would reach the handler unscreened.
    if ((flags & ~COMPRESSED_FLAG) !== 0) {
      throw invalidArgument(REQUEST, `frame flags 0x${flags.toString(16).padStart(2, '0')} set reserved bits; a request frame may set only 0x01 (compressed)`);
    }
    // gRPC: "if the Message-Encoding header is omitted then the Compressed-Flag must be 0" (connect-es would answer
    // Internal).
    if (flags & COMPRESSED_FLAG && encoding === 'identity') {
      throw invalidArgument(REQUEST, `frame is flagged compressed (0x01), but ${format.encoding} names no compression`);
    }
    const end = offset + 5 + bytes.readUInt32BE(offset + 1);
    if (end > bytes.length) return messages;
    const data = bytes.subarray(offset + 5, end);
    const message = flags & COMPRESSED_FLAG ? decompressed(data, encoding) : data;
    if (message !== undefined) messages.push(message);
    offset = end;
  }
  return messages;
}

function decompressed(data: Buffer, encoding: string): Uint8Array | undefined {
  const limit = { maxOutputLength: MAX_REQUEST_BYTES };
  try {
    if (encoding === 'identity') return data;
    if (encoding === 'gzip') return gunzipSync(data, limit);
    if (encoding === 'br') return brotliDecompressSync(data, limit);
    return undefined;
  } catch (error) {
    if (error instanceof RangeError) throw requestTooLarge();
    return undefined;
  }
}

// A Connect GET carries its message in the query (`message`, base64url when `base64=1`, as binary needs); it is
// checked like a POSTed one. The refusal is answered here in the Connect GET protocol's own form, since there is no
// body stream to fail.
function screenGet(req: UniversalServerRequest, handler: UniversalHandler): Promise<UniversalServerResponse> {
  const query = new URL(req.url).searchParams;
  const message = query.get('message');
  const base64 = query.get('base64') === '1';
  const encoding = query.get('encoding');
  const format = encoding === 'json' ? formats['application/json'] : encoding === 'proto' && base64 ? formats['application/proto'] : undefined;
  if (format === undefined || query.has('compression') || message === null) return handler(req);
  try {
    checkMessage(base64 ? Buffer.from(message, 'base64url') : Buffer.from(message), format, handler.method.input);
  } catch (reason) {
    if (!(reason instanceof DomainError)) throw reason;
    const { status, header, body } = connectUnaryError(toConnectError(reason));
    return Promise.resolve({ status, header, body: (async function* () { yield body; })() });
  }
  return handler(req);
}

/** The checks the screen makes on an unenveloped, uncompressed Connect unary body (JSON or binary). */
export function screenUnaryMessage(bytes: Uint8Array, binary: boolean, input: DescMessage): void {
  if (binary) checkBinary(bytes, input);
  else checkJson(bytes, input);
}

function checkJson(message: Uint8Array, input: DescMessage): void {
  const text = jsonTextOf(message);
  let json: JsonValue;
  try {
    json = JSON.parse(text);
  } catch {
    // connect-es answers JSON that does not parse itself, in the caller's protocol.
    return;
  }
  checkJsonInput(input, json, 'proto');
}

function checkMessage(message: Uint8Array, format: Format, input: DescMessage): void {
  if (format.binary) checkBinary(message, input);
  else checkJson(message, input);
}

function checkBinary(message: Uint8Array, input: DescMessage): void {
  try {
    fromBinary(input, message);
  } catch (error) {
    const field = fieldWithInvalidUtf8(input, message);
    if (field !== undefined) throw invalidArgument(field, 'is not valid UTF-8');
    const reason = error instanceof Error ? error.message : String(error);
    throw invalidArgument(REQUEST, `is not a valid ${input.typeName} in the protobuf binary format (${reason})`);
  }
}

/** The path of the first string field whose bytes are not UTF-8, e.g. "update_mask.paths"; undefined if none. */
function fieldWithInvalidUtf8(desc: DescMessage, bytes: Uint8Array, depth = 0): string | undefined {
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  try {
    const reader = new BinaryReader(bytes);
    while (reader.pos < reader.len) {
      const [number, wireType] = reader.tag();
      const field = desc.fields.find((f) => f.number === number);
      if (wireType !== WireType.LengthDelimited || field === undefined) {
        reader.skip(wireType, number);
        continue;
      }
      const data = reader.bytes();
      if (isString(field)) {
        try {
          utf8.decode(data);
        } catch {
          return field.name;
        }
      }
      const nested = field.fieldKind === 'map' ? undefined : field.message;
      const inner = nested !== undefined && depth < MAX_MESSAGE_DEPTH ? fieldWithInvalidUtf8(nested, data, depth + 1) : undefined;
      if (inner !== undefined) return `${field.name}.${inner}`;
    }
  } catch {
    // Bytes that do not even frame as fields: the caller names the whole request.
  }
  return undefined;
}

function isString(field: DescField): boolean {
  return (field.fieldKind === 'scalar' || field.fieldKind === 'list') && field.scalar === ScalarType.STRING;
}

function isByteStream(body: UniversalServerRequest['body']): body is AsyncIterable<Uint8Array> {
  return typeof body === 'object' && body !== null && Symbol.asyncIterator in body;
}
