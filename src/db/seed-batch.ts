// The rows of seeded agents (atr bench seed), made where the CPU goes: certificates signed by the registry's CA and
// log leaves encoded and hashed, exactly as a registration (and, for some, a revocation) would write them. A batch
// is built in a worker thread and written by the main thread (src/db/seed.ts).
import type { CertificateAuthority } from '../pki/ca.ts';
import { issueAgentCertificate } from '../pki/issue.ts';
import type { RequestedKey } from '../pki/key-policy.ts';
import { newLogEntry } from '../tlog/entry.ts';
import type { NewLogEntry } from '../tlog/store.ts';

/** Who the seeded agents are: the same for every batch of one run. */
export interface SeedPlan {
  /** Agent n (from 0) is named after first + n, so an appended run names none twice. */
  readonly first: number;
  readonly owners: number;
  readonly capabilities: readonly string[];
  readonly revokedPercent: number;
  readonly revocationReason: string;
  readonly validityDays: number;
  readonly actor: string;
  /** The one key every seeded agent is certified for (nothing forbids agents sharing a key). */
  readonly key: RequestedKey;
}

export interface SeededAgent {
  readonly name: string;
  readonly owner: string;
  readonly capabilities: readonly string[];
  readonly serial: string;
  readonly fingerprint: string;
  readonly pem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly revoked: boolean;
}

/** A batch's agents, and its audit events and log leaves in the order they happened. */
export interface SeedBatch {
  readonly at: Date;
  readonly agents: SeededAgent[];
  readonly audit: { eventType: string; agentName: string; metadata: string }[];
  readonly leaves: NewLogEntry[];
}

/** Agents [from, from + count) of the plan, registered (and some revoked) at `at`. */
export async function buildSeedBatch(ca: CertificateAuthority, plan: SeedPlan, from: number, count: number, at: Date): Promise<SeedBatch> {
  const agents: SeededAgent[] = [];
  const registered: SeedBatch['audit'] = [];
  const revoked: SeedBatch['audit'] = [];
  const registeredLeaves: NewLogEntry[] = [];
  const revokedLeaves: NewLogEntry[] = [];
  const timestamp = at.toISOString();
  for (let n = from; n < from + count; n++) {
    const owner = `owner-${n % plan.owners}`;
    const name = `agent-${plan.first + n}.${owner}.seed.example`;
    const capabilities = capabilitiesOf(n, plan.capabilities);
    const certificate = await issueAgentCertificate(ca, { agentName: name, key: plan.key, validityDays: plan.validityDays, now: at });
    const { serial, fingerprint } = certificate;
    // Spread evenly through the names rather than in one block at the end.
    const isRevoked = (n * 37) % 100 < plan.revokedPercent;
    agents.push({ name, owner, capabilities, serial, fingerprint, pem: certificate.pem, notBefore: certificate.notBefore, notAfter: certificate.notAfter, revoked: isRevoked });
    // As Registry.recordRegistration and Registry.revoke write them.
    const metadata = { owner, capabilities, fingerprint, serial, key_source: 'generated', key_algorithm: plan.key.algorithm };
    registered.push({ eventType: 'agent.registered', agentName: name, metadata: JSON.stringify(metadata) });
    registeredLeaves.push(leaf('agent.registered', name, fingerprint, serial, 'active', '', timestamp, plan.actor));
    if (isRevoked) {
      revoked.push({ eventType: 'agent.revoked', agentName: name, metadata: JSON.stringify({ reason: plan.revocationReason, fingerprint }) });
      revokedLeaves.push(leaf('agent.revoked', name, fingerprint, serial, 'revoked', plan.revocationReason, timestamp, plan.actor));
    }
  }
  return { at, agents, audit: [...registered, ...revoked], leaves: [...registeredLeaves, ...revokedLeaves] };
}

/** One or two of the capabilities, so that each is held by about 2/m of the agents and pairs vary. */
function capabilitiesOf(n: number, all: readonly string[]): string[] {
  const first = all[n % all.length]!;
  const second = all[Math.floor(n / all.length) % all.length]!;
  return second === first ? [first] : [first, second];
}

function leaf(eventType: string, agentName: string, fingerprint: string, serial: string, status: string, reason: string, timestamp: string, actor: string) {
  return newLogEntry({
    event_type: eventType,
    agent_name: agentName,
    cert_fingerprint: fingerprint,
    cert_serial: serial,
    status,
    reason,
    timestamp,
    actor,
  });
}
