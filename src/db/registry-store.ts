import type { Knex, SqlEntityManager } from '@mikro-orm/knex';
import { nameTaken, versionConflict } from '../errors.ts';
import type { AuditPruneStore } from '../audit/verification-retention.ts';
import type { AgentRecord, AuditEventRecord, AuditEventType, CertificateRecord, NewAuditEvent } from '../registry/records.ts';
import type {
  AgentChanges,
  AgentFilter,
  AuditFilter,
  NewAgent,
  NewCertificate,
  Page,
  RegistryStore,
  RegistryTx,
  RetiredCertificate,
} from '../registry/store.ts';
import { AgentSchema, CertificateSchema } from './entities.ts';
import { INSERT_CHUNK, insertRows } from './pending-rows.ts';
import { scannedRows } from './sqlite-scans.ts';
import { GroupCommit } from './group-commit.ts';
import { countAttempt, findOperation, finishOperation, insertOperation, keepIssuedCertificate, listPendingOperations, pruneOperations } from './operation-store.ts';
import type { NewOperation, OperationOutcome, OperationRecord } from '../registry/operations.ts';
import type { Database } from './orm.ts';
import { type Batch, WriteBatches } from './write-batch.ts';
import type { NewLogEntry } from '../tlog/store.ts';
import { date, json, optionalDate, poolReader, type Row, type RowReader, sqliteReader, text } from './row-reader.ts';
import type { Dialect } from '../config/database-url.ts';

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
const PRESENTED_PREFIX = 'presented__';
const columnsOf = (table: string, prefix: string) =>
  CERTIFICATE_COLUMNS.map((column) => `${table}.${column} as ${prefix}${column}`).join(', ');

// The hot reads, as plain SQL that both dialects run unchanged: an agent with its current certificate, by name
// (resolve) or by any certificate it was ever issued (verify).
const AGENT_BY_NAME = `select a.*, ${columnsOf('c', CERT_PREFIX)}
  from agents a left join certificates c on c.id = a.current_certificate_id
  where a.name = ?`;
const AGENT_BY_CERTIFICATE = `select a.*, ${columnsOf('c', CERT_PREFIX)}, ${columnsOf('p', PRESENTED_PREFIX)}
  from certificates p join agents a on a.id = p.agent_id left join certificates c on c.id = a.current_certificate_id
  where p.fingerprint = ?`;

/** The registry's storage on SQLite or PostgreSQL through MikroORM; the SQL differs only where noted. */
export class SqlRegistryStore implements RegistryStore, AuditPruneStore {
  /** The connection pool for listings and single statements; transactions get their own connection. */
  private readonly knex: Knex;

  /** Audit events written outside a transaction (verifications), committed in batches. */
  private readonly audit: GroupCommit<{ event: NewAuditEvent; at: Date }>;

  /** Changes made at the same time commit together, each in a savepoint of its own. */
  private readonly changes: WriteBatches;

  private constructor(
    private readonly database: Database,
    private readonly reader: RowReader,
  ) {
    this.knex = database.orm.em.getKnex();
    this.changes = new WriteBatches(database);
    // One multi-row statement a batch, with its values bound: the entity manager's insertMany writes them into the
    // SQL text, so each batch was a statement of its own to prepare (and on SQLite displaced the cached ones).
    const dialect = database.dialect;
    this.audit = new GroupCommit(
      (entries) => insertRows(this.knex, dialect, 'audit_events', entries.map(({ event, at }) => auditRow(event, at))),
      INSERT_CHUNK[dialect],
    );
  }

  static async open(database: Database): Promise<SqlRegistryStore> {
    const { dialect, target } = database.location;
    const fileBacked = dialect === 'sqlite' && target !== ':memory:';
    const reader = fileBacked ? sqliteReader(target) : poolReader(database.orm.em.getKnex());
    return new SqlRegistryStore(database, reader);
  }

  transaction<T>(work: (tx: RegistryTx) => Promise<T>): Promise<T> {
    return this.changes.run((em, _trx, batch) => work(new SqlRegistryTx(em, this.database.dialect, batch)));
  }

  async findAgent(name: string): Promise<AgentRecord | undefined> {
    const row = await this.reader.get(AGENT_BY_NAME, [name]);
    return row ? toAgentRecord(row) : undefined;
  }

