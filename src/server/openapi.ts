import {
  type DescEnum,
  type DescField,
  type DescMessage,
  type DescService,
  type JsonObject,
  type JsonValue,
  ScalarType,
} from '@bufbuild/protobuf';
import { accessOf } from '../auth/access.ts';
import { restEnumName } from './json-input.ts';
import { type RestRoute, restRoutes } from './rest.ts';

export interface OpenApiOptions {
  services: readonly DescService[];
  /** The registry's base URL, listed as the document's server; none when unknown. */
  serverUrl?: string | undefined;
  /** The header API keys are presented in besides Authorization: Bearer (API_KEY_HEADER). */
  apiKeyHeader: string;
}

const ERROR = { $ref: '#/components/responses/Error' };
const schemaRef = (desc: DescMessage) => ({ $ref: `#/components/schemas/${desc.typeName}` });

/**
 * The OpenAPI 3.1 document of the REST API, built from the same annotations and the same routes the transcoder
 * serves, with JSON Schemas of the REST shapes: snake_case names, every key present, empty strings and unset
 * enums and messages as null, enums by short name, 64-bit integers as numbers.
 */
export function openApiDocument(options: OpenApiOptions): JsonObject {
  const schemas = new Map<string, JsonObject>();
  const paths: Record<string, JsonObject> = {};
  for (const route of restRoutes(options.services)) {
    const path = route.template;
    paths[path] = { ...paths[path], [route.verb.toLowerCase()]: operation(route, schemas) };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Agent Trust Registry',
      version: 'v1',
      description:
        'REST transcoding of the atr.v1 services (their google.api.http annotations). The same API is served over gRPC, gRPC-Web and Connect; errors answer {"detail", "code"}.',
    },
    ...(options.serverUrl === undefined ? {} : { servers: [{ url: options.serverUrl }] }),
    paths,
    components: {
      schemas: {
        Error: {
          type: 'object',
          required: ['detail', 'code'],
          properties: {
            detail: { type: 'string', description: 'The rule that failed, e.g. "owner: must not be empty".' },
            code: { type: 'string', description: 'A stable code: invalid_argument, agent_not_found, rate_limited, ...' },
          },
        },
        ...Object.fromEntries([...schemas].sort(([a], [b]) => a.localeCompare(b))),
      },
      responses: {
        Error: { description: 'Refused: the rule that failed and its stable code', content: json({ $ref: '#/components/schemas/Error' }) },
        RateLimited: {
          description: 'A request budget is spent',
          headers: { 'Retry-After': { description: 'Seconds to wait', schema: { type: 'integer' } } },
          content: json({ $ref: '#/components/schemas/Error' }),
        },
      },
      securitySchemes: {
        ApiKey: { type: 'apiKey', in: 'header', name: options.apiKeyHeader },
        Bearer: { type: 'http', scheme: 'bearer', description: 'The API key as a bearer token' },
        AgentCertificate: { type: 'mutualTLS', description: "An agent's registry-issued certificate, on the mTLS listener" },
      },
    },
  };
}

function operation(route: RestRoute, schemas: Map<string, JsonObject>): JsonObject {
  const { method } = route;
  const inPath = new Set(route.segments.flatMap((segment) => ('field' in segment ? [segment.field.name] : [])));
  const rest = method.input.fields.filter((field) => !inPath.has(field.name));
  const parameters = [
    ...rest.filter(() => route.bodyField === undefined).filter(isQueryable).map((field) => parameter(field, 'query', schemas)),
    ...route.segments.flatMap((segment) => ('field' in segment ? [parameter(segment.field, 'path', schemas)] : [])),
  ];
  const body = route.bodyField === undefined ? undefined : route.bodyField === '*' ? objectSchema(rest, schemas) : fieldSchema(route.bodyField, schemas);
  return {
    operationId: `${method.parent.name}_${method.name}`,
    tags: [method.parent.name],
    summary: `${method.parent.typeName}.${method.name}`,
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(body === undefined ? {} : { requestBody: { required: false, content: json(body) } }),
    responses: {
      [String(route.status)]: { description: 'OK', content: json(responseSchema(route, schemas)) },
      ...(route.acceptedWhen && {
        '202': { description: `Accepted: finishes in the background (${route.acceptedWhen.name} is set)`, content: json(responseSchema(route, schemas)) },
      }),
      '429': { $ref: '#/components/responses/RateLimited' },
      '4XX': ERROR,
      '5XX': ERROR,
    },
    security: security(method.parent.typeName, method.name),
  };
}

function security(service: string, method: string): JsonObject[] {
  const keys: JsonObject[] = [{ ApiKey: [] }, { Bearer: [] }];
  switch (accessOf(service, method)) {
    // Anonymous unless PUBLIC_READS=false.
    case 'public':
      return [...keys, {}];
    case 'self':
      return [{ AgentCertificate: [] }];
    case 'read':
      return [...keys, { AgentCertificate: [] }];
    default:
      return keys;
  }
}

function parameter(field: DescField, where: 'path' | 'query', schemas: Map<string, JsonObject>): JsonObject {
  const schema = field.fieldKind === 'list' ? fieldSchema(field, schemas) : nonNull(fieldSchema(field, schemas));
  return { name: field.name, in: where, required: where === 'path', schema, ...(field.fieldKind === 'list' ? { explode: true } : {}) };
}

