import type { AgentRecord } from '../registry/records.ts';
import type { Publication } from './publication-store.ts';
import { zoneOf } from './zone.ts';

/**
 * Whether DNS shows this version of the agent: published, pending (not yet, or being retried after a failure
 * that will pass), `failed: <reason>` (the provider refused the last attempt), or not_in_zone.
 */
export function dnsStatusOf(agent: AgentRecord, publication: Publication | undefined, zones: readonly string[]): string {
  if (zoneOf(agent.name, zones) === undefined) return 'not_in_zone';
  if (publication === undefined || publication.agentVersion < agent.version) return 'pending';
  if (publication.status === 'failed') return `failed: ${publication.error ?? 'unknown error'}`;
  return publication.status;
}
