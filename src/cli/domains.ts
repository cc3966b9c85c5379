import { CreateDomainChallengeResponseSchema, type Domain, DomainMethod, DomainService, DomainStatus, ListDomainsResponseSchema, RemoveDomainResponseSchema, VerifyDomainResponseSchema } from '../../gen/atr/v1/domain_pb.js';
import { type Invocation, integerOption, oneOfOption, soleArgument, stringOption } from './command.ts';
import { type Field, time } from './output.ts';

const STATUS_WORDS: Record<DomainStatus, string> = {
  [DomainStatus.UNSPECIFIED]: 'unknown',
  [DomainStatus.VERIFIED]: 'verified',
  [DomainStatus.FLAGGED]: 'flagged',
  [DomainStatus.SUSPENDED]: 'suspended',
};

const METHOD_BY_WORD = { dns: DomainMethod.DNS, http: DomainMethod.HTTP } as const;
const METHOD_WORDS = Object.keys(METHOD_BY_WORD) as (keyof typeof METHOD_BY_WORD)[];
const methodWord = (method: DomainMethod) => METHOD_WORDS.find((word) => METHOD_BY_WORD[word] === method) ?? '';

function domainFields(domain: Domain | undefined): Field[] {
  const evidence = domain?.evidence;
  const whois = evidence?.whois;
  return [
    ['domain', domain?.domain],
    ['owner', domain?.owner],
    ['status', domain && STATUS_WORDS[domain.status]],
    ['method', domain && methodWord(domain.method)],
    ['verified', time(domain?.verifiedAt)],
    ['last checked', time(domain?.lastCheckedAt)],
    ['next check', time(domain?.nextCheckAt)],
    ['flagged', time(domain?.flaggedAt)],
    ['failure', domain?.failure],
    ['resolvers', evidence?.resolvers.map((answer) => `${answer.resolver} ${answer.outcome}`).join(', ')],
    ['fetched', evidence?.httpUrl && `${evidence.httpUrl} from ${evidence.httpAddress}`],
    ['whois', whois && (whois.error ? `${whois.server}: ${whois.error}` : `${whois.server}: registrar ${whois.registrar || '?'}, created ${whois.created || '?'}`)],
  ];
}

export async function challenge(invocation: Invocation): Promise<number> {
  const { values, out } = invocation;
  const response = await invocation.client(DomainService).createDomainChallenge({ domain: soleArgument(invocation), owner: stringOption(values, 'owner') ?? '' });
  if (out.json) {
    out.message(CreateDomainChallengeResponseSchema, response);
    return 0;
  }
  const c = response.challenge;
  out.fields([
    ['domain', c?.domain],
    ['owner', c?.owner],
    ['expires', time(c?.expiresAt)],
  ]);
  out.line('\nAnswer it in one of two ways, then run `atr domains verify`:');
  out.line(`  DNS:  ${c?.dnsName} TXT "${c?.dnsValue}"`);
  out.line(`  HTTP: ${c?.httpUrl} answering ${c?.httpBody}`);
  out.line('Keep the answer in place: the domain is re-checked periodically with the same one.');
  return 0;
}

export async function verify(invocation: Invocation): Promise<number> {
  const { values, out } = invocation;
  const method = oneOfOption(values, 'method', METHOD_WORDS);
  const response = await invocation.client(DomainService).verifyDomain({
    domain: soleArgument(invocation),
    owner: stringOption(values, 'owner') ?? '',
    method: method === undefined ? DomainMethod.UNSPECIFIED : METHOD_BY_WORD[method],
  });
  if (out.json) {
    out.message(VerifyDomainResponseSchema, response);
    return 0;
  }
  out.fields([...domainFields(response.domain), ['log index', response.logIndex?.toString()]]);
  return 0;
}

export async function listDomains({ values, client, out }: Invocation): Promise<number> {
  const response = await client(DomainService).listDomains({
    owner: stringOption(values, 'owner') ?? '',
    pageSize: integerOption(values, 'limit') ?? 0,
    pageToken: stringOption(values, 'page-token') ?? '',
  });
  if (out.json) {
    out.message(ListDomainsResponseSchema, response);
    return 0;
  }
  if (response.domains.length === 0) {
    out.line('no domains');
    return 0;
  }
  out.table(
    ['DOMAIN', 'STATUS', 'OWNER', 'METHOD', 'NEXT CHECK'],
    response.domains.map((domain) => [domain.domain, STATUS_WORDS[domain.status], domain.owner, methodWord(domain.method), time(domain.nextCheckAt) ?? '']),
  );
  out.line(`\n${response.domains.length} of ${response.total}${response.nextPageToken ? `; next page: --page-token ${response.nextPageToken}` : ''}`);
  return 0;
}

export async function remove(invocation: Invocation): Promise<number> {
  const response = await invocation.client(DomainService).removeDomain({ domain: soleArgument(invocation) });
  if (invocation.out.json) {
    invocation.out.message(RemoveDomainResponseSchema, response);
    return 0;
  }
  invocation.out.fields([...domainFields(response.domain), ['log index', response.logIndex?.toString()]]);
  invocation.out.line('\nremoved');
  return 0;
}

