import type { Knex } from '@mikro-orm/knex';
import type { SqlEntityManager } from '@mikro-orm/knex';
import { nameTaken, versionConflict } from '../errors.ts';
import type { AgentRecord, AuditEventRecord, CertificateRecord, NewAuditEvent } from '../registry/records.ts';
import type {
  AgentChanges,
  AgentFilter,
  AuditFilter,
  NewAgent,
  NewCertificate,
  Page,
  RegistryStore,
  RegistryTx,
} from '../registry/store.ts';
import type { Database } from './orm.ts';
import type { AgentEntity, AuditEventEntity, CertificateEntity } from './entities.ts';
import type { Dialect } from './database-url.ts';

const CERTIFICATE_COLUMNS = [
  'id',
  'agent_id',
  'serial',
  'fingerprint',
  'pem',
  'not_before',
  'not_after',
  'revoked_at',
  'revocation_reason',
  'created_at',
] as const;
const CERT_PREFIX = 'cert__';

/** The registry's storage on SQLite or PostgreSQL through MikroORM; the SQL differs only where noted. */
export class SqlRegistryStore implements RegistryStore {
  constructor(private readonly database: Database) {}

  private get em(): SqlEntityManager {
    return this.database.orm.em.fork();
  }

  transaction<T>(work: (tx: RegistryTx) => Promise<T>): Promise<T> {
    return this.em.transactional((em) => work(new SqlRegistryTx(em, this.database.dialect)));
  }

  async findAgent(name: string): Promise<AgentRecord | undefined> {
    const em = this.em;
    const row = await agentsWithCertificate(em.getKnex()).where('a.name', name).first();
    return row ? toAgentRecord(em, row) : undefined;
  }

  async listAgents(filter: AgentFilter, page: Page, now: Date): Promise<{ agents: AgentRecord[]; total: number }> {
    const em = this.em;
    const knex = em.getKnex();
    const filtered = (query: Knex.QueryBuilder) => {
      if (filter.owner) query.where('a.owner', filter.owner);
      if (filter.capability) this.whereHasCapability(query, filter.capability);
      if (filter.status === 'revoked') query.where('a.status', 'revoked');
      if (filter.status === 'active') query.where('a.status', 'active').where('c.not_after', '>', now);
      if (filter.status === 'expired') {
        query.where('a.status', 'active').where((q) => q.whereNull('c.id').orWhere('c.not_after', '<=', now));
      }
      return query;
    };
    const rows = filtered(agentsWithCertificate(knex)).orderBy('a.id').limit(page.limit);
    if (page.afterId !== undefined) rows.where('a.id', '>', page.afterId);
    if (page.offset) rows.offset(page.offset);
    const [agentRows, countRows] = await Promise.all([
      rows,
      filtered(knex('agents as a').leftJoin('certificates as c', 'c.id', 'a.current_certificate_id')).count({
        total: '*',
      }),
    ]);
    return {
      agents: (agentRows as Row[]).map((row) => toAgentRecord(em, row)),
      total: Number((countRows[0] as { total: number | string } | undefined)?.total ?? 0),
    };
  }

  private whereHasCapability(query: Knex.QueryBuilder, capability: string): void {
    if (this.database.dialect === 'postgresql') {
      query.whereRaw('a.capabilities @> ?::jsonb', [JSON.stringify([capability])]);
    } else {
      query.whereRaw('exists (select 1 from json_each(a.capabilities) where json_each.value = ?)', [capability]);
    }
  }

  async findCertificate(fingerprint: string): Promise<{ certificate: CertificateRecord; agent: AgentRecord } | undefined> {
    const em = this.em;
    const knex = em.getKnex();
    const certificateRow = await knex('certificates').where('fingerprint', fingerprint).first();
    if (!certificateRow) return undefined;
    const certificate = toCertificateRecord(em, certificateRow as Row);
    const agentRow = await agentsWithCertificate(knex).where('a.id', certificate.agentId).first();
    return agentRow ? { certificate, agent: toAgentRecord(em, agentRow) } : undefined;
  }

