import { DomainError, invalidArgument } from '../errors.ts';
import { checkOwner } from '../registry/fields.ts';
import { Journal, type JournalEvent } from '../registry/journal.ts';
import type { AuditEventType } from '../registry/records.ts';
import type { OwnerScope } from '../registry/registry.ts';
import { challengeDnsName, challengeUrl, dnsValue, keyAuthorization, newToken } from './challenge.ts';
import type { ChallengeAnswer, ChallengeChecker, CheckResult } from './checks.ts';
import { challengeFailed, domainNotFound, domainTaken } from './errors.ts';
import { canonicalDomain } from './names.ts';
import { RECHECK_MS, nextCheckAfter, standingAfter } from './standing.ts';
import type { ChallengeRecord, DomainMethod, DomainRecord, DomainState, DomainStore, DomainTx, WhoisSummary } from './store.ts';
import type { WhoisLookup } from './whois.ts';

export interface DomainsOptions {
  readonly store: DomainStore;
  readonly checker: ChallengeChecker;
  /** Supplementary evidence recorded with each verification; undefined without WHOIS_SERVER. */
  readonly whois?: WhoisLookup | undefined;
  /** The transparency log: verifications and status changes are leaves when it is on. */
  readonly log?: { notify(): void } | undefined;
  readonly challengeTtlSeconds: number;
  readonly revalidationDays: number;
  readonly graceDays: number;
  readonly now?: () => Date;
}

/** Who asks: the actor for the audit trail, and the owner an owner key confines it to (undefined for admins). */
export interface Caller {
  readonly actor: string;
  readonly scope: OwnerScope;
}

/** A challenge as its owner answers it. */
export interface IssuedChallenge extends ChallengeRecord {
  readonly dnsName: string;
  readonly dnsValue: string;
  readonly httpUrl: string;
  readonly httpBody: string;
}

export interface RecordedDomain {
  readonly domain: DomainRecord;
  readonly logIndex: number | undefined;
}

// Long enough for one check (resolvers, HTTP, WHOIS: seconds); a crashed worker's claim lapses after it.
const CLAIM_MS = 5 * 60_000;

/**
 * Domain validation: challenges, verification (DNS TXT or HTTP, ACME style), claims, removal and re-validation.
 * Every verification is audited; successes and status changes are also transparency-log leaves.
 */
export class Domains {
  private readonly store: DomainStore;
  private readonly journal: Journal;
  // Challenges and failed checks go to the audit trail only: they change no one's standing.
  private readonly auditJournal = new Journal(undefined);
  private readonly now: () => Date;

  constructor(private readonly options: DomainsOptions) {
    this.store = options.store;
    this.journal = new Journal(options.log);
    this.now = options.now ?? (() => new Date());
  }

  async createChallenge(input: { domain: string; owner: string }, caller: Caller): Promise<IssuedChallenge> {
    const domain = canonicalDomain(input.domain);
    const owner = ownerFor(input.owner, caller.scope);
    await this.refuseOtherOwners(domain, owner);
    const now = this.now();
    const challenge: ChallengeRecord = {
      token: newToken(),
      domain,
      owner,
      createdAt: now,
      expiresAt: new Date(now.getTime() + this.options.challengeTtlSeconds * 1000),
      usedAt: undefined,
    };
    await this.store.change(async (tx) => {
      await tx.insertChallenge(challenge);
      const auditMetadata = { domain, owner, expires_at: challenge.expiresAt.toISOString() };
      await this.auditJournal.write(tx, { eventType: 'domain.challenge_created', actor: caller.actor, agentName: domain, auditMetadata }, now);
    });
    return issued(challenge);
  }

