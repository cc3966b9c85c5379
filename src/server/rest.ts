import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import {
  type DescEnum,
  type DescField,
  type DescMessage,
  type DescMethod,
  type DescMethodUnary,
  type DescService,
  type JsonObject,
  type JsonValue,
  type Message,
  ScalarType,
  fromJson,
  getOption,
  isFieldSet,
  hasOption,
  toJson,
} from '@bufbuild/protobuf';
import { ConnectError } from '@connectrpc/connect';
import { rest_response as restResponse } from '../../gen/atr/v1/rest_pb.js';
import { http } from '../../gen/google/api/annotations_pb.js';
import { DomainError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import { errorCodeHeader, restError, restErrorFromDomain, toConnectError } from './errors.ts';
import type { InProcessAnswer, InProcessCall } from './in-process-calls.ts';
import { jsonTextOf, readRequestBody } from './input-limits.ts';
import { checkJsonInput, restEnumName } from './json-input.ts';

export type HttpRequest = IncomingMessage | Http2ServerRequest;

// What REST writes to; both node:http and node:http2 (compat) responses are one.
export interface JsonResponse {
  statusCode: number;
  readonly writableFinished: boolean;
  setHeader(name: string, value: string | number | readonly string[]): unknown;
  end(chunk: string): unknown;
  once(event: 'close', listener: () => void): unknown;
}

export type RestHandler = (req: HttpRequest, res: JsonResponse) => Promise<boolean>;

export interface RestOptions {
  services: DescService[];
  // Calls the API in process for this request, through the same interceptors as gRPC and Connect (and with the
  // same context values); the call names the method, the message, the forwarded headers and the abort signal.
  call: (req: HttpRequest, call: Omit<InProcessCall, 'contextValues'>) => Promise<InProcessAnswer>;
  // Where a failure outside the call (a bug decoding or shaping) is reported; the call's own are in its access line.
  logger?: Logger;
}


export type Segment = { literal: string } | { field: DescField };

/** A REST route as the method's annotations define it. */
export interface RestRoute {
  verb: string;
  /** The path template as annotated, e.g. /v1/agents/{agent_name}. */
  template: string;
  segments: Segment[];
  // One digit a segment, 1 for a literal and 0 for a variable: the larger, the more specific.
  specificity: string;
  method: DescMethodUnary;
  bodyField: DescField | '*' | undefined;
  responseField: DescField | undefined;
  flatten: DescField[];
  status: number;
  /** A response field that, when set, makes the answer 202 Accepted (the call finishes in the background). */
  acceptedWhen: DescField | undefined;
}

type Route = RestRoute;

/**
 * REST transcoding driven by the methods' `google.api.http` annotations (and `atr.v1.rest_response` for what they
 * cannot say): the path, query and JSON body become the request message, the call goes through the transport, and
 * the response message becomes JSON with REST conventions (snake_case names, every field present, enums as short
 * lowercase names, an unset enum or empty string as null, 64-bit integers as numbers).
 * Resolves false when no route has the request's path, so the caller can fall through.
 */
export function createRestHandler(options: RestOptions): RestHandler {
  const routes = restRoutes(options.services);
  return async (req, res) => {
    const url = req.url ?? '/';
    const queryAt = url.indexOf('?');
    const path = queryAt < 0 ? url : url.slice(0, queryAt);
    const parts = path.split('/').slice(1);
    const matching = path.startsWith('/') ? routes.filter((route) => matches(route, parts)) : [];
    if (matching.length === 0) return false;
    // HEAD is GET without the body (node:http drops it).
    const verb = req.method === 'HEAD' ? 'GET' : req.method;
    const candidates = matching.filter((route) => route.verb === verb);
    const route = mostSpecific(candidates);
    if (route === undefined) {
      const allow = [...new Set(matching.map((r) => r.verb))].join(', ');
      sendJson(res, 405, { detail: `${req.method} is not allowed on ${path}; use ${allow}`, code: 'method_not_allowed' }, [
        ['allow', allow],
      ]);
      return true;
    }
    const abort = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    try {
      const input = await decodeRequest(route, req, parts, new URLSearchParams(queryAt < 0 ? '' : url.slice(queryAt + 1)));
      const output = await options.call(req, {
        method: route.method,
        input,
        header: forwardedHeaders(req),
        signal: abort.signal,
        url: path,
        requestMethod: verb ?? 'GET',
        protocolName: 'rest',
      });
      const body = shapeResponse(route, restJson(route.method.output, toJson(route.method.output, output.message, jsonOptions)));
      const accepted = route.acceptedWhen !== undefined && isFieldSet(output.message, route.acceptedWhen);
      sendJson(res, accepted ? 202 : route.status, body, [...passedHeaders(output.header), ...passedHeaders(output.trailer)]);
    } catch (reason) {
      sendError(res, reason, options.logger);
    }
    return true;
  };
}

/**
 * Any failure as the REST answer for it: status and JSON body from the error table, with the headers it set
 * (retry-after). One that is neither a domain nor a Connect error is a bug or an outage: `logger` learns what it was.
 */
export function sendError(res: JsonResponse, reason: unknown, logger?: Logger): void {
  if (!(reason instanceof DomainError) && !(reason instanceof ConnectError)) logger?.error({ err: reason }, 'internal error');
  const error = reason instanceof DomainError ? restErrorFromDomain(reason) : restError(toConnectError(reason));
  const headers = reason instanceof ConnectError ? passedHeaders(reason.metadata) : [];
  sendJson(res, error.status, error.body, headers);
}

export function sendJson(
  res: JsonResponse,
  status: number,
  body: JsonValue,
  headers: Iterable<[string, string]> = [],
): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  for (const [name, value] of headers) res.setHeader(name, value);
  res.setHeader('content-type', 'application/json');
  res.setHeader('content-length', Buffer.byteLength(text));
  res.end(text);
}

