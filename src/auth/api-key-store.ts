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
  /** The one key a registry makes for itself on its first start with keys on. */
  readonly bootstrap: boolean;
}

/** Where keys live; each change is written with its audit event in one transaction. */
export interface ApiKeyStore {
  /** Inserts the key; a second bootstrap key is refused by the database (throws). */
  insert(key: NewApiKey, at: Date): Promise<ApiKeyRecord>;
  find(keyId: string): Promise<ApiKeyRecord | undefined>;
  list(includeRevoked: boolean): Promise<ApiKeyRecord[]>;
  /** Marks the key revoked (once; revoking again changes nothing); undefined when there is no such key. */
  revoke(keyId: string, actor: string, at: Date): Promise<ApiKeyRecord | undefined>;
  /** Whether any key, revoked or not, was ever created. */
  hasAny(): Promise<boolean>;
}
