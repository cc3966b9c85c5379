import { challengeDnsName, challengeUrl, dnsValue, HTTP_CHALLENGE_PATH, keyAuthorization } from './challenge.ts';
import { httpGet } from './http-fetch.ts';
import type { Resolvers } from './resolvers.ts';
import type { DomainMethod, ResolverAnswer } from './store.ts';

/** The challenge a check looks for: the owner's token for the domain. */
export interface ChallengeAnswer {
  readonly domain: string;
  readonly owner: string;
  readonly token: string;
}

/** What a check saw when it passed. */
export interface CheckEvidence {
  readonly method: DomainMethod;
  readonly resolvers: readonly ResolverAnswer[];
  readonly httpUrl: string;
  readonly httpAddress: string;
}

/**
 * A check's verdict. `unavailable` means it could not be made at all (no resolver answered): it says nothing about
 * the domain, so nothing is recorded.
 */
export type CheckResult =
  | { readonly outcome: 'passed'; readonly evidence: CheckEvidence }
  | { readonly outcome: 'failed'; readonly reason: string }
  | { readonly outcome: 'unavailable'; readonly reason: string };

/** Looks for a published challenge answer; the domain logic depends on this, the network code implements it. */
export interface ChallengeChecker {
  check(method: DomainMethod, answer: ChallengeAnswer): Promise<CheckResult>;
}

export interface NetworkCheckerOptions {
  readonly resolvers: Resolvers;
  /** Port of the HTTP challenge (80; another only for tests). */
  readonly httpPort: number;
  readonly httpTimeoutMs?: number;
}

const MAX_BODY_BYTES = 4096;
const MAX_REDIRECTS = 3;

/** Checks answers through the configured resolvers (DNS TXT) and over plain HTTP to the domain's own addresses. */
export class NetworkChallengeChecker implements ChallengeChecker {
  constructor(private readonly options: NetworkCheckerOptions) {}

  check(method: DomainMethod, answer: ChallengeAnswer): Promise<CheckResult> {
    return method === 'dns' ? this.checkDns(answer) : this.checkHttp(answer);
  }

  private async checkDns({ domain, owner, token }: ChallengeAnswer): Promise<CheckResult> {
    const name = challengeDnsName(domain);
    const expected = dnsValue(token, owner);
    const replies = await this.options.resolvers.txt(name);
    const resolvers = replies.map((reply): ResolverAnswer => {
      if (!reply.answered) return { resolver: reply.resolver, outcome: `no_answer: ${reply.error}` };
      if (reply.records.includes(expected)) return { resolver: reply.resolver, outcome: 'match' };
      return { resolver: reply.resolver, outcome: reply.records.length === 0 ? 'no_record' : 'mismatch' };
    });
    const answered = resolvers.filter((answer) => !answer.outcome.startsWith('no_answer'));
    const seen = (answers: readonly ResolverAnswer[]) => answers.map((a) => `${a.resolver}: ${a.outcome}`).join(', ');
    if (answered.length === 0) return { outcome: 'unavailable', reason: `domain: no resolver answered for ${name} (${seen(resolvers)})` };
    const matching = answered.filter((answer) => answer.outcome === 'match');
    if (matching.length === answered.length) {
      return { outcome: 'passed', evidence: { method: 'dns', resolvers, httpUrl: '', httpAddress: '' } };
    }
    if (matching.length > 0) return { outcome: 'failed', reason: `domain: the resolvers disagree on ${name} TXT (${seen(answered)}); every resolver that answers must see the challenge` };
    const anyRecord = answered.some((answer) => answer.outcome === 'mismatch');
    const what = anyRecord ? 'does not hold the expected value' : 'has no record';
    return { outcome: 'failed', reason: `domain: ${name} TXT ${what} (${seen(answered)})` };
  }

  private async checkHttp({ domain, owner, token }: ChallengeAnswer): Promise<CheckResult> {
    const url = challengeUrl(domain, token);
    const replies = await this.options.resolvers.addresses(domain);
    const answered = replies.filter((reply) => reply.answered);
    if (answered.length === 0) return { outcome: 'unavailable', reason: `domain: no resolver answered for the addresses of ${domain}` };
    const address = answered.flatMap((reply) => (reply.answered ? reply.records : []))[0];
    if (address === undefined) return { outcome: 'failed', reason: `domain: ${domain} has no A or AAAA record to fetch ${url} from` };
    const fetched = await this.fetch(address, domain, `${HTTP_CHALLENGE_PATH}${token}`);
    if ('error' in fetched) return { outcome: 'failed', reason: `domain: ${url} (from ${address}): ${fetched.error}` };
    if (fetched.body.trim() !== keyAuthorization(token, owner)) {
      return { outcome: 'failed', reason: `domain: ${url} (from ${address}) does not answer the expected key authorization` };
    }
    const evidence = { method: 'http' as const, resolvers: [], httpUrl: url, httpAddress: address };
    return { outcome: 'passed', evidence };
  }

  /** The body at the path, following redirects only within the same host and port. */
  private async fetch(address: string, domain: string, firstPath: string): Promise<{ body: string } | { error: string }> {
    const limits = { timeoutMs: this.options.httpTimeoutMs ?? 10_000, maxBytes: MAX_BODY_BYTES };
    const port = this.options.httpPort;
    let path = firstPath;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const result = await httpGet(address, port, domain, path, limits);
      if (result.kind === 'error') return { error: result.error };
      if (result.status >= 300 && result.status < 400 && result.location !== undefined) {
        const next = new URL(result.location, `http://${domain}${port === 80 ? '' : `:${port}`}${path}`);
        if (next.protocol !== 'http:' || next.hostname !== domain || Number(next.port || 80) !== port) {
          return { error: `redirects to ${next.origin}; redirects to another host, scheme or port are not followed` };
        }
        path = `${next.pathname}${next.search}`;
        continue;
      }
      if (result.status !== 200) return { error: `answered HTTP ${result.status}` };
      return { body: result.body };
    }
    return { error: `more than ${MAX_REDIRECTS} redirects` };
  }
}
