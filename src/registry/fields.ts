import { invalidArgument, quoted } from '../errors.ts';
import { REGISTERED_NAME, codePoint, validateAgentName } from './names.ts';
import type { AgentFilter, AuditFilter } from './store.ts';
import type { AuditEventType } from './records.ts';

// The rules for the agent fields other than the name, and for the list filters on them: a filter obeys the rule of
// the field it filters, so a value no agent could hold is refused rather than silently matching nothing. Each
// check throws InvalidArgument naming the field and the rule.

export const MAX_CAPABILITIES = 64;
export const MAX_CAPABILITY_LENGTH = 64;
export const MAX_OWNER_LENGTH = 255;
export const MAX_DESCRIPTION_LENGTH = 1024;
export const MAX_ENDPOINTS = 16;
export const MAX_ENDPOINT_LENGTH = 2048;

const CAPABILITY = /^[A-Za-z0-9][A-Za-z0-9._:/-]*$/;
// ASCII only, like names: Unicode letters would let "pаyments" (Cyrillic а) pass for "payments".
const NOT_OWNER_CHARACTER = /[^A-Za-z0-9 ._@:/+-]/u;
const CONTROL = /[\p{Cc}\p{Cf}]/u;
// With the u flag a surrogate pair is one code point; only an unpaired half is \p{Cs}.
const UNPAIRED_SURROGATE = /\p{Cs}/u;

/** Every audit event type; a Record so that a new type in AuditEventType fails to compile until it is listed. */
const EVENT_TYPES: Readonly<Record<AuditEventType, true>> = {
  'agent.registered': true,
  'agent.rotated': true,
  'agent.renewed': true,
  'agent.revoked': true,
  'agent.updated': true,
  'agent.expiring': true,
  'agent.expired': true,
  'operation.failed': true,
  'cert.verified': true,
  'key.created': true,
  'key.revoked': true,
  'ca.rotated': true,
  'auth.denied': true,
  'domain.challenge_created': true,
  'domain.verified': true,
  'domain.verification_failed': true,
  'domain.flagged': true,
  'domain.suspended': true,
  'domain.removed': true,
  'dns.published': true,
  'dns.failed': true,
  'webhook.created': true,
  'webhook.deleted': true,
  'webhook.disabled': true,
};

export const AUDIT_EVENT_TYPES = Object.keys(EVENT_TYPES) as readonly AuditEventType[];

export function checkOwner(owner: string): string {
  const field = 'owner';
  if (owner.length === 0) throw invalidArgument(field, 'must not be empty');
  if (owner.length > MAX_OWNER_LENGTH) throw invalidArgument(field, `must be at most ${MAX_OWNER_LENGTH} characters`);
  const foreign = NOT_OWNER_CHARACTER.exec(owner)?.[0];
  if (foreign !== undefined) {
    throw invalidArgument(field, `may contain only ASCII letters, digits, single spaces and ._@:/+-; ${codePoint(foreign)} is not`);
  }
  if (!/^[A-Za-z0-9]/.test(owner)) throw invalidArgument(field, 'must start with a letter or digit');
  if (/ $| {2}/.test(owner)) throw invalidArgument(field, 'must not end with a space or contain two spaces in a row');
  return owner;
}

export function checkCapabilities(capabilities: readonly string[]): string[] {
  if (capabilities.length > MAX_CAPABILITIES) {
    throw invalidArgument('capabilities', `at most ${MAX_CAPABILITIES} capabilities`);
  }
  const seen = new Set<string>();
  for (const capability of capabilities) {
    checkCapability(capability, 'capabilities');
    if (seen.has(capability)) throw invalidArgument('capabilities', `${JSON.stringify(capability)} is listed twice`);
    seen.add(capability);
  }
  return [...capabilities];
}

function checkCapability(capability: string, field: string): string {
  if (capability.length === 0 || capability.length > MAX_CAPABILITY_LENGTH) {
    throw invalidArgument(field, `each capability must be 1 to ${MAX_CAPABILITY_LENGTH} characters`);
  }
  if (!CAPABILITY.test(capability)) {
    throw invalidArgument(
      field,
      `${quoted(capability)} must start with a letter or digit and contain only ASCII letters, digits and ._:/-`,
    );
  }
  return capability;
}

export function checkDescription(description: string): string {
  if (description.length > MAX_DESCRIPTION_LENGTH) {
    throw invalidArgument('description', `must be at most ${MAX_DESCRIPTION_LENGTH} characters`);
  }
  if (CONTROL.test(description.replace(/[\n\t]/g, ''))) {
    throw invalidArgument('description', 'must not contain control characters other than newline and tab');
  }
  checkWellFormed('description', description);
  return description;
}

export function checkEndpoints(endpoints: readonly string[]): string[] {
  if (endpoints.length > MAX_ENDPOINTS) throw invalidArgument('endpoints', `at most ${MAX_ENDPOINTS} endpoints`);
  for (const endpoint of endpoints) {
    const valid =
      endpoint.length <= MAX_ENDPOINT_LENGTH &&
      !UNPAIRED_SURROGATE.test(endpoint) &&
      URL.canParse(endpoint) &&
      !CONTROL.test(endpoint) &&
      !/\s/.test(endpoint);
    if (!valid) throw invalidArgument('endpoints', `${quoted(endpoint)} must be an absolute URI`);
    if (!/^[a-z][a-z0-9+.-]*:\/\/[^/]/.test(endpoint)) {
      throw invalidArgument('endpoints', `${quoted(endpoint)} must be an absolute URI with a host`);
    }
  }
  return [...endpoints];
}

/** For expected_version: 0 means "any version". */
export function checkExpectedVersion(version: number): number | undefined {
  if (!Number.isInteger(version) || version < 0) throw invalidArgument('expected_version', 'must be 0 or a positive integer');
  return version === 0 ? undefined : version;
}

export function checkEventType(eventType: string): AuditEventType {
  if (!Object.hasOwn(EVENT_TYPES, eventType)) {
    throw invalidArgument('event_type', `${quoted(eventType)} is not one of ${AUDIT_EVENT_TYPES.join(', ')}`);
  }
  return eventType as AuditEventType;
}

/** ListAgents filters: owner and capability obey the rules of the fields they match. */
export function checkAgentFilter(filter: AgentFilter): AgentFilter {
  if (filter.owner !== undefined) checkOwner(filter.owner);
  if (filter.capability !== undefined) checkCapability(filter.capability, 'capability');
  return filter;
}

/** ListAuditEvents and ListEntries filters: an agent name and an event type, each valid or absent. */
export function checkAuditFilter(filter: AuditFilter): AuditFilter {
  if (filter.agentName !== undefined) validateAgentName(filter.agentName, REGISTERED_NAME);
  if (filter.eventType !== undefined) checkEventType(filter.eventType);
  return filter;
}

// UTF-8 cannot carry a lone surrogate: stored text must be well-formed Unicode.
function checkWellFormed(field: string, value: string): void {
  if (UNPAIRED_SURROGATE.test(value)) throw invalidArgument(field, 'must be well-formed Unicode (no unpaired surrogates)');
}
