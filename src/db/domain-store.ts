import type { Knex, SqlEntityManager } from '@mikro-orm/knex';
import type { Dialect } from '../config/database-url.ts';
import { domainTaken } from '../domains/errors.ts';
import type { ChallengeRecord, DomainEvidence, DomainMethod, DomainRecord, DomainState, DomainStatus, DomainStore, DomainTx } from '../domains/store.ts';
import type { NewAuditEvent } from '../registry/records.ts';
import type { NewLogEntry } from '../tlog/store.ts';
import type { Database } from './orm.ts';
import { insertAudit } from './registry-store.ts';
import { date, json, optionalDate, type Row } from './row-reader.ts';
import { sequenceLogEntries } from './tlog-store.ts';
import { writeTransaction } from './write-transaction.ts';

/** Verified domains and their challenges on SQLite or PostgreSQL; every change is one write transaction. */
export class SqlDomainStore implements DomainStore {
  constructor(private readonly database: Database) {}

  change<T>(work: (tx: DomainTx) => Promise<T>): Promise<T> {
    return writeTransaction(this.database, (em, trx) => work(new SqlDomainTx(em, trx, this.database.dialect)));
  }

  async find(domain: string): Promise<DomainRecord | undefined> {
    const row = (await this.knex('domains').where('domain', domain).first()) as Row | undefined;
    return row && toDomain(row);
  }

  async findAll(domains: readonly string[]): Promise<DomainRecord[]> {
    if (domains.length === 0) return [];
    return ((await this.knex('domains').whereIn('domain', [...domains])) as Row[]).map(toDomain);
  }

  async list(filter: { readonly owner?: string | undefined }, page: { readonly limit: number; readonly afterId?: number | undefined }) {
    const filtered = () => {
      const query = this.knex('domains');
      if (filter.owner !== undefined) query.where('owner', filter.owner);
      return query;
    };
    const rows = filtered().orderBy('id').limit(page.limit);
    if (page.afterId !== undefined) rows.where('id', '>', page.afterId);
    const [counted] = (await filtered().count({ total: '*' })) as Row[];
    return { domains: ((await rows) as Row[]).map(toDomain), total: Number(counted?.['total'] ?? 0) };
  }

  async latestChallenge(domain: string, owner: string): Promise<ChallengeRecord | undefined> {
    const row = (await this.knex('domain_challenges').where({ domain, owner }).orderBy('id', 'desc').first()) as Row | undefined;
    return row && toChallenge(row);
  }

  async due(now: Date, limit: number): Promise<string[]> {
    const rows = (await unclaimed(this.knex('domains').where('next_check_at', '<=', now), now)
      .orderBy('next_check_at')
      .limit(limit)
      .select('domain')) as Row[];
    return rows.map((row) => String(row['domain']));
  }

  async claim(domain: string, worker: string, now: Date, until: Date): Promise<DomainRecord | undefined> {
    // One conditional update: of processes claiming at once, exactly one changes the row.
    const claimed = await unclaimed(this.knex('domains').where('domain', domain).where('next_check_at', '<=', now), now).update({
      claimed_by: worker,
      claim_until: until,
    });
    return claimed === 1 ? this.find(domain) : undefined;
  }

  async postpone(domain: string, worker: string, next: Date): Promise<void> {
    await this.knex('domains').where({ domain, claimed_by: worker }).update({ next_check_at: next, claimed_by: null, claim_until: null });
  }

  private get knex(): Knex {
    return this.database.orm.em.getKnex();
  }
}

class SqlDomainTx implements DomainTx {
  constructor(
    private readonly em: SqlEntityManager,
    private readonly trx: Knex,
    private readonly dialect: Dialect,
  ) {}

  async lock(domain: string): Promise<DomainRecord | undefined> {
    const query = this.trx('domains').where('domain', domain).first();
    // SQLite has one writer at a time, so the open write transaction already excludes other writers.
    if (this.dialect === 'postgresql') query.forUpdate();
    const row = (await query) as Row | undefined;
    return row && toDomain(row);
  }

  async insertChallenge(challenge: ChallengeRecord): Promise<void> {
    await this.trx('domain_challenges').insert({
      token: challenge.token,
      domain: challenge.domain,
      owner: challenge.owner,
      created_at: challenge.createdAt,
      expires_at: challenge.expiresAt,
      used_at: challenge.usedAt ?? null,
    });
  }

  async useChallenge(token: string, at: Date): Promise<boolean> {
    return (await this.trx('domain_challenges').where('token', token).whereNull('used_at').update({ used_at: at })) === 1;
  }

  async save(state: DomainState): Promise<DomainRecord> {
    const row = {
      domain: state.domain,
      owner: state.owner,
      status: state.status,
      method: state.method,
      token: state.token,
      verified_at: state.verifiedAt,
      last_checked_at: state.lastCheckedAt,
      next_check_at: state.nextCheckAt,
      flagged_at: state.flaggedAt ?? null,
      failure: state.failure,
      evidence: JSON.stringify(state.evidence),
      claimed_by: null,
      claim_until: null,
      updated_at: state.lastCheckedAt,
    };
    // The owner's row is updated; otherwise inserted, unless another owner's was inserted meanwhile (PostgreSQL
    // cannot lock a row that does not exist yet): then the domain is that owner's, and this save is refused.
    const updated = await this.trx('domains').where({ domain: state.domain, owner: state.owner }).update(row);
    if (updated === 0) await this.trx('domains').insert(row).onConflict('domain').ignore();
    const saved = toDomain((await this.trx('domains').where('domain', state.domain).first()) as Row);
    if (saved.owner !== state.owner) throw domainTaken(state.domain);
    return saved;
  }

  async remove(domain: string): Promise<void> {
    await this.trx('domains').where('domain', domain).delete();
  }

  appendAudit(event: NewAuditEvent, at: Date): Promise<void> {
    return insertAudit(this.em, event, at);
  }

  appendLogEntry(entry: NewLogEntry, at: Date): Promise<number> {
    return sequenceLogEntries(this.trx, this.dialect, [entry], at);
  }
}

/** Rows no worker holds: never claimed, or claimed by one whose claim has lapsed. */
function unclaimed(query: Knex.QueryBuilder, now: Date): Knex.QueryBuilder {
  return query.where((q) => q.whereNull('claim_until').orWhere('claim_until', '<=', now));
}

function toDomain(row: Row): DomainRecord {
  return {
    id: Number(row['id']),
    domain: String(row['domain']),
    owner: String(row['owner']),
    status: String(row['status']) as DomainStatus,
    method: String(row['method']) as DomainMethod,
    token: String(row['token']),
    verifiedAt: date(row['verified_at']),
    lastCheckedAt: date(row['last_checked_at']),
    nextCheckAt: date(row['next_check_at']),
    flaggedAt: optionalDate(row['flagged_at']) ?? undefined,
    failure: String(row['failure']),
    evidence: json<DomainEvidence>(row['evidence']),
  };
}

function toChallenge(row: Row): ChallengeRecord {
  return {
    token: String(row['token']),
    domain: String(row['domain']),
    owner: String(row['owner']),
    createdAt: date(row['created_at']),
    expiresAt: date(row['expires_at']),
    usedAt: optionalDate(row['used_at']) ?? undefined,
  };
}