  async listAgents(filter: AgentFilter, page: Page, now: Date): Promise<{ agents: AgentRecord[]; total: number }> {
    const knex = this.knex;
    const { capability } = filter;
    const filtered = (query: Knex.QueryBuilder) => {
      if (filter.owner) query.where('a.owner', filter.owner);
      // One agent_capabilities row per agent and capability (migration 0011): the join adds no duplicates.
      if (capability) query.join('agent_capabilities as ac', (on) => on.on('ac.agent_id', 'a.id').andOnVal('ac.capability', capability));
      if (filter.status === 'revoked') query.where('a.status', 'revoked');
      if (filter.status === 'active') query.where('a.status', 'active').where('c.not_after', '>', now);
      if (filter.status === 'expired') query.where('a.status', 'active').where('c.not_after', '<=', now);
      if (filter.status === 'pending') query.where('a.status', 'active').whereNull('a.current_certificate_id');
      return query;
    };
    // Ordered by the capability's side of the join when there is one, whose index lists its agents in id order.
    // Neither database carries a range across a join's equality, so the page's start is put on both sides: each
    // index seeks to it, whichever the planner walks first.
    const rows = filtered(agentsWithCertificate(knex)).orderBy(capability ? 'ac.agent_id' : 'a.id').limit(page.limit);
    if (page.afterId !== undefined) rows.where('a.id', '>', page.afterId);
    if (page.afterId !== undefined && capability) rows.where('ac.agent_id', '>', page.afterId);
    if (page.offset) rows.offset(page.offset);
    // The count joins the current certificate only for the filters that read it: an agent has at most one, so the
    // join never changes the count, and at 10^6 agents it made counting them all take seconds.
    const counted = knex('agents as a');
    if (filter.status === 'active' || filter.status === 'expired') counted.leftJoin('certificates as c', 'c.id', 'a.current_certificate_id');
    const [agentRows, total] = await Promise.all([rows, this.count(filtered(counted))]);
    return { agents: (agentRows as Row[]).map(toAgentRecord), total };
  }

  async findCertificate(fingerprint: string): Promise<{ certificate: CertificateRecord; agent: AgentRecord } | undefined> {
    const row = await this.reader.get(AGENT_BY_CERTIFICATE, [fingerprint]);
    return row ? { certificate: toCertificateRecord(row, PRESENTED_PREFIX), agent: toAgentRecord(row) } : undefined;
  }

  async listRetiredCertificates(now: Date): Promise<CertificateRecord[]> {
    const rows = await this.knex('certificates')
      .whereNotNull('revoked_at')
      .where('not_after', '>', now)
      .orderBy('id');
    return (rows as Row[]).map((row) => toCertificateRecord(row));
  }

  async listRetiredSince(since: Date): Promise<RetiredCertificate[]> {
    const rows = await this.knex('certificates as c')
      .join('agents as a', 'a.id', 'c.agent_id')
      .where('c.revoked_at', '>=', since)
      .orderBy([{ column: 'c.revoked_at' }, { column: 'c.id' }])
      .select('a.name', 'c.fingerprint', 'c.serial', 'c.revocation_reason', 'c.revoked_at');
    return (rows as Row[]).map((row) => ({
      agentName: String(row['name']),
      fingerprint: String(row['fingerprint']),
      serial: String(row['serial']),
      reason: text(row['revocation_reason']) ?? 'unspecified',
      revokedAt: date(row['revoked_at']),
    }));
  }

  async listAuditEvents(filter: AuditFilter, page: Page): Promise<{ events: AuditEventRecord[]; total: number }> {
    const knex = this.knex;
    const filtered = (query: Knex.QueryBuilder) => {
      if (filter.agentName) query.where('agent_name', filter.agentName);
      if (filter.eventType) query.where('event_type', filter.eventType);
      return query;
    };
    const [rows, total] = await Promise.all([
      filtered(knex('audit_events'))
        .orderBy('id', 'desc')
        .limit(page.limit)
        .offset(page.offset ?? 0),
      this.count(filtered(knex('audit_events'))),
    ]);
    return { events: (rows as Row[]).map((row) => toAuditEventRecord(row)), total };
  }

  /** How many rows `query` matches: a listing's total, which may mean walking every agent or audit event. */
  private async count(query: Knex.QueryBuilder): Promise<number> {
    const [counted] = await scannedRows(this.database.scans, query.count({ total: '*' }));
    return Number(counted?.['total'] ?? 0);
  }

