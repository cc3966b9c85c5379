import { DomainError } from '../errors.ts';

/** RFC 5280 5.3.1 CRLReason names and codes (7 is unused). */
const REASON_CODES = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  removeFromCRL: 8,
  privilegeWithdrawn: 9,
  aACompromise: 10,
} as const;

export type RevocationReason = keyof typeof REASON_CODES;

/** Holds are not revocations and removeFromCRL only exists in delta CRLs; the registry revokes for good. */
const NOT_FOR_REVOCATION: readonly RevocationReason[] = ['certificateHold', 'removeFromCRL'];

const ALL_REASONS = Object.keys(REASON_CODES) as RevocationReason[];
export const REVOCATION_REASONS: readonly RevocationReason[] = ALL_REASONS.filter(
  (reason) => !NOT_FOR_REVOCATION.includes(reason),
);

const fold = (raw: string) => raw.replace(/_/g, '').toLowerCase();
const BY_FOLDED_NAME = new Map(ALL_REASONS.map((reason) => [fold(reason), reason]));

/**
 * A revocation reason from user input: the RFC 5280 name (`keyCompromise`), or the same name in any case with
 * or without underscores (`key_compromise`, `KEY_COMPROMISE`). Empty means unspecified.
 */
export function parseRevocationReason(raw: string): RevocationReason {
  const trimmed = raw.trim();
  if (trimmed === '') return 'unspecified';
  const reason = BY_FOLDED_NAME.get(fold(trimmed));
  const allowed = `use one of ${REVOCATION_REASONS.join(', ')}`;
  if (reason === undefined) {
    const shown = JSON.stringify(raw.slice(0, 64));
    throw new DomainError('invalid_argument', `reason: ${shown} is not a revocation reason; ${allowed}`);
  }
  if (NOT_FOR_REVOCATION.includes(reason)) {
    const rule = 'cannot be used to revoke (revocation is permanent)';
    throw new DomainError('invalid_argument', `reason: ${reason} ${rule}; ${allowed}`);
  }
  return reason;
}

export function reasonCode(reason: RevocationReason): number {
  return REASON_CODES[reason];
}