const jsonOptions = { useProtoFieldName: true, alwaysEmitImplicit: true } as const;

// --- routes

/** The REST routes the services' annotations define; throws for an annotation the transcoder cannot serve. */
export function restRoutes(services: readonly DescService[]): RestRoute[] {
  return services.flatMap(compileRoutes);
}

function compileRoutes(service: DescService): Route[] {
  return service.methods.flatMap((method) => {
    if (!hasOption(method, http)) return [];
    const rule = getOption(method, http);
    const shape = getOption(method, restResponse);
    const where = `${service.typeName}.${method.name}`;
    if (!isUnary(method)) throw new Error(`${where}: REST transcoding serves unary methods only`);
    if (rule.pattern.case === undefined || rule.pattern.case === 'custom') throw new Error(`${where}: the http rule has no get, put, post, delete or patch path`);
    if (rule.additionalBindings.length > 0) throw new Error(`${where}: additional_bindings are not supported`);
    const field = (name: string) => {
      const found = method.output.fields.find((f) => f.name === name);
      if (found === undefined) throw new Error(`${where}: ${method.output.typeName} has no field ${name}`);
      return found;
    };
    const flatten = shape.flattenFields.map((name) => {
      const lifted = field(name);
      if (lifted.fieldKind !== 'message') throw new Error(`${where}: ${name} is not a message field`);
      return lifted;
    });
    const segments = parseTemplate(rule.pattern.value, method.input, where);
    const route: Route = {
      verb: rule.pattern.case.toUpperCase(),
      template: rule.pattern.value,
      segments,
      specificity: segments.map((s) => ('literal' in s ? '1' : '0')).join(''),
      method,
      bodyField: rule.body === '' ? undefined : rule.body === '*' ? '*' : requestField(method.input, rule.body, where),
      responseField: rule.responseBody === '' ? undefined : field(rule.responseBody),
      flatten,
      status: shape.successStatus || 200,
      acceptedWhen: shape.acceptedWhen === '' ? undefined : field(shape.acceptedWhen),
    };
    return [route];
  });
}

function parseTemplate(template: string, input: DescMessage, where: string): Segment[] {
  if (!template.startsWith('/')) throw new Error(`${where}: path ${template} does not start with /`);
  return template
    .split('/')
    .slice(1)
    .map((segment) => {
      const variable = /^\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(segment)?.[1];
      if (variable === undefined) {
        if (/[{}]/.test(segment)) throw new Error(`${where}: unsupported path segment ${segment}`);
        return { literal: segment };
      }
      const field = requestField(input, variable, where);
      if (field.fieldKind !== 'scalar' && field.fieldKind !== 'enum') {
        throw new Error(`${where}: path variable ${variable} is not a scalar field`);
      }
      return { field };
    });
}

function requestField(input: DescMessage, name: string, where: string): DescField {
  const field = input.fields.find((f) => f.name === name);
  if (field === undefined) throw new Error(`${where}: ${input.typeName} has no field ${name}`);
  return field;
}

function matches(route: Route, parts: string[]): boolean {
  return (
    route.segments.length === parts.length &&
    route.segments.every((segment, i) => ('literal' in segment ? segment.literal === parts[i] : parts[i] !== ''))
  );
}

// Literal segments beat variables, compared from the left: /v1/agents/search wins over /v1/agents/{agent_name}.
function mostSpecific(routes: Route[]): Route | undefined {
  return routes.reduce<Route | undefined>(
    (best, route) => (best === undefined || route.specificity > best.specificity ? route : best),
    undefined,
  );
}