  /**
   * Checks the owner's open challenge (DNS, HTTP, or DNS then HTTP) and makes the domain the owner's. Refusals are
   * audited and write nothing else; when no resolver answers, nothing at all is written.
   */
  async verify(input: { domain: string; owner: string; method?: DomainMethod | undefined }, caller: Caller): Promise<RecordedDomain> {
    const domain = canonicalDomain(input.domain);
    const owner = ownerFor(input.owner, caller.scope);
    const refuse = (error: DomainError, method: DomainMethod | undefined = input.method) =>
      this.refuseVerification({ domain, owner, method, actor: caller.actor }, error);
    const claimed = await this.store.find(domain);
    if (claimed !== undefined && claimed.owner !== owner) return refuse(domainTaken(domain));
    const challenge = await this.store.latestChallenge(domain, owner);
    const now = this.now();
    if (challenge === undefined) return refuse(challengeFailed(`domain: owner ${owner} has no challenge for ${domain}; create one first`));
    if (challenge.usedAt !== undefined) {
      return refuse(challengeFailed(`domain: the latest challenge for ${domain} already answered a verification (a token answers once); create a new one`));
    }
    if (challenge.expiresAt.getTime() <= now.getTime()) {
      return refuse(challengeFailed(`domain: the challenge for ${domain} expired at ${challenge.expiresAt.toISOString()}; create a new one`));
    }
    const answer = { domain, owner, token: challenge.token };
    const [result, whois] = await Promise.all([this.check(input.method, answer), this.options.whois?.lookup(domain)]);
    if (result.outcome === 'unavailable') throw new DomainError('verification_unavailable', result.reason);
    if (result.outcome === 'failed') return refuse(challengeFailed(result.reason));
    const at = this.now();
    const state: DomainState = {
      domain,
      owner,
      status: 'verified',
      method: result.evidence.method,
      token: challenge.token,
      verifiedAt: at,
      lastCheckedAt: at,
      nextCheckAt: nextCheckAfter(at, this.options),
      flaggedAt: undefined,
      failure: '',
      evidence: { ...result.evidence, whois, checkedAt: at.toISOString() },
    };
    try {
      return await this.change(async (tx) => {
        const current = await tx.lock(domain);
        if (current !== undefined && current.owner !== owner) throw domainTaken(domain);
        if (!(await tx.useChallenge(challenge.token, at))) throw challengeFailed(`domain: the challenge for ${domain} already answered a verification (a token answers once)`);
        const saved = await tx.save(state);
        const metadata = { method: saved.method, previous_status: current?.status ?? '', ...whoisMetadata(whois) };
        return { domain: saved, logIndex: await this.writeEvent(tx, 'domain.verified', caller.actor, saved, metadata, at) };
      });
    } catch (error) {
      // Lost a race with another verification: audited like any refusal.
      if (error instanceof DomainError) return refuse(error, result.evidence.method);
      throw error;
    }
  }

  list(filter: { owner?: string | undefined }, page: { limit: number; afterId?: number | undefined }) {
    if (filter.owner !== undefined) checkOwner(filter.owner);
    return this.store.list(filter, page);
  }

  /** Gives the domain up: agents under it stay, new registrations under it need a new verification. */
  async remove(domain: string, caller: Caller): Promise<RecordedDomain> {
    const name = canonicalDomain(domain);
    const now = this.now();
    return this.change(async (tx) => {
      const record = await tx.lock(name);
      if (record === undefined) throw domainNotFound(name);
      if (caller.scope !== undefined && record.owner !== caller.scope.owner) {
        throw new DomainError('permission_denied', `domain ${name} belongs to another owner; this key manages only ${JSON.stringify(caller.scope.owner)}'s domains`);
      }
      await tx.remove(name);
      return { domain: record, logIndex: await this.writeEvent(tx, 'domain.removed', caller.actor, record, {}, now, 'removed') };
    });
  }

  /**
   * Re-checks every domain whose check is due, one at a time, each claimed in the database first so that no two
   * processes check one domain at once. Returns how many were checked.
   */
  async revalidateDue(worker: string, limit = 100): Promise<number> {
    let checked = 0;
    for (const name of await this.store.due(this.now(), limit)) {
      const now = this.now();
      const record = await this.store.claim(name, worker, now, new Date(now.getTime() + CLAIM_MS));
      if (record === undefined) continue;
      await this.recheck(record, worker);
      checked += 1;
    }
    return checked;
  }

  private async recheck(record: DomainRecord, worker: string): Promise<void> {
    const result = await this.options.checker.check(record.method, { domain: record.domain, owner: record.owner, token: record.token });
    const now = this.now();
    if (result.outcome === 'unavailable') {
      // An outage of the resolvers says nothing about the domain: try again later, record nothing.
      await this.store.postpone(record.domain, worker, new Date(now.getTime() + RECHECK_MS / 24));
      return;
    }
    const { state, eventType } = standingAfter(record, result, now, this.options);
    await this.change(async (tx) => {
      const current = await tx.lock(record.domain);
      // Removed or verified anew while it was being checked: that newer state stands.
      if (current === undefined || current.owner !== record.owner || current.token !== record.token) return;
      const saved = await tx.save(state);
      const metadata = { method: record.method, previous_status: record.status, revalidation: true, ...(saved.failure && { reason: saved.failure }) };
      if (eventType === 'domain.verification_failed') {
        const event = { eventType, actor: 'system:revalidation', agentName: saved.domain, auditMetadata: { owner: saved.owner, ...metadata } };
        await this.auditJournal.write(tx, event, now);
      } else {
        await this.writeEvent(tx, eventType, 'system:revalidation', saved, metadata, now);
      }
    });
  }