  appendAudit(event: NewAuditEvent, at: Date): Promise<void> {
    return this.audit.add({ event, at });
  }

  /**
   * One statement, committed on its own, reading the (event_type, created_at) index. On PostgreSQL, rows another
   * process is deleting are skipped rather than waited for; on SQLite the statement holds the one write lock for
   * one batch only. Either way a row is deleted, and counted, once.
   */
  async deleteAuditEventsBefore(eventType: AuditEventType, before: Date, limit: number): Promise<number> {
    const oldest = this.knex('audit_events')
      .select('id')
      .where('event_type', eventType)
      .where('created_at', '<', before)
      .orderBy('created_at')
      .limit(limit);
    if (this.database.dialect === 'postgresql') oldest.forUpdate().skipLocked();
    return this.knex('audit_events').whereIn('id', oldest).delete();
  }

  findOperation(id: string): Promise<OperationRecord | undefined> {
    return findOperation(this.knex, id);
  }

  countOperationAttempt(id: string, at: Date): Promise<void> {
    return countAttempt(this.knex, id, at);
  }

  keepIssuedCertificate(id: string, pem: string, at: Date): Promise<string | undefined> {
    return keepIssuedCertificate(this.knex, id, pem, at);
  }

  listPendingOperations(before: Date, limit: number): Promise<string[]> {
    return listPendingOperations(this.knex, before, limit);
  }

  pruneOperations(before: Date): Promise<number> {
    return pruneOperations(this.knex, before);
  }

  async ping(): Promise<void> {
    await this.knex.raw('select 1');
  }

  async close(): Promise<void> {
    await this.reader.close();
    await this.database.close();
  }
}

/** Writes go through the entity definitions, so MikroORM converts values for each dialect. */
class SqlRegistryTx implements RegistryTx {
  constructor(
    private readonly em: SqlEntityManager,
    private readonly dialect: Dialect,
    private readonly batch: Batch,
  ) {}

  async lockAgent(name: string): Promise<AgentRecord | undefined> {
    const knex = this.em.getTransactionContext<Knex.Transaction>() ?? this.em.getKnex();
    const query = agentsWithCertificate(knex).where('a.name', name).first();
    // SQLite has one writer at a time, so the open write transaction already excludes other writers.
    if (this.dialect === 'postgresql') query.forUpdate('a');
    const row = await query;
    return row ? toAgentRecord(row) : undefined;
  }

  // A registration's rows are written with the query builder itself: the entity manager's insert costs several
  // times the statement on this path. Values are stored as the entities define them (JSON text, timestamps).
  async insertAgent(agent: NewAgent, certificate: NewCertificate | undefined): Promise<AgentRecord> {
    let inserted: { agentId: number; stored: CertificateRecord | null };
    try {
      inserted =
        this.dialect === 'postgresql' && certificate !== undefined
          ? await this.insertAgentWithCertificate(agent, certificate)
          : { agentId: idOf(await this.knex()('agents').insert(agentRow(agent)).returning('id')), stored: null };
    } catch (error) {
      if (isUniqueViolation(error, 'agents')) throw nameTaken(agent.name);
      throw error;
    }
    const { agentId } = inserted;
    const stored = inserted.stored ?? (certificate === undefined ? null : await this.insertFirstCertificate(agentId, certificate, agent.at));
    // What the row now holds, without reading it back.
    return {
      id: agentId,
      name: agent.name,
      owner: agent.owner,
      capabilities: agent.capabilities,
      description: agent.description,
      endpoints: agent.endpoints,
      state: 'active',
      revokedAt: null,
      revocationReason: null,
      version: 1,
      createdAt: agent.at,
      updatedAt: agent.at,
      certificate: stored,
    };
  }

  /**
   * PostgreSQL: the agent, its certificate and the link between them in one statement (one round trip instead of
   * three). The certificate's id is drawn first so the agent row can name it; both foreign keys are checked at the
   * end of the statement, when both rows exist.
   */
  private async insertAgentWithCertificate(agent: NewAgent, certificate: NewCertificate): Promise<{ agentId: number; stored: CertificateRecord }> {
    const row = agentRow(agent);
    const { serial, fingerprint, pem, notBefore, notAfter } = certificate;
    const result = (await this.knex().raw(INSERT_AGENT_WITH_CERTIFICATE, [
      row.name, row.owner, row.capabilities, row.description, row.endpoints, row.created_at, row.updated_at,
      serial, fingerprint, pem, notBefore, notAfter, agent.at,
    ])) as { rows: Row[] };
    const inserted = result.rows[0] ?? {};
    const agentId = Number(inserted['agent_id']);
    return { agentId, stored: newCertificateRecord(Number(inserted['id']), agentId, certificate) };
  }

