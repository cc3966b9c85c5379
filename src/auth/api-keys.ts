import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { DomainError, invalidArgument } from '../errors.ts';
import { checkOwner } from '../registry/fields.ts';
import type { ApiKeyRecord, ApiKeyStore, ApiKeyTx, NewApiKey } from './api-key-store.ts';
import { Journal } from '../registry/journal.ts';
import { ROLES, type Role } from './principal.ts';


/** A key as the caller gets it, once: `atr_<key id>_<secret>`. */
export interface CreatedKey {
  readonly key: string;
  readonly record: ApiKeyRecord;
}

export interface NewKeyInput {
  readonly role: Role;
  readonly owner?: string | undefined;
  readonly description?: string | undefined;
}

// 8 bytes of key id (public: it names the key in lists and the audit trail) and 32 bytes of secret, both hex so
// the key splits on its underscores unambiguously and survives any shell or header.
const KEY_FORMAT = /^atr_([0-9a-f]{16})_([0-9a-f]{64})$/;
const KEY_ID_FORMAT = /^[0-9a-f]{16}$/;
const MAX_DESCRIPTION = 255;

// The secret is 256 random bits, so a plain SHA-256 is as strong as a slow password hash would be, and costs a
// microsecond per request instead of tens of milliseconds.
const hashOf = (secret: string) => createHash('sha256').update(secret, 'utf8').digest('hex');

/** Key management and authentication. Keys are stored as hashes; a key is shown once, when it is created. */
export class ApiKeys {
  // Key events go to the audit trail only, not the transparency log.
  private readonly journal = new Journal(undefined);

  constructor(
    private readonly store: ApiKeyStore,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async create(input: NewKeyInput, actor: string): Promise<CreatedKey> {
    const made = newKey(input, actor, false);
    return this.store.change((tx) => this.record(tx, made));
  }

  /**
   * A new admin key for the operator when no active admin key exists: on the first start with keys on, and again
   * after every admin key was revoked (a bootstrap key whose file could not be written included). Undefined when an
   * active admin key exists, or another process starting on the same database made the new one first.
   */
  async bootstrap(): Promise<CreatedKey | undefined> {
    const made = newKey({ role: 'admin', description: 'bootstrap admin key' }, 'bootstrap', true);
    try {
      // On SQLite the write transaction holds the write lock from its start, so the check and the insert are one step.
      return await this.store.change(async (tx) => ((await tx.hasActiveAdmin()) ? undefined : this.record(tx, made)));
    } catch (error) {
      // On PostgreSQL two transactions may both have found none; the one-active-bootstrap-key index refuses the second.
      if (await this.store.hasActiveAdmin()) return undefined;
      throw error;
    }
  }

  list(includeRevoked: boolean): Promise<ApiKeyRecord[]> {
    return this.store.list(includeRevoked);
  }

  async revoke(keyId: string, actor: string): Promise<ApiKeyRecord> {
    if (!KEY_ID_FORMAT.test(keyId)) throw invalidArgument('key_id', 'must be 16 lowercase hex digits');
    const now = this.now();
    const revoked = await this.store.change(async (tx) => {
      const record = await tx.lock(keyId);
      // Revoking again changes nothing and records nothing.
      if (record === undefined || record.revokedAt !== undefined) return record;
      await tx.markRevoked(keyId, now);
      await this.journal.write(tx, { eventType: 'key.revoked', actor, agentName: '', auditMetadata: { key_id: keyId, role: record.role } }, now);
      return { ...record, revokedAt: now };
    });
    if (revoked === undefined) throw new DomainError('key_not_found', `API key ${keyId} not found`);
    return revoked;
  }

  /** The active key a presented `atr_<id>_<secret>` names; Unauthenticated for anything else, with no detail of why. */
  async authenticate(presented: string): Promise<ApiKeyRecord> {
    const match = KEY_FORMAT.exec(presented);
    const record = match?.[1] === undefined ? undefined : await this.store.find(match[1]);
    const expected = Buffer.from(record?.secretHash ?? '0'.repeat(64), 'hex');
    const actual = Buffer.from(hashOf(match?.[2] ?? ''), 'hex');
    if (record === undefined || !timingSafeEqual(expected, actual) || record.revokedAt !== undefined) {
      throw new DomainError('unauthenticated', 'the API key is not valid');
    }
    return record;
  }

  /** Inserts the key with its audit event. */
  private async record(tx: ApiKeyTx, { key, secret }: MadeKey): Promise<CreatedKey> {
    const now = this.now();
    const record = await tx.insert(key, now);
    const auditMetadata = { key_id: key.keyId, role: key.role, owner: key.owner ?? '', bootstrap: key.bootstrap };
    await this.journal.write(tx, { eventType: 'key.created', actor: key.createdBy, agentName: '', auditMetadata }, now);
    return { key: `atr_${key.keyId}_${secret}`, record };
  }
}

interface MadeKey {
  readonly key: NewApiKey;
  readonly secret: string;
}

/** A new key's id and secret for a checked request; only the secret's hash is ever stored. */
function newKey(input: NewKeyInput, actor: string, bootstrap: boolean): MadeKey {
  const { role } = input;
  if (!ROLES.includes(role)) throw invalidArgument('role', `must be one of ${ROLES.join(', ')}`);
  const owner = input.owner ?? '';
  if (role === 'owner' && owner === '') throw invalidArgument('owner', 'is required for an owner key');
  if (role !== 'owner' && owner !== '') throw invalidArgument('owner', `is only for owner keys, not ${role} keys`);
  const description = input.description ?? '';
  if (description.length > MAX_DESCRIPTION || /\p{Cc}/u.test(description)) {
    throw invalidArgument('description', `must be at most ${MAX_DESCRIPTION} characters without control characters`);
  }
  const keyId = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('hex');
  const key = { keyId, secretHash: hashOf(secret), role, owner: role === 'owner' ? checkOwner(owner) : undefined, description, createdBy: actor, bootstrap };
  return { key, secret };
}
