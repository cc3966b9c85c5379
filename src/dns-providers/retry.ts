// One bounded retry loop for the API providers: a retryable refusal (throttling, 5xx, a lost connection) is tried
// again after an exponential, jittered pause, or after the pause the provider asked for; then the last refusal goes
// to the caller, whose own schedule (the DNS job's retries) takes over.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log/logger.ts';
import { DnsProviderError } from '../dns/rrset.ts';

export interface RetryPolicy {
  /** Tries in all, the first included. */
  readonly attempts: number;
  /** The pause before the second try; it doubles for each try after. */
  readonly baseDelayMs: number;
  /** The longest pause this loop takes: a provider asking for more ends the loop, with its wish in retryAfterMs. */
  readonly maxDelayMs: number;
}

export const defaultRetryPolicy: RetryPolicy = { attempts: 4, baseDelayMs: 500, maxDelayMs: 10_000 };

/**
 * Runs `attempt` until it succeeds or throws a refusal that is not retryable, for at most `policy.attempts` tries.
 * `attempt` throws DnsProviderError only; a fresh try redoes the whole change (re-reading what the provider holds),
 * so a try whose answer was lost is never applied twice.
 */
export async function withRetries(attempt: () => Promise<void>, policy: RetryPolicy, logger: Logger, provider: string): Promise<void> {
  for (let tried = 1; ; tried += 1) {
    try {
      await attempt();
      return;
    } catch (error) {
      if (!(error instanceof DnsProviderError) || !error.retryable || tried >= policy.attempts) throw error;
      const backoff = Math.min(policy.baseDelayMs * 2 ** (tried - 1), policy.maxDelayMs) * (0.75 + Math.random() * 0.25);
      const delayMs = error.retryAfterMs ?? backoff;
      if (delayMs > policy.maxDelayMs) throw error;
      logger.warn({ provider, attempt: tried, delayMs: Math.round(delayMs), reason: error.message }, 'DNS provider refused a change; retrying');
      await sleep(delayMs);
    }
  }
}
