import { type DescMessage, type MessageShape, toJson } from '@bufbuild/protobuf';
import { type Timestamp, timestampDate } from '@bufbuild/protobuf/wkt';
import { type Agent, AgentStatus } from '../../gen/atr/v1/agent_pb.js';
import { VerifyReason } from '../../gen/atr/v1/verify_pb.js';

/** A label and its value; rows with an empty value are left out of human output. */
export type Field = readonly [label: string, value: string | undefined];

/** Human output (aligned `key: value` lines and tables) or, with --json, the proto JSON of the response. */
export class Output {
  constructor(readonly json: boolean) {}

  line(text = ''): void {
    process.stdout.write(`${text}\n`);
  }

  message<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): void {
    this.line(JSON.stringify(toJson(schema, message, { useProtoFieldName: true }), null, 2));
  }

  fields(fields: readonly Field[]): void {
    const shown = fields.filter((field): field is readonly [string, string] => field[1] !== undefined && field[1] !== '');
    const width = Math.max(0, ...shown.map(([label]) => label.length)) + 1;
    for (const [label, value] of shown) this.line(`${`${label}:`.padEnd(width)} ${value}`);
  }

  /** The line under a page of a listing: which items of how many. */
  pageFooter(page: { offset: number; total: number }, shown: number): void {
    this.line(`\n${page.offset + 1}-${page.offset + shown} of ${page.total}`);
  }

  table(headers: readonly string[], rows: readonly (readonly string[])[]): void {
    const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)));
    const format = (cells: readonly string[]) =>
      cells
        .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd();
    this.line(format(headers));
    for (const row of rows) this.line(format(row));
  }
}

const STATUS_WORDS: Record<AgentStatus, string> = {
  [AgentStatus.UNSPECIFIED]: 'unknown',
  [AgentStatus.ACTIVE]: 'active',
  [AgentStatus.REVOKED]: 'revoked',
  [AgentStatus.EXPIRED]: 'expired',
  [AgentStatus.PENDING]: 'pending',
};

export function statusWord(status: AgentStatus): string {
  return STATUS_WORDS[status] ?? 'unknown';
}

/** The status a user types (`--status revoked`) as the proto enum. */
export const STATUS_BY_WORD = {
  active: AgentStatus.ACTIVE,
  revoked: AgentStatus.REVOKED,
  expired: AgentStatus.EXPIRED,
  pending: AgentStatus.PENDING,
} as const;

const REASON_WORDS: Record<VerifyReason, string> = {
  [VerifyReason.UNSPECIFIED]: 'unspecified',
  [VerifyReason.VERIFIED]: 'verified',
  [VerifyReason.MALFORMED]: 'malformed',
  [VerifyReason.UNTRUSTED_ISSUER]: 'untrusted issuer',
  [VerifyReason.EXPIRED]: 'expired',
  [VerifyReason.NOT_YET_VALID]: 'not yet valid',
  [VerifyReason.UNKNOWN_AGENT]: 'unknown agent',
  [VerifyReason.REVOKED]: 'revoked',
  [VerifyReason.SUPERSEDED]: 'superseded',
  [VerifyReason.INVALID_TOKEN]: 'invalid token',
  [VerifyReason.BAD_SIGNATURE]: 'bad signature',
  [VerifyReason.WRONG_AUDIENCE]: 'wrong audience',
  [VerifyReason.REPLAYED]: 'replayed',
  [VerifyReason.RATE_LIMITED]: 'rate limited',
};

export function reasonWord(reason: VerifyReason): string {
  return REASON_WORDS[reason] ?? 'unspecified';
}

export function time(value: Timestamp | undefined): string | undefined {
  return value === undefined ? undefined : timestampDate(value).toISOString();
}

export function list(values: readonly string[]): string {
  return values.join(', ');
}

export function agentFields(agent: Agent | undefined): Field[] {
  if (agent === undefined) return [];
  return [
    ['name', agent.agentName],
    ['status', statusWord(agent.status)],
    ['owner', agent.owner],
    ['capabilities', list(agent.capabilities)],
    ['description', agent.description],
    ['endpoints', list(agent.endpoints)],
    ['spiffe id', agent.spiffeId],
    ['fingerprint', agent.certFingerprint],
    ['serial', agent.certSerial],
    ['issued', time(agent.issuedAt)],
    ['expires', time(agent.expiresAt)],
    ['revoked', time(agent.revokedAt)],
    ['revocation reason', agent.revocationReason],
    ['created', time(agent.createdAt)],
    ['updated', time(agent.updatedAt)],
    ['version', String(agent.version)],
  ];
}
