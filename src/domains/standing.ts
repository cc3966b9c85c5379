import type { AuditEventType } from '../registry/records.ts';
import type { CheckResult } from './checks.ts';
import type { DomainRecord, DomainState } from './store.ts';

/** How long a verification holds, and how long a failing domain is flagged before it is suspended. */
export interface RevalidationPolicy {
  readonly revalidationDays: number;
  readonly graceDays: number;
}

const DAY_MS = 86_400_000;
// A flagged or suspended domain is looked at again daily (and at the end of its grace period), so that it
// recovers soon after its owner puts the answer back.
export const RECHECK_MS = DAY_MS;

/** When a domain verified (or re-verified) at `from` is next checked. */
export function nextCheckAfter(from: Date, policy: RevalidationPolicy): Date {
  return new Date(from.getTime() + policy.revalidationDays * DAY_MS);
}

/**
 * A domain's next state after a re-check, and the event that records it: a pass makes it verified again; a first
 * failure flags it; a failure past the grace period suspends a flagged one; other failures only re-schedule it.
 */
export function standingAfter(
  record: DomainRecord,
  result: Exclude<CheckResult, { outcome: 'unavailable' }>,
  now: Date,
  policy: RevalidationPolicy,
): { state: DomainState; eventType: AuditEventType } {
  const base = { ...record, lastCheckedAt: now };
  if (result.outcome === 'passed') {
    const evidence = { ...result.evidence, whois: record.evidence.whois, checkedAt: now.toISOString() };
    const state = { ...base, status: 'verified' as const, nextCheckAt: nextCheckAfter(now, policy), flaggedAt: undefined, failure: '', evidence };
    return { state, eventType: 'domain.verified' };
  }
  const failure = result.reason;
  if (record.status === 'verified') {
    return { state: { ...base, status: 'flagged', flaggedAt: now, failure, nextCheckAt: flaggedRecheck(now, now, policy) }, eventType: 'domain.flagged' };
  }
  const flaggedAt = record.flaggedAt ?? now;
  if (record.status === 'flagged' && now.getTime() >= graceEnd(flaggedAt, policy).getTime()) {
    return { state: { ...base, status: 'suspended', failure, nextCheckAt: new Date(now.getTime() + RECHECK_MS) }, eventType: 'domain.suspended' };
  }
  const nextCheckAt = record.status === 'flagged' ? flaggedRecheck(flaggedAt, now, policy) : new Date(now.getTime() + RECHECK_MS);
  return { state: { ...base, failure, nextCheckAt }, eventType: 'domain.verification_failed' };
}

function graceEnd(flaggedAt: Date, policy: RevalidationPolicy): Date {
  return new Date(flaggedAt.getTime() + policy.graceDays * DAY_MS);
}

/** A flagged domain is re-checked daily, and at the end of its grace period at the latest. */
function flaggedRecheck(flaggedAt: Date, now: Date, policy: RevalidationPolicy): Date {
  return new Date(Math.min(now.getTime() + RECHECK_MS, Math.max(now.getTime(), graceEnd(flaggedAt, policy).getTime())));
}
