import type { Knex, SqlEntityManager } from '@mikro-orm/knex';
import type { ApiKeyRecord, ApiKeyStore, NewApiKey } from '../auth/api-key-store.ts';
import type { Role } from '../auth/principal.ts';
import { ApiKeySchema, AuditEventSchema } from './entities.ts';
import type { Database } from './orm.ts';
import type { Row } from './row-reader.ts';
import { writeTransaction } from './write-transaction.ts';

/** API keys on SQLite or PostgreSQL; every change commits with its audit event. */
export class SqlApiKeyStore implements ApiKeyStore {
  constructor(private readonly database: Database) {}

  async insert(key: NewApiKey, at: Date): Promise<ApiKeyRecord> {
    await this.change(async (em) => {
      await em.insert(ApiKeySchema, { ...key, owner: key.owner ?? null, createdAt: at, revokedAt: null });
      const metadata = { key_id: key.keyId, role: key.role, owner: key.owner ?? '', bootstrap: key.bootstrap };
      await em.insert(AuditEventSchema, { eventType: 'key.created', actor: key.createdBy, agentName: '', metadata, createdAt: at });
    });
    const { bootstrap: _bootstrap, ...record } = key;
    return { ...record, createdAt: at, revokedAt: undefined };
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

  async revoke(keyId: string, actor: string, at: Date): Promise<ApiKeyRecord | undefined> {
    return this.change(async (em) => {
      const knex = em.getTransactionContext<Knex.Transaction>() ?? em.getKnex();
      const row = (await knex('api_keys').where('key_id', keyId).first()) as Row | undefined;
      if (row === undefined) return undefined;
      const record = toRecord(row);
      if (record.revokedAt !== undefined) return record;
      await em.nativeUpdate(ApiKeySchema, { keyId }, { revokedAt: at });
      await em.insert(AuditEventSchema, { eventType: 'key.revoked', actor, agentName: '', metadata: { key_id: keyId, role: record.role }, createdAt: at });
      return { ...record, revokedAt: at };
    });
  }

  async hasAny(): Promise<boolean> {
    return (await this.knex('api_keys').first('id')) !== undefined;
  }

  private get knex(): Knex {
    return this.database.orm.em.getKnex();
  }

  private change<T>(work: (em: SqlEntityManager) => Promise<T>): Promise<T> {
    return writeTransaction(this.database, (em) => work(em));
  }
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