  async insertFirstCertificate(agentId: number, certificate: NewCertificate, at: Date): Promise<CertificateRecord> {
    const stored = await this.insertCertificate(agentId, certificate, at);
    await this.knex()('agents').where('id', agentId).whereNull('current_certificate_id').update({ current_certificate_id: stored.id });
    return stored;
  }

  async deletePendingAgent(agentId: number): Promise<void> {
    await this.em.nativeDelete(AgentSchema, { id: agentId, currentCertificateId: null });
  }

  insertOperation(operation: NewOperation): Promise<void> {
    return insertOperation(this.knex(), operation);
  }

  lockOperation(id: string): Promise<OperationRecord | undefined> {
    return findOperation(this.knex(), id, this.dialect);
  }

  finishOperation(id: string, outcome: OperationOutcome, at: Date): Promise<void> {
    return finishOperation(this.knex(), id, outcome, at);
  }

  private knex(): Knex {
    return this.em.getTransactionContext<Knex.Transaction>() ?? this.em.getKnex();
  }

  async insertCertificate(agentId: number, certificate: NewCertificate, at: Date): Promise<CertificateRecord> {
    const { serial, fingerprint, pem, notBefore, notAfter } = certificate;
    const id = idOf(
      await this.knex()('certificates')
        .insert({ agent_id: agentId, serial, fingerprint, pem, not_before: notBefore, not_after: notAfter, created_at: at })
        .returning('id'),
    );
    return newCertificateRecord(id, agentId, certificate);
  }

  async updateAgent(agent: AgentRecord, changes: AgentChanges, at: Date): Promise<void> {
    const { capabilities, endpoints, state, ...rest } = changes;
    const updated = await this.em.nativeUpdate(
      AgentSchema,
      { id: agent.id, version: agent.version },
      {
        ...rest,
        ...(capabilities && { capabilities: [...capabilities] }),
        ...(endpoints && { endpoints: [...endpoints] }),
        ...(state && { status: state }),
        version: agent.version + 1,
        updatedAt: at,
      },
    );
    if (updated !== 1) {
      // Read past the entity manager, which the changes of one batch share: its copy may predate another change's.
      const current: Row | undefined = await this.knex()('agents').where('id', agent.id).first('version');
      throw versionConflict(agent.name, agent.version, Number(current?.['version'] ?? 0));
    }
  }

  async retireCertificate(certificateId: number, reason: string, at: Date): Promise<void> {
    await this.em.nativeUpdate(CertificateSchema, { id: certificateId, revokedAt: null }, { revokedAt: at, revocationReason: reason });
  }

  // Written with the batch's other audit rows and leaves, in one statement per table, once every change has run.
  async appendAudit(event: NewAuditEvent, at: Date): Promise<void> {
    this.batch.rows.add('audit_events', auditRow(event, at));
  }

  async appendLogEntry(entry: NewLogEntry, at: Date): Promise<number> {
    return this.batch.sequencer.append([entry], at);
  }
}


function agentsWithCertificate(knex: Knex): Knex.QueryBuilder {
  return knex('agents as a')
    .leftJoin('certificates as c', 'c.id', 'a.current_certificate_id')
    .select('a.*', knex.raw(columnsOf('c', CERT_PREFIX)));
}

// Rows are read by hand rather than through the entity manager's hydration, which costs several times the query
// itself on the hot read paths. The two dialects differ only in how they return timestamps (SQLite: milliseconds;
// PostgreSQL: Date) and JSON (SQLite: text; PostgreSQL: parsed), and both are handled here.