// What the transcoder takes from the query: scalars, enums, lists of them, and the well-known types written as strings.
function isQueryable(field: DescField): boolean {
  if (field.fieldKind === 'list') return field.listKind !== 'message';
  if (field.fieldKind === 'message') return ['google.protobuf.Timestamp', 'google.protobuf.Duration', 'google.protobuf.FieldMask'].includes(field.message.typeName);
  return field.fieldKind !== 'map';
}

function responseSchema(route: RestRoute, schemas: Map<string, JsonObject>): JsonValue {
  const output = route.method.output;
  if (route.responseField !== undefined) return fieldSchema(route.responseField, schemas);
  if (route.flatten.length === 0) return messageSchema(output, schemas);
  const lifted = route.flatten.flatMap((field) => field.message?.fields ?? []);
  const others = output.fields.filter((field) => !route.flatten.includes(field));
  return objectSchema([...lifted, ...others], schemas, true);
}

function objectSchema(fields: readonly DescField[], schemas: Map<string, JsonObject>, allPresent = false): JsonObject {
  return {
    type: 'object',
    properties: Object.fromEntries(fields.map((field) => [field.name, fieldSchema(field, schemas)])),
    ...(allPresent ? { required: fields.map((field) => field.name) } : {}),
    additionalProperties: false,
  };
}

/** A $ref to the message's schema, adding it (and what it refers to) to the components. */
function messageSchema(desc: DescMessage, schemas: Map<string, JsonObject>): JsonObject {
  const wellKnown = wellKnownSchema(desc);
  if (wellKnown !== undefined) return wellKnown;
  if (!schemas.has(desc.typeName)) {
    // Claimed before its fields are walked, so a message that contains itself ends in a $ref, not a loop.
    schemas.set(desc.typeName, {});
    schemas.set(desc.typeName, { ...objectSchema(desc.fields, schemas, true), title: desc.name });
  }
  return schemaRef(desc);
}

function fieldSchema(field: DescField, schemas: Map<string, JsonObject>): JsonObject {
  switch (field.fieldKind) {
    case 'list':
      return { type: 'array', items: nonNull(elementSchema(field.listKind === 'scalar' ? field.scalar : field.listKind === 'enum' ? field.enum : field.message, schemas)) };
    case 'map':
      return {
        type: 'object',
        additionalProperties: nonNull(elementSchema(field.mapKind === 'scalar' ? field.scalar : field.mapKind === 'enum' ? field.enum : field.message, schemas)),
      };
    case 'scalar':
      return elementSchema(field.scalar, schemas);
    case 'enum':
      return elementSchema(field.enum, schemas);
    case 'message':
      return elementSchema(field.message, schemas);
  }
}

// One value's schema as a REST answer may hold it: strings, enums and messages may be null (unset).
function elementSchema(type: ScalarType | DescEnum | DescMessage, schemas: Map<string, JsonObject>): JsonObject {
  if (typeof type === 'number') return scalarSchema(type);
  if (type.kind === 'enum') {
    const names = type.values.filter((v) => v.number !== 0).map((v) => restEnumName(type, v.name));
    return { type: ['string', 'null'], enum: [...names, null] };
  }
  const schema = messageSchema(type, schemas);
  return '$ref' in schema ? { anyOf: [schema, { type: 'null' }] } : schema;
}

function scalarSchema(type: ScalarType): JsonObject {
  switch (type) {
    case ScalarType.STRING:
      return { type: ['string', 'null'] };
    case ScalarType.BYTES:
      return { type: ['string', 'null'], contentEncoding: 'base64' };
    case ScalarType.BOOL:
      return { type: 'boolean' };
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return { type: 'number' };
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return { type: 'integer', format: 'int32' };
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return { type: 'integer', minimum: 0, maximum: 2 ** 32 - 1 };
    default:
      return { type: 'integer', format: 'int64' };
  }
}

function wellKnownSchema(desc: DescMessage): JsonObject | undefined {
  switch (desc.typeName) {
    case 'google.protobuf.Timestamp':
      return { type: ['string', 'null'], format: 'date-time' };
    case 'google.protobuf.Duration':
      return { type: ['string', 'null'], description: 'seconds with an s suffix, e.g. "1.5s"' };
    case 'google.protobuf.FieldMask':
      return { type: ['string', 'null'], description: 'comma-separated field names' };
    case 'google.protobuf.Struct':
      return { type: ['object', 'null'] };
    case 'google.protobuf.Value':
      return {};
    default:
      return desc.typeName.startsWith('google.protobuf.') ? {} : undefined;
  }
}

// The schema without null: path and query parameters and list elements are never null.
function nonNull(schema: JsonObject): JsonObject {
  const type = schema['type'];
  if (Array.isArray(type)) {
    const kept = type.filter((t) => t !== 'null');
    const out: JsonObject = { ...schema, type: kept.length === 1 ? (kept[0] ?? null) : kept };
    if (Array.isArray(schema['enum'])) out['enum'] = schema['enum'].filter((v) => v !== null);
    return out;
  }
  const anyOf = schema['anyOf'];
  if (Array.isArray(anyOf)) return (anyOf[0] as JsonObject | undefined) ?? schema;
  return schema;
}

function json(schema: JsonValue): JsonObject {
  return { 'application/json': { schema } };
}