  private check(method: DomainMethod | undefined, answer: ChallengeAnswer): Promise<CheckResult> {
    if (method !== undefined) return this.options.checker.check(method, answer);
    return this.checkEither(answer);
  }

  /** DNS first, then HTTP: passes when either does; unavailable only when neither could be made. */
  private async checkEither(answer: ChallengeAnswer): Promise<CheckResult> {
    const dns = await this.options.checker.check('dns', answer);
    if (dns.outcome === 'passed') return dns;
    const http = await this.options.checker.check('http', answer);
    if (http.outcome === 'passed') return http;
    if (dns.outcome === 'unavailable' && http.outcome === 'unavailable') return dns;
    return { outcome: 'failed', reason: `${dns.reason}; and over HTTP, ${http.reason.replace(/^domain: /, '')}` };
  }

  private async refuseOtherOwners(domain: string, owner: string): Promise<void> {
    const claimed = await this.store.find(domain);
    if (claimed !== undefined && claimed.owner !== owner) throw domainTaken(domain);
  }

  /** Audits a refused verification (nothing else is written) and throws it. */
  private async refuseVerification(
    attempt: { domain: string; owner: string; method: DomainMethod | undefined; actor: string },
    error: DomainError,
  ): Promise<never> {
    const { domain, owner, method, actor } = attempt;
    const auditMetadata = { owner, method: method ?? 'any', reason: error.message };
    await this.store.change((tx) => this.auditJournal.write(tx, { eventType: 'domain.verification_failed', actor, agentName: domain, auditMetadata }, this.now()));
    throw error;
  }

  /** Audit event and log leaf of a domain's change, in the change's transaction. */
  private writeEvent(
    tx: DomainTx,
    eventType: AuditEventType,
    actor: string,
    record: DomainState,
    metadata: Record<string, unknown>,
    now: Date,
    status: string = record.status,
  ): Promise<number | undefined> {
    const event: JournalEvent = {
      eventType,
      actor,
      agentName: record.domain,
      auditMetadata: { owner: record.owner, status, ...metadata },
      // The leaf names the domain where agent events name the agent, and its owner in the reason.
      leaf: { fingerprint: '', serial: '', status, reason: leafReason(record, status) },
    };
    return this.journal.write(tx, event, now);
  }

  private async change<T>(work: (tx: DomainTx) => Promise<T>): Promise<T> {
    const result = await this.store.change(work);
    this.journal.committed();
    return result;
  }
}

/** The owner a domain request acts for: an owner key's own; an admin names one. */
function ownerFor(requested: string, scope: OwnerScope): string {
  if (scope === undefined) {
    if (requested === '') throw invalidArgument('owner', 'is required: name the owner the domain is verified for');
    return checkOwner(requested);
  }
  if (requested === '' || requested === scope.owner) return scope.owner;
  throw new DomainError('permission_denied', `owner: this key manages domains only for owner ${JSON.stringify(scope.owner)}`);
}

function issued(challenge: ChallengeRecord): IssuedChallenge {
  const { domain, owner, token } = challenge;
  return {
    ...challenge,
    dnsName: challengeDnsName(domain),
    dnsValue: dnsValue(token, owner),
    httpUrl: challengeUrl(domain, token),
    httpBody: keyAuthorization(token, owner),
  };
}

function leafReason(record: DomainState, status: string): string {
  const why = status === 'verified' ? `method=${record.method}` : status === 'removed' ? 'removed' : record.failure;
  return `owner=${record.owner}; ${why}`;
}

function whoisMetadata(whois: WhoisSummary | undefined): Record<string, string> {
  if (whois === undefined) return {};
  return { whois_registrar: whois.registrar, whois_created: whois.created, ...(whois.error && { whois_error: whois.error }) };
}