// --- request

async function decodeRequest(route: Route, req: HttpRequest, parts: string[], query: URLSearchParams): Promise<Message> {
  const input = route.method.input;
  let json: JsonObject = {};
  if (route.bodyField !== undefined && req.method !== 'GET' && req.method !== 'HEAD') {
    const body = await readJsonBody(req);
    if (route.bodyField === '*') {
      if (body !== undefined && !isObject(body)) throw invalid('the request body must be a JSON object');
      json = body === undefined ? {} : messageInput(input, body);
    } else if (body !== undefined) {
      json[route.bodyField.name] = fieldInput(route.bodyField, body);
    }
  }
  for (const name of new Set(query.keys())) {
    const field = fieldNamed(input, name);
    if (field === undefined) throw invalid(`${name}: is not a field of this request`);
    setField(json, field, queryValue(field, query.getAll(name)));
  }
  route.segments.forEach((segment, i) => {
    if ('field' in segment) setField(json, segment.field, textValue(segment.field, decodeSegment(parts[i] ?? '')));
  });
  checkJsonInput(input, json, 'rest');
  try {
    return fromJson(input, json);
  } catch (error) {
    // What the check above leaves to the decoder: the formats of well-known types (an RFC 3339 time, a path).
    const field = /field [\w.]+\.(\w+) from JSON/.exec(error instanceof Error ? error.message : '')?.[1];
    throw invalid(`${field ?? 'request'}: is not in the format its type needs`);
  }
}

// A field may arrive under its proto name or its JSON name; the later source (query, then path) replaces both.
function setField(json: JsonObject, field: DescField, value: JsonValue): void {
  delete json[field.jsonName];
  json[field.name] = value;
}

function queryValue(field: DescField, values: string[]): JsonValue {
  if (field.fieldKind === 'list' && field.listKind !== 'message') {
    return values.map((value) => (field.listKind === 'enum' ? enumInput(field.enum, value) : scalarText(field.scalar, value, field.name)));
  }
  if (field.fieldKind !== 'scalar' && field.fieldKind !== 'enum' && !isStringWkt(field)) {
    throw invalid(`query parameter "${field.name}" cannot set a field of that type`);
  }
  const [value, ...more] = values;
  if (value === undefined || more.length > 0) throw invalid(`query parameter "${field.name}" must be given once`);
  return textValue(field, value);
}

function textValue(field: DescField, text: string): JsonValue {
  if (field.fieldKind === 'enum') return enumInput(field.enum, text);
  if (field.fieldKind === 'scalar') return scalarText(field.scalar, text, field.name);
  return text;
}

// Proto JSON takes numbers and bytes as strings; only booleans need converting from text.
function scalarText(type: ScalarType, text: string, name: string): JsonValue {
  if (type !== ScalarType.BOOL) return text;
  if (text === 'true' || text === '1') return true;
  if (text === 'false' || text === '0') return false;
  throw invalid(`${name}: expected true or false, got "${text}"`);
}

function isStringWkt(field: DescField): boolean {
  return (
    field.fieldKind === 'message' &&
    ['google.protobuf.Timestamp', 'google.protobuf.Duration', 'google.protobuf.FieldMask'].includes(field.message.typeName)
  );
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw invalid(`path segment "${segment}" is not valid percent-encoding`);
  }
}