  async listRetiredCertificates(now: Date): Promise<CertificateRecord[]> {
    const em = this.em;
    const rows = await em
      .getKnex()('certificates')
      .whereNotNull('revoked_at')
      .where('not_after', '>', now)
      .orderBy('id');
    return (rows as Row[]).map((row) => toCertificateRecord(em, row));
  }

  async listAuditEvents(filter: AuditFilter, page: Page): Promise<{ events: AuditEventRecord[]; total: number }> {
    const em = this.em;
    const knex = em.getKnex();
    const filtered = (query: Knex.QueryBuilder) => {
      if (filter.agentName) query.where('agent_name', filter.agentName);
      if (filter.eventType) query.where('event_type', filter.eventType);
      return query;
    };
    const [rows, countRows] = await Promise.all([
      filtered(knex('audit_events'))
        .orderBy('id', 'desc')
        .limit(page.limit)
        .offset(page.offset ?? 0),
      filtered(knex('audit_events')).count({ total: '*' }),
    ]);
    return {
      events: (rows as Row[]).map((row) => toAuditEventRecord(em, row)),
      total: Number((countRows[0] as { total: number | string } | undefined)?.total ?? 0),
    };
  }

  async appendAudit(event: NewAuditEvent, at: Date): Promise<void> {
    await insertAudit(this.em.getKnex(), event, at);
  }

  async ping(): Promise<void> {
    await this.em.getKnex().raw('select 1');
  }

  close(): Promise<void> {
    return this.database.close();
  }
}

class SqlRegistryTx implements RegistryTx {
  private readonly trx: Knex;

  constructor(
    private readonly em: SqlEntityManager,
    private readonly dialect: Dialect,
  ) {
    this.trx = em.getTransactionContext<Knex.Transaction>() ?? em.getKnex();
  }

  async lockAgent(name: string): Promise<AgentRecord | undefined> {
    const query = agentsWithCertificate(this.trx).where('a.name', name).first();
    // SQLite has one writer at a time, so the open write transaction already excludes other writers.
    if (this.dialect === 'postgresql') query.forUpdate('a');
    const row = await query;
    return row ? toAgentRecord(this.em, row) : undefined;
  }

  async insertAgent(agent: NewAgent, certificate: NewCertificate): Promise<void> {
    let agentId: number;
    try {
      const [inserted] = await this.trx('agents')
        .insert({
          name: agent.name,
          owner: agent.owner,
          capabilities: JSON.stringify(agent.capabilities),
          description: agent.description,
          endpoints: JSON.stringify(agent.endpoints),
          status: 'active',
          version: 1,
          created_at: agent.at,
          updated_at: agent.at,
        })
        .returning('id');
      agentId = idOf(inserted);
    } catch (error) {
      if (isUniqueViolation(error)) throw nameTaken(agent.name);
      throw error;
    }
    const { id } = await this.insertCertificate(agentId, certificate, agent.at);
    await this.trx('agents').where('id', agentId).update({ current_certificate_id: id });
  }

  async insertCertificate(agentId: number, certificate: NewCertificate, at: Date): Promise<CertificateRecord> {
    const [row] = await this.trx('certificates')
      .insert({
        agent_id: agentId,
        serial: certificate.serial,
        fingerprint: certificate.fingerprint,
        pem: certificate.pem,
        not_before: certificate.notBefore,
        not_after: certificate.notAfter,
        created_at: at,
      })
      .returning(CERTIFICATE_COLUMNS as unknown as string[]);
    return toCertificateRecord(this.em, row as Row);
  }

