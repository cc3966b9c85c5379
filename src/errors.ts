// One error type for every rule the domain enforces. Each code has one meaning; the transport mapping (Connect
// code, HTTP status) lives in src/server/errors.ts, so no domain module knows about transports.
export type ErrorCode =
  | 'invalid_argument'
  | 'invalid_name'
  | 'invalid_csr'
  | 'invalid_certificate'
  | 'input_too_large'
  | 'agent_not_found'
  | 'name_taken'
  | 'agent_revoked'
  | 'agent_pending'
  | 'version_conflict'
  | 'log_entry_not_found'
  | 'log_not_ready'
  | 'log_disabled'
  | 'dns_disabled'
  | 'certificate_superseded'
  | 'unauthenticated'
  | 'permission_denied'
  | 'key_not_found'
  | 'job_not_found'
  | 'webhook_not_found'
  | 'operation_not_found'
  | 'rate_limited'
  | 'domain_not_found'
  | 'domain_taken'
  | 'challenge_failed'
  | 'verification_unavailable'
  | 'storage_unavailable';

export class DomainError extends Error {
  override readonly name = 'DomainError';

  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export const invalidArgument = (field: string, rule: string) =>
  new DomainError('invalid_argument', `${field}: ${rule}`);

/**
 * A refused value as an error message shows it: JSON-quoted (control characters escaped) and cut to 64 characters,
 * so a megabyte of input never comes back in a message or a gRPC trailer.
 */
export function quoted(value: string, max = 64): string {
  const cut = [...value.slice(0, max + 1)];
  return cut.length > max ? `${JSON.stringify(cut.slice(0, max).join(''))}…` : JSON.stringify(value);
}

export const agentNotFound = (name: string) => new DomainError('agent_not_found', `agent ${name} not found`);

export const nameTaken = (name: string) => new DomainError('name_taken', `agent name ${name} is already taken`);

export const agentRevoked = (name: string) =>
  new DomainError('agent_revoked', `agent ${name} is revoked; a revoked agent cannot be changed`);

export const agentPending = (name: string) =>
  new DomainError('agent_pending', `agent ${name} is still being registered (see its operation); it has no certificate to replace yet`);

export const versionConflict = (name: string, expected: number, actual: number) =>
  new DomainError('version_conflict', `agent ${name} is at version ${actual}, not the expected ${expected}`);