function toAgentRecord(row: Row): AgentRecord {
  return {
    id: Number(row['id']),
    name: String(row['name']),
    owner: String(row['owner']),
    capabilities: json<string[]>(row['capabilities']),
    description: String(row['description']),
    endpoints: json<string[]>(row['endpoints']),
    state: row['status'] === 'revoked' ? 'revoked' : 'active',
    revokedAt: optionalDate(row['revoked_at']),
    revocationReason: text(row['revocation_reason']),
    version: Number(row['version']),
    createdAt: date(row['created_at']),
    updatedAt: date(row['updated_at']),
    certificate: row[`${CERT_PREFIX}id`] == null ? null : toCertificateRecord(row, CERT_PREFIX),
  };
}

function toCertificateRecord(row: Row, prefix = ''): CertificateRecord {
  return {
    id: Number(row[`${prefix}id`]),
    agentId: Number(row[`${prefix}agent_id`]),
    serial: String(row[`${prefix}serial`]),
    fingerprint: String(row[`${prefix}fingerprint`]),
    pem: String(row[`${prefix}pem`]),
    notBefore: date(row[`${prefix}not_before`]),
    notAfter: date(row[`${prefix}not_after`]),
    revokedAt: optionalDate(row[`${prefix}revoked_at`]),
    revocationReason: text(row[`${prefix}revocation_reason`]),
  };
}

function toAuditEventRecord(row: Row): AuditEventRecord {
  return {
    id: Number(row['id']),
    eventType: String(row['event_type']),
    actor: String(row['actor']),
    agentName: String(row['agent_name']),
    metadata: json<Record<string, unknown>>(row['metadata']),
    createdAt: date(row['created_at']),
  };
}

/** One audit row, in the caller's transaction: every store writes audit events through this. */
export async function insertAudit(em: SqlEntityManager, event: NewAuditEvent, at: Date): Promise<void> {
  const knex = em.getTransactionContext<Knex.Transaction>() ?? em.getKnex();
  await knex('audit_events').insert(auditRow(event, at));
}

function auditRow({ eventType, actor, agentName, metadata }: NewAuditEvent, at: Date): Row {
  return { event_type: eventType, actor, agent_name: agentName, metadata: JSON.stringify(metadata), created_at: at };
}

const idOf = (inserted: unknown[]): number => Number((inserted[0] as Row | undefined)?.['id']);

/** A certificate as its new row holds it: current, not revoked. */
function newCertificateRecord(id: number, agentId: number, certificate: NewCertificate): CertificateRecord {
  const { serial, fingerprint, pem, notBefore, notAfter } = certificate;
  return { id, agentId, serial, fingerprint, pem, notBefore, notAfter, revokedAt: null, revocationReason: null };
}

/** A new agent's row, as the entities store it (JSON text, timestamps); pending until it has a certificate. */
function agentRow(agent: NewAgent) {
  return {
    name: agent.name,
    owner: agent.owner,
    capabilities: JSON.stringify(agent.capabilities),
    description: agent.description,
    endpoints: JSON.stringify(agent.endpoints),
    status: 'active',
    current_certificate_id: null,
    version: 1,
    created_at: agent.at,
    updated_at: agent.at,
  };
}

const INSERT_AGENT_WITH_CERTIFICATE = `
  with certificate as (select nextval(pg_get_serial_sequence('certificates', 'id'))::integer as id),
  agent as (
    insert into agents (name, owner, capabilities, description, endpoints, status, current_certificate_id, version, created_at, updated_at)
    select ?, ?, ?::jsonb, ?, ?::jsonb, 'active', certificate.id, 1, ?::timestamptz, ?::timestamptz from certificate
    returning id, current_certificate_id
  ),
  inserted as (
    insert into certificates (id, agent_id, serial, fingerprint, pem, not_before, not_after, created_at)
    select agent.current_certificate_id, agent.id, ?, ?, ?, ?::timestamptz, ?::timestamptz, ?::timestamptz from agent
    returning id, agent_id
  )
  select id, agent_id from inserted`;

/**
 * A unique constraint of `table` refused the row: SQLite's and PostgreSQL's own codes (the query builder does not
 * translate). PostgreSQL names the table in the error, SQLite in the message ("UNIQUE constraint failed: agents.name").
 */
function isUniqueViolation(error: unknown, table: string): boolean {
  const { code, table: refused, message } = (error ?? {}) as { code?: unknown; table?: unknown; message?: unknown };
  if (code === '23505') return refused === table;
  if (code === 'SQLITE_CONSTRAINT_UNIQUE') return String(message).includes(`: ${table}.`);
  return false;
}