  async updateAgent(agent: AgentRecord, changes: AgentChanges, at: Date): Promise<void> {
    const columns: Record<string, unknown> = { version: agent.version + 1, updated_at: at };
    if (changes.capabilities) columns['capabilities'] = JSON.stringify(changes.capabilities);
    if (changes.endpoints) columns['endpoints'] = JSON.stringify(changes.endpoints);
    if (changes.description !== undefined) columns['description'] = changes.description;
    if (changes.currentCertificateId !== undefined) columns['current_certificate_id'] = changes.currentCertificateId;
    if (changes.state) columns['status'] = changes.state;
    if (changes.revokedAt) columns['revoked_at'] = changes.revokedAt;
    if (changes.revocationReason) columns['revocation_reason'] = changes.revocationReason;
    const updated = await this.trx('agents').where({ id: agent.id, version: agent.version }).update(columns);
    if (updated !== 1) {
      const current = await this.trx('agents').where('id', agent.id).first('version');
      throw versionConflict(agent.name, agent.version, Number((current as { version?: number } | undefined)?.version));
    }
  }

  async retireCertificate(certificateId: number, reason: string, at: Date): Promise<void> {
    await this.trx('certificates')
      .where('id', certificateId)
      .whereNull('revoked_at')
      .update({ revoked_at: at, revocation_reason: reason });
  }

  async appendAudit(event: NewAuditEvent, at: Date): Promise<void> {
    await insertAudit(this.trx, event, at);
  }
}

type Row = Record<string, unknown>;

function agentsWithCertificate(knex: Knex): Knex.QueryBuilder {
  return knex('agents as a')
    .leftJoin('certificates as c', 'c.id', 'a.current_certificate_id')
    .select('a.*', ...CERTIFICATE_COLUMNS.map((column) => `c.${column} as ${CERT_PREFIX}${column}`));
}

function toAgentRecord(em: SqlEntityManager, row: Row): AgentRecord {
  const agentColumns: Row = {};
  const certificateColumns: Row = {};
  for (const [column, value] of Object.entries(row)) {
    if (column.startsWith(CERT_PREFIX)) certificateColumns[column.slice(CERT_PREFIX.length)] = value;
    else agentColumns[column] = value;
  }
  const agent = em.map<AgentEntity>('Agent', agentColumns);
  return {
    id: agent.id,
    name: agent.name,
    owner: agent.owner,
    capabilities: agent.capabilities,
    description: agent.description,
    endpoints: agent.endpoints,
    state: agent.status === 'revoked' ? 'revoked' : 'active',
    revokedAt: agent.revokedAt ?? null,
    revocationReason: agent.revocationReason ?? null,
    version: agent.version,
    createdAt: agent.createdAt,
    updatedAt: agent.updatedAt,
    certificate: certificateColumns['id'] == null ? null : toCertificateRecord(em, certificateColumns),
  };
}

function toCertificateRecord(em: SqlEntityManager, row: Row): CertificateRecord {
  const certificate = em.map<CertificateEntity>('Certificate', row);
  return {
    id: certificate.id,
    agentId: certificate.agentId,
    serial: certificate.serial,
    fingerprint: certificate.fingerprint,
    pem: certificate.pem,
    notBefore: certificate.notBefore,
    notAfter: certificate.notAfter,
    revokedAt: certificate.revokedAt ?? null,
    revocationReason: certificate.revocationReason ?? null,
  };
}

function toAuditEventRecord(em: SqlEntityManager, row: Row): AuditEventRecord {
  const event = em.map<AuditEventEntity>('AuditEvent', row);
  return {
    id: Number(event.id),
    eventType: event.eventType,
    actor: event.actor,
    agentName: event.agentName,
    metadata: event.metadata,
    createdAt: event.createdAt,
  };
}

async function insertAudit(knex: Knex, event: NewAuditEvent, at: Date): Promise<void> {
  await knex('audit_events').insert({
    event_type: event.eventType,
    actor: event.actor,
    agent_name: event.agentName,
    metadata: JSON.stringify(event.metadata),
    created_at: at,
  });
}

function idOf(inserted: unknown): number {
  return Number(typeof inserted === 'object' && inserted !== null ? (inserted as { id: unknown }).id : inserted);
}

function isUniqueViolation(error: unknown): boolean {
  const { code, message } = error as { code?: string; message?: string };
  return code === '23505' || (code === 'SQLITE_CONSTRAINT' && /UNIQUE/.test(message ?? ''));
}
