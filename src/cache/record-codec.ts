// The records the cache keeps in Redis, as JSON: dates as epoch milliseconds, read back into the same shapes. A
// value that does not have the shape (written by another version of the registry, or damaged) is refused rather
// than served, and the caller reads the database instead.
import type { AgentRecord, CertificateRecord } from '../registry/records.ts';

/** What RegistryStore.findCertificate answers: the certificate with that fingerprint and its agent. */
export interface CertificateWithAgent {
  readonly certificate: CertificateRecord;
  readonly agent: AgentRecord;
}

export function encodeAgent(agent: AgentRecord): string {
  return JSON.stringify(agentJson(agent));
}

export function decodeAgent(json: string): AgentRecord {
  return agentOf(JSON.parse(json));
}

export function encodeCertificateWithAgent(found: CertificateWithAgent): string {
  return JSON.stringify({ certificate: certificateJson(found.certificate), agent: agentJson(found.agent) });
}

export function decodeCertificateWithAgent(json: string): CertificateWithAgent {
  const value = object(JSON.parse(json));
  return { certificate: certificateOf(value['certificate']), agent: agentOf(value['agent']) };
}

const agentJson = (agent: AgentRecord) => ({
  ...agent,
  revokedAt: agent.revokedAt?.getTime() ?? null,
  createdAt: agent.createdAt.getTime(),
  updatedAt: agent.updatedAt.getTime(),
  certificate: agent.certificate && certificateJson(agent.certificate),
});

const certificateJson = (certificate: CertificateRecord) => ({
  ...certificate,
  notBefore: certificate.notBefore.getTime(),
  notAfter: certificate.notAfter.getTime(),
  revokedAt: certificate.revokedAt?.getTime() ?? null,
});

function agentOf(json: unknown): AgentRecord {
  const value = object(json);
  const state = value['state'];
  if (state !== 'active' && state !== 'revoked') throw new TypeError('cached agent: state');
  return {
    id: number(value['id']),
    name: string(value['name']),
    owner: string(value['owner']),
    capabilities: strings(value['capabilities']),
    description: string(value['description']),
    endpoints: strings(value['endpoints']),
    state,
    revokedAt: optional(value['revokedAt'], date),
    revocationReason: optional(value['revocationReason'], string),
    version: number(value['version']),
    createdAt: date(value['createdAt']),
    updatedAt: date(value['updatedAt']),
    certificate: optional(value['certificate'], certificateOf),
  };
}

function certificateOf(json: unknown): CertificateRecord {
  const value = object(json);
  return {
    id: number(value['id']),
    agentId: number(value['agentId']),
    serial: string(value['serial']),
    fingerprint: string(value['fingerprint']),
    pem: string(value['pem']),
    notBefore: date(value['notBefore']),
    notAfter: date(value['notAfter']),
    revokedAt: optional(value['revokedAt'], date),
    revocationReason: optional(value['revocationReason'], string),
  };
}

function object(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TypeError('cached record: not an object');
  return value as Record<string, unknown>;
}

function number(value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new TypeError('cached record: not a number');
  return value;
}

function string(value: unknown): string {
  if (typeof value !== 'string') throw new TypeError('cached record: not a string');
  return value;
}

function strings(value: unknown): string[] {
  if (!Array.isArray(value)) throw new TypeError('cached record: not a list');
  return value.map(string);
}

const date = (value: unknown): Date => new Date(number(value));

function optional<T>(value: unknown, read: (value: unknown) => T): T | null {
  return value === null ? null : read(value);
}
