import { type DescEnum, type DescField, type DescMessage, type JsonValue, ScalarType } from '@bufbuild/protobuf';
import { invalidArgument } from '../errors.ts';

// A request's JSON, checked against its message before protobuf-es decodes it, so that a refusal names the field
// and the rule (`status: must be one of active, revoked, expired, pending`) rather than protobuf internals (`cannot decode
// enum atr.v1.AgentStatus from JSON`). REST and Connect JSON share it; they differ only in the enum names they take.

/** How enum values are spelt: REST's short lowercase names (`active`), or ProtoJSON's full ones (`AGENT_STATUS_ACTIVE`). */
export type EnumSpelling = 'rest' | 'proto';

/** Throws invalidArgument for the first key that is not a field, or value that cannot be its field's. */
export function checkJsonInput(desc: DescMessage, json: JsonValue, spelling: EnumSpelling): void {
  checkMessage(desc, json, spelling, '');
}

/** An enum value's REST spelling: the name without the enum's shared prefix, lowercase. */
export function restEnumName(desc: DescEnum, name: string): string {
  return name.slice(desc.sharedPrefix?.length ?? 0).toLowerCase();
}

function checkMessage(desc: DescMessage, json: JsonValue, spelling: EnumSpelling, path: string): void {
  if (desc.typeName.startsWith('google.protobuf.')) return checkWellKnown(desc, json, path);
  if (!isObject(json)) throw invalidArgument(path || 'request', 'must be a JSON object');
  for (const [key, value] of Object.entries(json)) {
    const field = desc.fields.find((f) => f.name === key || f.jsonName === key);
    const at = (name: string) => (path === '' ? name : `${path}.${name}`);
    if (field === undefined) throw invalidArgument(at(key), `is not a field of this ${path === '' ? 'request' : 'message'}`);
    if (value !== null) checkField(field, value, spelling, at(field.name));
  }
}

function checkField(field: DescField, value: JsonValue, spelling: EnumSpelling, path: string): void {
  switch (field.fieldKind) {
    case 'list':
      if (!Array.isArray(value)) throw invalidArgument(path, 'must be a JSON array');
      value.forEach((element, i) => {
        const at = `${path}[${i}]`;
        if (element === null) throw invalidArgument(at, 'must not be null');
        if (field.listKind === 'scalar') checkScalar(field.scalar, element, at);
        else if (field.listKind === 'enum') checkEnum(field.enum, element, spelling, at);
        else checkMessage(field.message, element, spelling, at);
      });
      return;
    case 'map':
      if (!isObject(value)) throw invalidArgument(path, 'must be a JSON object');
      for (const [key, element] of Object.entries(value)) {
        const at = `${path}.${key}`;
        if (field.mapKind === 'scalar') checkScalar(field.scalar, element, at);
        else if (field.mapKind === 'enum') checkEnum(field.enum, element, spelling, at);
        else checkMessage(field.message, element, spelling, at);
      }
      return;
    case 'enum':
      return checkEnum(field.enum, value, spelling, path);
    case 'message':
      return checkMessage(field.message, value, spelling, path);
    case 'scalar':
      return checkScalar(field.scalar, value, path);
  }
}

function checkEnum(desc: DescEnum, value: JsonValue, spelling: EnumSpelling, path: string): void {
  if (typeof value === 'number' && Number.isInteger(value)) return;
  const known = desc.values.filter((v) => v.number !== 0);
  if (typeof value === 'string' && desc.values.some((v) => v.name === value)) return;
  const names = known.map((v) => (spelling === 'rest' ? restEnumName(desc, v.name) : v.name));
  throw invalidArgument(path, `must be one of ${names.join(', ')}`);
}

const int32 = { min: -(2 ** 31), max: 2 ** 31 - 1 };
const uint32 = { min: 0, max: 2 ** 32 - 1 };
const int64 = { min: -(2n ** 63n), max: 2n ** 63n - 1n };
const uint64 = { min: 0n, max: 2n ** 64n - 1n };

function checkScalar(type: ScalarType, value: JsonValue, path: string): void {
  switch (type) {
    case ScalarType.STRING:
      if (typeof value !== 'string') throw invalidArgument(path, 'must be a string');
      return;
    case ScalarType.BOOL:
      if (typeof value !== 'boolean') throw invalidArgument(path, 'must be true or false');
      return;
    case ScalarType.BYTES:
      if (typeof value !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(value)) throw invalidArgument(path, 'must be base64');
      return;
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      if (typeof value === 'number' || (typeof value === 'string' && (value.trim() !== '' && !Number.isNaN(Number(value)) || ['NaN', 'Infinity', '-Infinity'].includes(value)))) return;
      throw invalidArgument(path, 'must be a number');
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return checkInteger(value, int32, path);
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return checkInteger(value, uint32, path);
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return checkInteger(value, uint64, path);
    default:
      return checkInteger(value, int64, path);
  }
}

function checkInteger(value: JsonValue, range: { min: number | bigint; max: number | bigint }, path: string): void {
  const integer = typeof value === 'number' && Number.isInteger(value) ? BigInt(value) : typeof value === 'string' && /^-?\d+$/.test(value) ? BigInt(value) : undefined;
  if (integer === undefined) throw invalidArgument(path, 'must be an integer');
  if (integer < BigInt(range.min) || integer > BigInt(range.max)) throw invalidArgument(path, `must be an integer from ${range.min} to ${range.max}`);
}

// The well-known types' JSON forms; their own formats (an RFC 3339 time, a field path) are left to the decoder.
function checkWellKnown(desc: DescMessage, json: JsonValue, path: string): void {
  const name = desc.typeName.slice('google.protobuf.'.length);
  if (['Timestamp', 'Duration', 'FieldMask'].includes(name) && typeof json !== 'string') throw invalidArgument(path, 'must be a string');
  if (name === 'Struct' && !isObject(json)) throw invalidArgument(path, 'must be a JSON object');
}

function isObject(value: JsonValue | undefined): value is { [key: string]: JsonValue } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
