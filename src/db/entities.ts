import { defineEntity, type InferEntity } from '@mikro-orm/core';

// The schema itself is written per dialect in src/db/migrations; these definitions are how the code reads and
// writes it. Relations are plain id columns (with foreign keys in the migrations) so that every query the
// registry runs is visible where it is written.

export const AgentSchema = defineEntity({
  name: 'Agent',
  tableName: 'agents',
  properties: (p) => ({
    id: p.integer().primary().autoincrement(),
    name: p.string().length(253).unique(),
    owner: p.string().length(255),
    capabilities: p.json<string[]>(),
    description: p.text(),
    endpoints: p.json<string[]>(),
    // 'active' or 'revoked'; 'expired' is derived from the current certificate's notAfter at read time.
    status: p.string().length(16),
    currentCertificateId: p.integer().nullable(),
    revokedAt: p.datetime().nullable(),
    revocationReason: p.string().length(32).nullable(),
    version: p.integer(),
    createdAt: p.datetime(),
    updatedAt: p.datetime(),
  }),
});
export type AgentEntity = InferEntity<typeof AgentSchema>;

export const CertificateSchema = defineEntity({
  name: 'Certificate',
  tableName: 'certificates',
  properties: (p) => ({
    id: p.integer().primary().autoincrement(),
    agentId: p.integer(),
    serial: p.string().length(64).unique(),
    fingerprint: p.string().length(64).unique(),
    pem: p.text(),
    notBefore: p.datetime(),
    notAfter: p.datetime(),
    // Set when the certificate stops being the agent's current one: superseded by a rotation, or revoked.
    revokedAt: p.datetime().nullable(),
    revocationReason: p.string().length(32).nullable(),
    createdAt: p.datetime(),
  }),
});
export type CertificateEntity = InferEntity<typeof CertificateSchema>;

export const AuditEventSchema = defineEntity({
  name: 'AuditEvent',
  tableName: 'audit_events',
  properties: (p) => ({
    id: p.integer().primary().autoincrement(),
    eventType: p.string().length(64),
    actor: p.string().length(255),
    agentName: p.string().length(253),
    metadata: p.json<Record<string, unknown>>(),
    createdAt: p.datetime(),
  }),
});
export type AuditEventEntity = InferEntity<typeof AuditEventSchema>;

// API keys: only the SHA-256 of the secret is kept; the secret is shown once, at creation.
export const ApiKeySchema = defineEntity({
  name: 'ApiKey',
  tableName: 'api_keys',
  properties: (p) => ({
    id: p.integer().primary().autoincrement(),
    keyId: p.string().length(32).unique(),
    secretHash: p.string().length(64),
    role: p.string().length(16),
    owner: p.string().length(255).nullable(),
    description: p.string().length(255),
    createdBy: p.string().length(255),
    bootstrap: p.boolean(),
    createdAt: p.datetime(),
    revokedAt: p.datetime().nullable(),
  }),
});
export type ApiKeyEntity = InferEntity<typeof ApiKeySchema>;

export const entities = [AgentSchema, CertificateSchema, AuditEventSchema, ApiKeySchema];
