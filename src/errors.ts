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
  | 'version_conflict'
  | 'log_entry_not_found'
  | 'log_not_ready'
  | 'log_disabled'
  | 'certificate_superseded'
  | 'unauthenticated'
  | 'permission_denied';

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

export const agentNotFound = (name: string) => new DomainError('agent_not_found', `agent ${name} not found`);

export const nameTaken = (name: string) => new DomainError('name_taken', `agent name ${name} is already taken`);

export const agentRevoked = (name: string) =>
  new DomainError('agent_revoked', `agent ${name} is revoked; a revoked agent cannot be changed`);

export const versionConflict = (name: string, expected: number, actual: number) =>
  new DomainError('version_conflict', `agent ${name} is at version ${actual}, not the expected ${expected}`);