async function readJsonBody(req: HttpRequest): Promise<JsonValue | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readRequestBody(req, req.headers['content-length']);
  } catch (error) {
    throw error instanceof DomainError ? error : invalid('the request body ended early');
  }
  const text = jsonTextOf(bytes);
  if (text.trim() === '') return undefined;
  try {
    const parsed: JsonValue = JSON.parse(text);
    return parsed;
  } catch (error) {
    throw invalid(`the request body is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
}

// Enum values may be given by full name (AGENT_STATUS_ACTIVE) or short name (active), anywhere in the body.
function messageInput(desc: DescMessage, json: JsonObject): JsonObject {
  if (isWkt(desc)) return json;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(json)) {
    const field = fieldNamed(desc, key);
    out[key] = field === undefined ? value : fieldInput(field, value);
  }
  return out;
}

function fieldInput(field: DescField, value: JsonValue): JsonValue {
  return mapElements(field, value, (v) => {
    if (field.enum !== undefined) return enumInput(field.enum, v);
    if (field.message !== undefined && isObject(v)) return messageInput(field.message, v);
    return v;
  });
}

function enumInput(desc: DescEnum, value: JsonValue): JsonValue {
  if (typeof value !== 'string') return value;
  const upper = value.toUpperCase();
  const prefixed = (desc.sharedPrefix ?? '').toUpperCase() + upper;
  return desc.values.find((v) => v.name === value || v.name === prefixed || v.name === upper)?.name ?? value;
}

// Request headers reach the interceptors (authorization, x-api-key, ...), minus what only made sense on the
// client's own connection and what describes the HTTP body or another protocol rather than the call.
const droppedRequestHeaders = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'http2-settings',
  'content-type',
  'content-length',
  'content-encoding',
  'accept-encoding',
]);

function forwardedHeaders(req: HttpRequest): Headers {
  const named = String(req.headers.connection ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase());
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || name.startsWith(':') || droppedRequestHeaders.has(name) || named.includes(name)) continue;
    if (name.startsWith('connect-') || name.startsWith('grpc-')) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  return headers;
}

// --- response

function restJson(desc: DescMessage, json: JsonValue): JsonValue {
  if (!isObject(json) || isWkt(desc)) return json;
  const out: JsonObject = {};
  for (const field of desc.fields) {
    const value = json[field.name];
    if (value !== undefined) out[field.name] = fieldOutput(field, value);
    // Unset messages are null rather than missing, so every REST object has all its keys.
    else if (field.fieldKind === 'message' && field.oneof === undefined) out[field.name] = null;
  }
  return out;
}

function fieldOutput(field: DescField, value: JsonValue): JsonValue {
  // A proto3 string cannot tell empty from unset: both are null in REST, as every unset field is.
  if (field.fieldKind === 'scalar' && value === '' && (field.scalar === ScalarType.STRING || field.scalar === ScalarType.BYTES)) return null;
  return mapElements(field, value, (v) => {
    if (field.enum !== undefined) return enumOutput(field.enum, v);
    if (field.message !== undefined) return restJson(field.message, v);
    if (field.scalar !== undefined && is64Bit(field.scalar)) return integerOutput(v);
    return v;
  });
}

function enumOutput(desc: DescEnum, value: JsonValue): JsonValue {
  const known = desc.values.find((v) => v.name === value);
  if (known === undefined) return value;
  if (known.number === 0) return null;
  return restEnumName(desc, known.name);
}

// REST answers every integer as a JSON number. ProtoJSON writes 64-bit ones as strings for the readers that would
// round them; the ones here (log indices, tree sizes, audit ids) count entries and stay far below 2^53, and one
// that did not would stay a string rather than lose digits.
function integerOutput(value: JsonValue): JsonValue {
  if (typeof value !== 'string') return value;
  const number = Number(value);
  return Number.isSafeInteger(number) ? number : value;
}

function is64Bit(type: ScalarType): boolean {
  return [ScalarType.INT64, ScalarType.UINT64, ScalarType.SINT64, ScalarType.FIXED64, ScalarType.SFIXED64].includes(type);
}

function shapeResponse(route: Route, json: JsonValue): JsonValue {
  if (!isObject(json)) return json;
  if (route.responseField !== undefined) return json[route.responseField.name] ?? null;
  if (route.flatten.length === 0) return json;
  const lifted: JsonObject = {};
  const rest: JsonObject = { ...json };
  for (const field of route.flatten) {
    const value = rest[field.name];
    delete rest[field.name];
    if (isObject(value)) Object.assign(lifted, value);
  }
  return { ...lifted, ...rest };
}

// Response headers and trailers a handler or interceptor set (retry-after, rate limits, ...), without the
// in-process protocol's own.
function passedHeaders(headers: Headers): [string, string][] {
  const passed: [string, string][] = [];
  headers.forEach((value, name) => {
    if (name === errorCodeHeader || name.startsWith('content-') || name.startsWith('connect-')) return;
    if (name.startsWith('grpc-') || name.startsWith('trailer-') || name === 'accept-encoding') return;
    passed.push([name, value]);
  });
  return passed;
}

// --- helpers

function isUnary(method: DescMethod): method is DescMethodUnary {
  return method.methodKind === 'unary';
}

function fieldNamed(desc: DescMessage, name: string): DescField | undefined {
  return desc.fields.find((f) => f.name === name || f.jsonName === name);
}

function isWkt(desc: DescMessage): boolean {
  return desc.typeName.startsWith('google.protobuf.');
}

function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// The field's value through fn, or each element of a list, or each value of a map.
function mapElements(field: DescField, value: JsonValue, fn: (element: JsonValue) => JsonValue): JsonValue {
  if (field.fieldKind === 'list') return Array.isArray(value) ? value.map(fn) : value;
  if (field.fieldKind === 'map') {
    return isObject(value) ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fn(v)])) : value;
  }
  return fn(value);
}

function invalid(detail: string): DomainError {
  return new DomainError('invalid_argument', detail);
}
