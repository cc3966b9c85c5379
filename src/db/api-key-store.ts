import type { Knex, SqlEntityManager } from '@mikro-orm/knex';
import type { ApiKeyRecord, ApiKeyStore, ApiKeyTx, NewApiKey } from '../auth/api-key-store.ts';
import type { Dialect } from '../config/database-url.ts';
import type { NewAuditEvent } from '../registry/records.ts';
import type { NewLogEntry } from '../tlog/store.ts';
import type { Role } from '../auth/principal.ts';
import { ApiKeySchema } from './entities.ts';
import type { Database } from './orm.ts';
import type { Row } from './row-reader.ts';
import { insertAudit } from './registry-store.ts';
import { sequenceLogEntries } from './tlog-store.ts';
import { writeTransaction } from './write-transaction.ts';

/** API keys on SQLite or PostgreSQL; every change is one write transaction, its audit event included. */
export class SqlApiKeyStore implements ApiKeyStore {
  constructor(private readonly database: Database) {}

  change<T>(work: (tx: ApiKeyTx) => Promise<T>): Promise<T> {
    return writeTransaction(this.database, (em, trx) => work(new SqlApiKeyTx(em, trx, this.database.dialect)));
  }

  async find(keyId: string): Promise<ApiKeyRecord | undefined> {
    const row = (await this.knex('api_keys').where('key_id', keyId).first()) as Row | undefined;
    return row && toRecord(row);
  }

  async list(includeRevoked: boolean): Promise<ApiKeyRecord[]> {
    const query = this.knex('api_keys').orderBy('id');
    if (!includeRevoked) query.whereNull('revoked_at');
    return ((await query) as Row[]).map(toRecord);
  }

  hasActiveAdmin(): Promise<boolean> {
    return activeAdminExists(this.knex);
  }

  private get knex(): Knex {
    return this.database.orm.em.getKnex();
  }
}

class SqlApiKeyTx implements ApiKeyTx {
  constructor(
    private readonly em: SqlEntityManager,
    private readonly trx: Knex,
    private readonly dialect: Dialect,
  ) {}

  async insert(key: NewApiKey, at: Date): Promise<ApiKeyRecord> {
    await this.em.insert(ApiKeySchema, { ...key, owner: key.owner ?? null, createdAt: at, revokedAt: null });
    const { bootstrap: _bootstrap, ...record } = key;
    return { ...record, createdAt: at, revokedAt: undefined };
  }

  hasActiveAdmin(): Promise<boolean> {
    return activeAdminExists(this.trx);
  }

  async lock(keyId: string): Promise<ApiKeyRecord | undefined> {
    const query = this.trx('api_keys').where('key_id', keyId).first();
    // SQLite has one writer at a time, so the open write transaction already excludes other writers.
    if (this.dialect === 'postgresql') query.forUpdate();
    const row = (await query) as Row | undefined;
    return row && toRecord(row);
  }

  async markRevoked(keyId: string, at: Date): Promise<void> {
    await this.em.nativeUpdate(ApiKeySchema, { keyId }, { revokedAt: at });
  }

  appendAudit(event: NewAuditEvent, at: Date): Promise<void> {
    return insertAudit(this.em, event, at);
  }

  appendLogEntry(entry: NewLogEntry, at: Date): Promise<number> {
    return sequenceLogEntries(this.trx, this.dialect, [entry], at);
  }
}

async function activeAdminExists(knex: Knex): Promise<boolean> {
  return (await knex('api_keys').where('role', 'admin').whereNull('revoked_at').first('id')) !== undefined;
}

function toRecord(row: Row): ApiKeyRecord {
  return {
    keyId: String(row['key_id']),
    secretHash: String(row['secret_hash']),
    role: String(row['role']) as Role,
    owner: row['owner'] === null || row['owner'] === undefined ? undefined : String(row['owner']),
    description: String(row['description']),
    createdBy: String(row['created_by']),
    createdAt: new Date(row['created_at'] as number | string | Date),
    revokedAt: row['revoked_at'] === null || row['revoked_at'] === undefined ? undefined : new Date(row['revoked_at'] as number | string | Date),
  };
}
