import type { Knex } from '@mikro-orm/knex';
import type { Dialect } from '../config/database-url.ts';
import type { KeyAlgorithm } from '../pki/key-algorithm.ts';
import type { NewOperation, OperationKind, OperationOutcome, OperationRecord, OperationState, OperationStep } from '../registry/operations.ts';
import { date, json, optionalDate, type Row } from './row-reader.ts';

// The operations table, for the registry's transactions (SqlRegistryTx) and its single statements (SqlRegistryStore).

export async function insertOperation(knex: Knex, operation: NewOperation): Promise<void> {
  await knex('operations').insert({
    id: operation.id,
    kind: operation.kind,
    agent_name: operation.agentName,
    owner: operation.owner,
    actor: operation.actor,
    state: 'pending',
    step: 'issue',
    attempts: 0,
    public_key: operation.publicKey,
    key_algorithm: operation.keyAlgorithm,
    key_source: operation.keySource,
    expected_version: operation.expectedVersion ?? null,
    scope_owner: operation.scopeOwner ?? null,
    admission: JSON.stringify(operation.admission),
    certificate_pem: null,
    log_index: null,
    error_code: '',
    error_message: '',
    created_at: operation.at,
    updated_at: operation.at,
    completed_at: null,
  });
}

export async function findOperation(knex: Knex, id: string, lock?: Dialect): Promise<OperationRecord | undefined> {
  const query = knex('operations').where('id', id).first();
  // On SQLite the open write transaction already excludes other writers.
  if (lock === 'postgresql') query.forUpdate();
  const row = (await query) as Row | undefined;
  return row === undefined ? undefined : toOperation(row);
}

/** Counts a worker's attempt at a pending operation. */
export async function countAttempt(knex: Knex, id: string, at: Date): Promise<void> {
  await knex('operations').where({ id, state: 'pending' }).update({ attempts: knex.raw('attempts + 1'), updated_at: at });
}

/**
 * Keeps the certificate the issue step signed, unless an earlier attempt kept one already (two workers raced, or a
 * worker died after keeping it): returns the one kept, which every later attempt records.
 */
export async function keepIssuedCertificate(knex: Knex, id: string, pem: string, at: Date): Promise<string | undefined> {
  await knex('operations').where({ id, state: 'pending' }).whereNull('certificate_pem').update({ certificate_pem: pem, step: 'record', updated_at: at });
  const kept = (await knex('operations').where('id', id).first('certificate_pem')) as Row | undefined;
  return kept?.['certificate_pem'] == null ? undefined : String(kept['certificate_pem']);
}

export async function finishOperation(knex: Knex, id: string, outcome: OperationOutcome, at: Date): Promise<void> {
  await knex('operations')
    .where({ id, state: 'pending' })
    .update({
      state: outcome.state,
      step: outcome.state === 'succeeded' ? 'done' : knex.raw('step'),
      log_index: outcome.state === 'succeeded' ? (outcome.logIndex ?? null) : null,
      error_code: outcome.state === 'failed' ? outcome.errorCode : '',
      error_message: outcome.state === 'failed' ? outcome.errorMessage : '',
      updated_at: at,
      completed_at: at,
    });
}

/** Removes operations that ended before `before`; returns how many. */
export async function pruneOperations(knex: Knex, before: Date): Promise<number> {
  return knex('operations').whereNot('state', 'pending').where('completed_at', '<', before).delete();
}

/** Pending operations accepted before `before`, oldest first: those whose job may have been lost. */
export async function listPendingOperations(knex: Knex, before: Date, limit: number): Promise<string[]> {
  const rows = (await knex('operations').where('state', 'pending').where('created_at', '<', before).orderBy('created_at').limit(limit).select('id')) as Row[];
  return rows.map((row) => String(row['id']));
}

function toOperation(row: Row): OperationRecord {
  const expectedVersion = row['expected_version'];
  const logIndex = row['log_index'];
  return {
    id: String(row['id']),
    kind: String(row['kind']) as OperationKind,
    agentName: String(row['agent_name']),
    owner: String(row['owner']),
    actor: String(row['actor']),
    state: String(row['state']) as OperationState,
    step: String(row['step']) as OperationStep,
    attempts: Number(row['attempts']),
    publicKey: Buffer.from(row['public_key'] as Uint8Array),
    keyAlgorithm: String(row['key_algorithm']) as KeyAlgorithm,
    keySource: row['key_source'] === 'csr' ? 'csr' : 'generated',
    expectedVersion: expectedVersion == null ? undefined : Number(expectedVersion),
    scopeOwner: row['scope_owner'] == null ? undefined : String(row['scope_owner']),
    admission: json<Record<string, unknown>>(row['admission']),
    certificatePem: row['certificate_pem'] == null ? null : String(row['certificate_pem']),
    logIndex: logIndex == null ? null : Number(logIndex),
    errorCode: String(row['error_code']),
    errorMessage: String(row['error_message']),
    at: date(row['created_at']),
    updatedAt: date(row['updated_at']),
    completedAt: optionalDate(row['completed_at']),
  };
}
