// Registrations and rotations accepted to finish in the background (ASYNC_PROCESSING_ENABLED). The request is
// checked and the key taken when it is accepted; a worker then runs the operation's steps: issue (sign the
// certificate, kept in the operation so a retry never signs twice) and record (the certificate, audit event and log
// leaf, in the transaction that marks the operation done, so a retry after a crash records nothing twice).
import { DomainError, quoted } from '../errors.ts';
import type { KeyAlgorithm } from '../pki/key-algorithm.ts';

export type OperationKind = 'register' | 'rotate';
export type OperationState = 'pending' | 'succeeded' | 'failed';
export type OperationStep = 'issue' | 'record' | 'done';

export interface NewOperation {
  readonly id: string;
  readonly kind: OperationKind;
  readonly agentName: string;
  /** The owner the agent is (or is to be) registered under: who may read the operation. */
  readonly owner: string;
  readonly actor: string;
  /** The key to certify: DER SubjectPublicKeyInfo. The private key, when the registry made it, is never kept. */
  readonly publicKey: Uint8Array;
  readonly keyAlgorithm: KeyAlgorithm;
  readonly keySource: 'csr' | 'generated';
  /** Rotations: the version the agent must still be at. */
  readonly expectedVersion: number | undefined;
  /** Rotations by an owner key: the owner the agent must still belong to. */
  readonly scopeOwner: string | undefined;
  /** What the registration gate admitted, recorded in the audit event. */
  readonly admission: Record<string, unknown>;
  readonly at: Date;
}

export interface OperationRecord extends NewOperation {
  readonly state: OperationState;
  readonly step: OperationStep;
  readonly attempts: number;
  readonly errorCode: string;
  readonly errorMessage: string;
  /** The certificate the issue step signed; null before it ran. */
  readonly certificatePem: string | null;
  readonly logIndex: number | null;
  readonly updatedAt: Date;
  readonly completedAt: Date | null;
}

/** How an operation ended. */
export type OperationOutcome =
  | { readonly state: 'succeeded'; readonly logIndex: number | undefined }
  | { readonly state: 'failed'; readonly errorCode: string; readonly errorMessage: string };

export const operationNotFound = (id: string) => new DomainError('operation_not_found', `no operation ${quoted(id)}`);
