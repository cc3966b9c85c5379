import type { JournalTx } from '../registry/journal.ts';
import type { Role } from './principal.ts';

export interface ApiKeyRecord {
  readonly keyId: string;
  readonly secretHash: string;
  readonly role: Role;
  readonly owner: string | undefined;
  readonly description: string;
  readonly createdBy: string;
  readonly createdAt: Date;
  readonly revokedAt: Date | undefined;
}

export interface NewApiKey extends Omit<ApiKeyRecord, 'createdAt' | 'revokedAt'> {
  /** The key a registry makes for itself when it starts with keys on and no active admin key; one active at most. */
  readonly bootstrap: boolean;
}

/** A write transaction on the keys, which the journal writes each change's audit event into. */
export interface ApiKeyTx extends JournalTx {
  /** Inserts the key; a second active bootstrap key is refused by the database (throws). */
  insert(key: NewApiKey, at: Date): Promise<ApiKeyRecord>;
  /** Whether an admin key that is not revoked exists, as this transaction sees it. */
  hasActiveAdmin(): Promise<boolean>;
  /** The key, locked for this transaction; undefined when there is no such key. */
  lock(keyId: string): Promise<ApiKeyRecord | undefined>;
  markRevoked(keyId: string, at: Date): Promise<void>;
}

/** Where keys live; each change runs in one transaction with its audit event. */
export interface ApiKeyStore {
  change<T>(work: (tx: ApiKeyTx) => Promise<T>): Promise<T>;
  find(keyId: string): Promise<ApiKeyRecord | undefined>;
  list(includeRevoked: boolean): Promise<ApiKeyRecord[]>;
  /** Whether an admin key that is not revoked exists. */
  hasActiveAdmin(): Promise<boolean>;
}
