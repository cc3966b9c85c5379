/** What was verified: a certificate (VerifyCertificate) or a signed token (VerifyToken). */
export type VerificationKind = 'certificate' | 'token';

export interface VerificationTotal {
  readonly kind: VerificationKind;
  /** 'verified' or the reason the verification failed. */
  readonly result: string;
  readonly count: number;
}

/**
 * Verifications since start, by kind and result. The audit trail may keep only some of them (AUDIT_VERIFICATIONS),
 * so these are the totals; /metrics reads them at scrape time. Results come from closed reason enums, so the
 * number of entries stays small.
 */
export class VerificationCounts {
  private readonly counts = new Map<string, { kind: VerificationKind; result: string; count: number }>();

  /** The callback a verifier of this kind calls once per verification, with its result. */
  counter(kind: VerificationKind): (result: string) => void {
    return (result) => {
      const key = `${kind}\u0000${result}`;
      const entry = this.counts.get(key);
      if (entry) entry.count += 1;
      else this.counts.set(key, { kind, result, count: 1 });
    };
  }

  totals(): VerificationTotal[] {
    return [...this.counts.values()].map((entry) => ({ ...entry }));
  }
}
