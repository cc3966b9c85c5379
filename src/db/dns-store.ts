import type { Knex } from '@mikro-orm/knex';
import type { AgentVersion, DnsPublicationStore, Publication, PublicationFailure, StoredRRset } from '../dns/publication-store.ts';
import type { RRset, ZoneChange } from '../dns/rrset.ts';
import type { NewAuditEvent } from '../registry/records.ts';
import type { Database } from './orm.ts';
import { insertAudit } from './registry-store.ts';
import { date, json, optionalDate, type Row, text } from './row-reader.ts';
import { writeTransaction } from './write-transaction.ts';

/** DNS publication state on SQLite or PostgreSQL; the SQL is the same on both. */
export class SqlDnsPublicationStore implements DnsPublicationStore {
  private readonly knex: Knex;

  constructor(private readonly database: Database) {
    this.knex = database.orm.em.getKnex();
  }

  async changedSince(since: Date, limit: number): Promise<AgentVersion[]> {
    const rows: Row[] = await this.knex('agents').select('id', 'name', 'version', 'updated_at').where('updated_at', '>=', since).orderBy('updated_at').limit(limit);
    return rows.map(toAgentVersion);
  }

  async agentsAfter(afterId: number, limit: number): Promise<AgentVersion[]> {
    const rows: Row[] = await this.knex('agents').select('id', 'name', 'version', 'updated_at').where('id', '>', afterId).orderBy('id').limit(limit);
    return rows.map(toAgentVersion);
  }

  async publications(agentNames: readonly string[]): Promise<Map<string, Publication>> {
    if (agentNames.length === 0) return new Map();
    const rows: Row[] = await this.knex('dns_publications').whereIn('agent_name', agentNames);
    return new Map(rows.map((row) => [String(row['agent_name']), toPublication(row)]));
  }

  async due(now: Date, limit: number): Promise<string[]> {
    const rows: Row[] = await this.knex('dns_publications')
      .select('agent_name')
      .whereNotNull('next_attempt_at')
      .where('next_attempt_at', '<=', now)
      .orderBy('next_attempt_at')
      .limit(limit);
    return rows.map((row) => String(row['agent_name']));
  }

  claim(agentName: string, version: number, now: Date, leaseMs: number): Promise<{ attempts: number } | undefined> {
    return writeTransaction(this.database, async (_em, trx) => {
      const query = trx('dns_publications').where('agent_name', agentName).first();
      // SQLite's write transaction already holds the database's one write lock.
      const row: Row | undefined = await (this.database.dialect === 'postgresql' ? query.forUpdate() : query);
      const lease = { status: 'pending', next_attempt_at: new Date(now.getTime() + leaseMs), updated_at: now };
      if (row === undefined) {
        await trx('dns_publications').insert({ agent_name: agentName, agent_version: version, attempts: 0, ...lease });
        return { attempts: 0 };
      }
      const current = toPublication(row);
      if (current.agentVersion > version || (current.agentVersion === version && current.status === 'published')) return undefined;
      const sameVersion = current.agentVersion === version;
      // A version already being tried waits for its lease or its next attempt; a newer version goes at once.
      if (sameVersion && current.nextAttemptAt !== null && current.nextAttemptAt.getTime() > now.getTime()) return undefined;
      const attempts = sameVersion ? current.attempts : 0;
      await trx('dns_publications').where('agent_name', agentName).update({ agent_version: version, attempts, ...lease });
      return { attempts };
    });
  }

  async publishedRRsets(agentName: string): Promise<RRset[]> {
    const rows: Row[] = await this.knex('dns_rrsets').where('agent_name', agentName).whereNotNull('records').orderBy('serial');
    return rows.map((row) => toStored(row).rrset as RRset);
  }

  recordPublished(agentName: string, version: number, change: ZoneChange, audit: NewAuditEvent | undefined, now: Date): Promise<number> {
    return writeTransaction(this.database, async (em, trx) => {
      const write = async (rrset: RRset, records: RRset['records'] | null) => {
        // Deleted and inserted rather than updated, so the row takes the next serial.
        await trx('dns_rrsets').where({ name: rrset.name, type: rrset.type }).delete();
        const row = { zone: change.zone, name: rrset.name, type: rrset.type, ttl: rrset.ttl, agent_name: agentName, updated_at: now };
        await trx('dns_rrsets').insert({ ...row, records: records === null ? null : JSON.stringify(records) });
      };
      for (const rrset of change.upsert) await write(rrset, rrset.records);
      for (const rrset of change.remove) await write(rrset, null);
      await trx('dns_publications')
        .where('agent_name', agentName)
        .where('agent_version', '<=', version)
        .update({ agent_version: version, status: 'published', error: null, attempts: 0, next_attempt_at: null, published_at: now, updated_at: now });
      if (audit !== undefined) await insertAudit(em, audit, now);
      const newest: Row | undefined = await trx('dns_rrsets').max({ serial: 'serial' }).first();
      return Number(newest?.['serial'] ?? 0);
    });
  }

  recordFailure(agentName: string, version: number, failure: PublicationFailure, audit: NewAuditEvent | undefined, now: Date): Promise<void> {
    return writeTransaction(this.database, async (em, trx) => {
      await trx('dns_publications')
        .where({ agent_name: agentName, agent_version: version })
        .update({ status: failure.retryable ? 'pending' : 'failed', error: failure.error, attempts: failure.attempts, next_attempt_at: failure.nextAttemptAt, updated_at: now });
      if (audit !== undefined) await insertAudit(em, audit, now);
    });
  }

  async rrsetsAfter(serial: number, limit: number): Promise<StoredRRset[]> {
    const rows: Row[] = await this.knex('dns_rrsets').where('serial', '>', serial).orderBy('serial').limit(limit);
    return rows.map(toStored);
  }

  async behindCount(): Promise<number> {
    const row: Row | undefined = await this.knex('dns_publications').whereNot('status', 'published').count({ total: '*' }).first();
    return Number(row?.['total'] ?? 0);
  }

  async latestLogIndex(agentName: string): Promise<number | undefined> {
    const row: Row | undefined = await this.knex('tlog_entries').max({ idx: 'idx' }).where('agent_name', agentName).first();
    return row?.['idx'] == null ? undefined : Number(row['idx']);
  }
}

function toAgentVersion(row: Row): AgentVersion {
  return { id: Number(row['id']), name: String(row['name']), version: Number(row['version']), updatedAt: date(row['updated_at']) };
}

function toPublication(row: Row): Publication {
  return {
    agentName: String(row['agent_name']),
    agentVersion: Number(row['agent_version']),
    status: String(row['status']) as Publication['status'],
    error: text(row['error']),
    attempts: Number(row['attempts']),
    nextAttemptAt: optionalDate(row['next_attempt_at']),
    publishedAt: optionalDate(row['published_at']),
  };
}

function toStored(row: Row): StoredRRset {
  const records = row['records'] == null ? null : json<RRset['records']>(row['records']);
  const base = { name: String(row['name']), type: String(row['type']) as RRset['type'], ttl: Number(row['ttl']) };
  return { serial: Number(row['serial']), zone: String(row['zone']), rrset: records === null ? { ...base, records: null } : ({ ...base, records } as RRset) };
}
