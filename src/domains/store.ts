import type { JournalTx } from '../registry/journal.ts';

export type DomainStatus = 'verified' | 'flagged' | 'suspended';
export type DomainMethod = 'dns' | 'http';

/** What one resolver said about a challenge's TXT record. */
export interface ResolverAnswer {
  readonly resolver: string;
  readonly outcome: string;
}

/** Supplementary evidence: what the WHOIS server says of the domain. It never decides anything. */
export interface WhoisSummary {
  readonly server: string;
  readonly registrar: string;
  readonly created: string;
  readonly error: string;
}

/** What the last successful check of a domain saw; stored with it as JSON. */
export interface DomainEvidence {
  readonly method: DomainMethod;
  readonly resolvers: readonly ResolverAnswer[];
  readonly httpUrl: string;
  readonly httpAddress: string;
  readonly whois: WhoisSummary | undefined;
  readonly checkedAt: string;
}

/** A domain one owner has verified, and where its re-validation stands. */
export interface DomainRecord {
  readonly id: number;
  readonly domain: string;
  readonly owner: string;
  readonly status: DomainStatus;
  readonly method: DomainMethod;
  /** The token of the challenge that verified it: re-validation looks for the same answer. */
  readonly token: string;
  readonly verifiedAt: Date;
  readonly lastCheckedAt: Date;
  readonly nextCheckAt: Date;
  readonly flaggedAt: Date | undefined;
  readonly failure: string;
  readonly evidence: DomainEvidence;
}

export type DomainState = Omit<DomainRecord, 'id'>;

export interface ChallengeRecord {
  readonly token: string;
  readonly domain: string;
  readonly owner: string;
  readonly createdAt: Date;
  readonly expiresAt: Date;
  /** When it answered a verification; a challenge answers once. */
  readonly usedAt: Date | undefined;
}

/** Writes that commit together, the journal's audit events and log leaves included. */
export interface DomainTx extends JournalTx {
  /** The domain's row, locked against other writers until the transaction ends. */
  lock(domain: string): Promise<DomainRecord | undefined>;
  insertChallenge(challenge: ChallengeRecord): Promise<void>;
  /** Marks the challenge used; false when it already was (another verification got there first). */
  useChallenge(token: string, at: Date): Promise<boolean>;
  /**
   * Inserts or replaces the owner's row for the domain (releasing any re-validation claim on it); throws
   * domain_taken when the domain is another owner's, even one that committed a moment ago.
   */
  save(state: DomainState): Promise<DomainRecord>;
  remove(domain: string): Promise<void>;
}

/** Where verified domains and challenges live: one implementation per database family, one test suite for both. */
export interface DomainStore {
  change<T>(work: (tx: DomainTx) => Promise<T>): Promise<T>;
  find(domain: string): Promise<DomainRecord | undefined>;
  /** The rows of those of the domains that are stored. */
  findAll(domains: readonly string[]): Promise<DomainRecord[]>;
  list(filter: { readonly owner?: string | undefined }, page: { readonly limit: number; readonly afterId?: number | undefined }): Promise<{ domains: DomainRecord[]; total: number }>;
  /** The owner's most recent challenge for the domain. */
  latestChallenge(domain: string, owner: string): Promise<ChallengeRecord | undefined>;
  /** Domains whose next check is due, unclaimed or with an expired claim, oldest first. */
  due(now: Date, limit: number): Promise<string[]>;
  /**
   * Claims a due domain for one worker until `until`, so that no other process re-checks it meanwhile; undefined
   * when it is no longer due or another worker holds it.
   */
  claim(domain: string, worker: string, now: Date, until: Date): Promise<DomainRecord | undefined>;
  /** Puts off a claimed domain's next check without a verdict (the check could not be made). */
  postpone(domain: string, worker: string, next: Date): Promise<void>;
}
