import { type DescMethod, type DescMethodServerStreaming, type DescMethodUnary, getOption, hasOption } from '@bufbuild/protobuf';
import { Code, ConnectError, type Transport } from '@connectrpc/connect';
import { createAsyncIterable } from '@connectrpc/connect/protocol';
import { http } from '../../gen/google/api/annotations_pb.js';
import type { Call } from './requests.ts';

// Sending a request and telling how the server answered: served, refused (a 4xx, or a gRPC code a client can act
// on), or broken (Internal, Unknown, DataLoss, Unavailable, a 5xx, or a connection the server dropped).

export type Verdict = 'served' | 'refused' | 'broken';

export interface Outcome {
  readonly verdict: Verdict;
  /** The status as the transport reported it, for failure messages. */
  readonly status: string;
}

const brokenCodes = new Set([Code.Internal, Code.Unknown, Code.DataLoss, Code.Unavailable]);

function fromCode(code: Code, message: string): Outcome {
  return { verdict: brokenCodes.has(code) ? 'broken' : 'refused', status: `${Code[code]}: ${message.slice(0, 300)}` };
}

function fromHttp(status: number, body: string): Outcome {
  const verdict: Verdict = status >= 500 ? 'broken' : status >= 400 ? 'refused' : 'served';
  return { verdict, status: `HTTP ${status}: ${body.slice(0, 300)}` };
}

const dropped = (error: unknown): Outcome => ({ verdict: 'broken', status: `connection failed: ${String(error)}` });

/** A typed call over a real transport (gRPC here). A server stream is read for a moment, then let go. */
export async function sendTyped(transport: Transport, call: Call): Promise<Outcome> {
  const { method, message } = call;
  try {
    if (method.methodKind === 'unary') {
      await transport.unary(method as DescMethodUnary, undefined, 20_000, undefined, message);
      return { verdict: 'served', status: 'OK' };
    }
    if (method.methodKind !== 'server_streaming') return { verdict: 'served', status: 'not called: client or bidi stream' };
    // The server answers a stream's headers with its first message, which may never come: stop after a moment.
    const stop = new AbortController();
    const timer = setTimeout(() => stop.abort(), 50);
    try {
      const stream = await transport.stream(method as DescMethodServerStreaming, stop.signal, undefined, undefined, createAsyncIterable([message]));
      for await (const _ of stream.message) break;
    } catch (error) {
      if (!stop.signal.aborted) throw error;
    } finally {
      clearTimeout(timer);
      stop.abort();
    }
    return { verdict: 'served', status: 'stream opened' };
  } catch (error) {
    const connectError = ConnectError.from(error);
    return fromCode(connectError.code, connectError.rawMessage);
  }
}

function rpcUrl(base: string, method: DescMethod): string {
  return `${base}/${method.parent.typeName}/${method.name}`;
}

/** Raw bytes as a Connect unary request (binary or JSON, by content type), over HTTP/1.1. */
export async function sendConnect(base: string, method: DescMethod, body: Uint8Array, contentType: string): Promise<Outcome> {
  try {
    const res = await fetch(rpcUrl(base, method), {
      method: 'POST',
      headers: { 'content-type': contentType, 'connect-protocol-version': '1' },
      body,
    });
    return fromHttp(res.status, await res.text());
  } catch (error) {
    return dropped(error);
  }
}

/** The 5-byte envelope of a gRPC(-Web) message: its flag byte and the length it declares (default: the real one). */
export interface FrameHeader {
  readonly flags: number;
  readonly declaredLength?: number | undefined;
}

/** Raw bytes as one gRPC-Web message; the status comes in the trailer frame of the body. */
export async function sendGrpcWeb(
  base: string,
  method: DescMethod,
  message: Uint8Array,
  header: FrameHeader = { flags: 0 },
  contentType = 'application/grpc-web+proto',
): Promise<Outcome> {
  const frame = Buffer.alloc(5 + message.length);
  frame[0] = header.flags;
  frame.writeUInt32BE(header.declaredLength ?? message.length, 1);
  frame.set(message, 5);
  try {
    const res = await fetch(rpcUrl(base, method), {
      method: 'POST',
      headers: { 'content-type': contentType, 'x-grpc-web': '1' },
      body: frame,
    });
    const body = Buffer.from(await res.arrayBuffer());
    if (res.status !== 200) return fromHttp(res.status, body.toString());
    const trailer = trailerOf(body) ?? new Map([['grpc-status', res.headers.get('grpc-status') ?? '']]);
    const status = Number(trailer.get('grpc-status'));
    if (!Number.isInteger(status) || trailer.get('grpc-status') === '') return { verdict: 'broken', status: 'no grpc-status' };
    if (status === 0) return { verdict: 'served', status: 'OK' };
    return fromCode(status, decodeURIComponent(trailer.get('grpc-message') ?? ''));
  } catch (error) {
    return dropped(error);
  }
}

function trailerOf(body: Buffer): Map<string, string> | undefined {
  for (let offset = 0; offset + 5 <= body.length; ) {
    const flags = body[offset] ?? 0;
    const end = offset + 5 + body.readUInt32BE(offset + 1);
    if (flags & 0x80) {
      const lines = body.subarray(offset + 5, end).toString().split('\r\n');
      return new Map(lines.filter((l) => l.includes(':')).map((l) => [l.slice(0, l.indexOf(':')).trim().toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
    }
    offset = end;
  }
  return undefined;
}

/** The REST route of a method, when it has one. */
export function restRouteOf(method: DescMethod): { verb: string; template: string; body: boolean } | undefined {
  if (!hasOption(method, http)) return undefined;
  const rule = getOption(method, http);
  if (rule.pattern.case === undefined || rule.pattern.case === 'custom') return undefined;
  return { verb: rule.pattern.case.toUpperCase(), template: rule.pattern.value, body: rule.body !== '' };
}

/**
 * A REST call: path variables and (for GET) query parameters from the request's JSON fields, percent-encoded
 * byte by byte so that any string, even one with a lone surrogate, reaches the server as it is; for routes with a
 * body, the raw body bytes.
 */
export async function sendRest(base: string, method: DescMethod, json: Record<string, unknown>, body: Uint8Array | undefined): Promise<Outcome> {
  const route = restRouteOf(method);
  if (route === undefined) return { verdict: 'served', status: 'no REST route' };
  const used = new Set<string>();
  const path = route.template.replace(/\{([a-z_]+)\}/g, (_, name: string) => {
    used.add(name);
    return percentEncoded(textOf(json[name]) || 'x');
  });
  const query = route.body
    ? ''
    : Object.entries(json)
        .filter(([name]) => !used.has(name))
        .flatMap(([name, value]) => (Array.isArray(value) ? value : [value]).map((v) => `${percentEncoded(name)}=${percentEncoded(textOf(v))}`))
        .join('&');
  try {
    const res = await fetch(`${base}${path}${query ? `?${query}` : ''}`, {
      method: route.verb,
      headers: { 'content-type': 'application/json' },
      ...(route.body ? { body: body ?? Buffer.from(JSON.stringify(json)) } : {}),
    });
    return fromHttp(res.status, await res.text());
  } catch (error) {
    return dropped(error);
  }
}

function textOf(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value) ?? '';
}

function percentEncoded(text: string): string {
  return [...Buffer.from(text)].map((b) => (/[A-Za-z0-9._~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).padStart(2, '0')}`)).join('');
}
