import { DomainError } from '../errors.ts';
import type { RegistrationGate } from '../registry/registry.ts';
import { enclosingDomains } from './names.ts';
import type { DomainRecord, DomainStatus, DomainStore } from './store.ts';

/**
 * The registration rule of domain validation: a name belongs to the owner of the closest verified domain it lies
 * in (label by label, so a.notexample.com is not in example.com, and a domain verified inside another owner's is
 * that owner's to register under), and only while that domain is not suspended. Admins pass anyway; the audit
 * event of the registration says that they overrode the rule and why it would have refused.
 */
export class DomainRegistrationGate implements RegistrationGate {
  constructor(private readonly store: Pick<DomainStore, 'findAll'>) {}

  async admit(agentName: string, owner: string, override: boolean): Promise<Record<string, unknown>> {
    const domain = await closestDomain(this.store, agentName);
    const refusal = refusalOf(agentName, owner, domain);
    if (refusal === undefined) return { domain: domain?.domain };
    if (!override) throw new DomainError('permission_denied', refusal);
    return { domain_override: true, domain_rule: refusal };
  }
}

/** The verified domain closest to the name (the longest one it lies in), whoever's it is. */
export async function closestDomain(store: Pick<DomainStore, 'findAll'>, name: string): Promise<DomainRecord | undefined> {
  return closestIn(await store.findAll(enclosingDomains(name)), name);
}

function closestIn(found: readonly DomainRecord[], name: string): DomainRecord | undefined {
  return enclosingDomains(name)
    .map((candidate) => found.find((record) => record.domain === candidate))
    .find((record) => record !== undefined);
}

function refusalOf(agentName: string, owner: string, domain: DomainRecord | undefined): string | undefined {
  if (domain === undefined || domain.owner !== owner) return `agent_name: ${agentName} lies under no domain verified by owner ${owner}`;
  if (domain.status === 'suspended') {
    return `agent_name: ${agentName} lies under ${domain.domain}, which is suspended (re-validation failed: ${domain.failure}); verify it again`;
  }
  return undefined;
}

/**
 * The standing agents show (Agent.domain_status): that of the closest verified domain when it is the agent's
 * owner's; agents with none are left out of the answer. One query for a whole page of agents.
 */
export class DomainStatuses {
  constructor(private readonly store: Pick<DomainStore, 'findAll'>) {}

  async of(agents: readonly { readonly name: string; readonly owner: string }[]): Promise<Map<string, DomainStatus>> {
    const found = await this.store.findAll([...new Set(agents.flatMap((agent) => enclosingDomains(agent.name)))]);
    const statuses = new Map<string, DomainStatus>();
    for (const agent of agents) {
      const domain = closestIn(found, agent.name);
      if (domain !== undefined && domain.owner === agent.owner) statuses.set(agent.name, domain.status);
    }
    return statuses;
  }
}
