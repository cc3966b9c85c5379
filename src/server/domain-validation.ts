import type { Config } from '../config/schema.ts';
import { SqlDomainStore } from '../db/domain-store.ts';
import type { Database } from '../db/orm.ts';
import { NetworkChallengeChecker } from '../domains/checks.ts';
import { Domains } from '../domains/domains.ts';
import { DomainRegistrationGate, DomainStatuses } from '../domains/registration-gate.ts';
import { Resolvers } from '../domains/resolvers.ts';
import { DomainRevalidation } from '../domains/revalidation.ts';
import { TcpWhois } from '../domains/whois.ts';
import type { Logger } from '../log/logger.ts';
import type { AgentRecord } from '../registry/records.ts';
import type { RegistrationGate } from '../registry/registry.ts';
import type { AgentStanding, AgentStandingSource } from '../services/convert.ts';

/** Domain validation as the app runs it: DomainService always; the rule, the agents' status and re-checks when on. */
export interface DomainValidation {
  readonly domains: Domains;
  /** With DOMAIN_VALIDATION_ENABLED: who may register which names (the registry asks it); else undefined. */
  readonly gate: RegistrationGate | undefined;
  /** With DOMAIN_VALIDATION_ENABLED: Agent.domain_status of a page of agents, by name (agents under none left out). */
  readonly standing: ((agents: readonly AgentRecord[]) => Promise<ReadonlyMap<string, { readonly domainStatus: string }>>) | undefined;
  /** With DOMAIN_VALIDATION_ENABLED: the background re-validation (started here); else undefined. */
  readonly revalidation: DomainRevalidation | undefined;
}

// Each domain is due every DOMAIN_REVALIDATION_DAYS; looking for due ones hourly keeps a check at most an hour late.
const REVALIDATION_SCAN_MS = 3_600_000;

export function createDomainValidation(config: Config, database: Database, log: { notify(): void } | undefined, logger: Logger): DomainValidation {
  const store = new SqlDomainStore(database);
  const domains = new Domains({
    store,
    checker: new NetworkChallengeChecker({ resolvers: new Resolvers(config.dnsResolver), httpPort: config.domainHttpPort }),
    whois: config.whoisServer[0] === undefined ? undefined : new TcpWhois(config.whoisServer[0]),
    log,
    challengeTtlSeconds: config.domainChallengeTtlSeconds,
    revalidationDays: config.domainRevalidationDays,
    graceDays: config.domainGraceDays,
  });
  if (!config.domainValidationEnabled) return { domains, gate: undefined, standing: undefined, revalidation: undefined };
  const revalidation = new DomainRevalidation({ domains, intervalMs: REVALIDATION_SCAN_MS, logger: logger.child({ component: 'domains' }) });
  revalidation.start();
  const statuses = new DomainStatuses(store);
  const standing = async (agents: readonly AgentRecord[]) => {
    const found = await statuses.of(agents);
    return new Map([...found].map(([name, domainStatus]) => [name, { domainStatus }]));
  };
  return { domains, gate: new DomainRegistrationGate(store), standing, revalidation };
}

/** The agents' standing from `source` (DNS) with their domain_status added, when domain validation is on. */
export function withDomainStanding(source: AgentStandingSource | undefined, validation: DomainValidation): AgentStandingSource | undefined {
  const domains = validation.standing;
  if (domains === undefined) return source;
  return async (agents) => {
    const [first, second] = await Promise.all([source?.(agents), domains(agents)]);
    const merged = new Map<string, AgentStanding>(first);
    for (const [name, standing] of second) merged.set(name, { ...merged.get(name), ...standing });
    return merged;
  };
}
