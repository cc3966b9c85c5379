import { invalidArgument } from '../errors.ts';

// The rules for the agent fields other than the name. Each check throws InvalidArgument naming the field and rule.

export const MAX_CAPABILITIES = 64;
export const MAX_CAPABILITY_LENGTH = 64;
export const MAX_OWNER_LENGTH = 255;
export const MAX_DESCRIPTION_LENGTH = 1024;
export const MAX_ENDPOINTS = 16;
export const MAX_ENDPOINT_LENGTH = 2048;

const CAPABILITY = /^[A-Za-z0-9][A-Za-z0-9._:/-]*$/;
const OWNER = /^[\p{L}\p{N}][\p{L}\p{N} ._@:/+-]*$/u;
const CONTROL = /[\p{Cc}\p{Cf}]/u;

export function checkOwner(owner: string): string {
  if (owner.length === 0) throw invalidArgument('owner', 'must not be empty');
  if (owner.length > MAX_OWNER_LENGTH) throw invalidArgument('owner', `must be at most ${MAX_OWNER_LENGTH} characters`);
  if (!OWNER.test(owner)) {
    throw invalidArgument('owner', 'must start with a letter or digit and contain only letters, digits, spaces and ._@:/+-');
  }
  return owner;
}

export function checkCapabilities(capabilities: readonly string[]): string[] {
  if (capabilities.length > MAX_CAPABILITIES) {
    throw invalidArgument('capabilities', `at most ${MAX_CAPABILITIES} capabilities`);
  }
  const seen = new Set<string>();
  for (const capability of capabilities) {
    if (capability.length === 0 || capability.length > MAX_CAPABILITY_LENGTH) {
      throw invalidArgument('capabilities', `each capability must be 1 to ${MAX_CAPABILITY_LENGTH} characters`);
    }
    if (!CAPABILITY.test(capability)) {
      throw invalidArgument(
        'capabilities',
        `${JSON.stringify(capability)} must start with a letter or digit and contain only letters, digits and ._:/-`,
      );
    }
    if (seen.has(capability)) throw invalidArgument('capabilities', `${JSON.stringify(capability)} is listed twice`);
    seen.add(capability);
  }
  return [...capabilities];
}

export function checkDescription(description: string): string {
  if (description.length > MAX_DESCRIPTION_LENGTH) {
    throw invalidArgument('description', `must be at most ${MAX_DESCRIPTION_LENGTH} characters`);
  }
  if (CONTROL.test(description.replace(/[\n\t]/g, ''))) {
    throw invalidArgument('description', 'must not contain control characters other than newline and tab');
  }
  return description;
}

export function checkEndpoints(endpoints: readonly string[]): string[] {
  if (endpoints.length > MAX_ENDPOINTS) throw invalidArgument('endpoints', `at most ${MAX_ENDPOINTS} endpoints`);
  for (const endpoint of endpoints) {
    if (endpoint.length > MAX_ENDPOINT_LENGTH || !URL.canParse(endpoint) || CONTROL.test(endpoint) || /\s/.test(endpoint)) {
      throw invalidArgument('endpoints', `${JSON.stringify(endpoint.slice(0, 80))} must be an absolute URI`);
    }
    if (!/^[a-z][a-z0-9+.-]*:\/\/[^/]/.test(endpoint)) {
      throw invalidArgument('endpoints', `${JSON.stringify(endpoint.slice(0, 80))} must be an absolute URI with a host`);
    }
  }
  return [...endpoints];
}

/** For expected_version: 0 means "any version". */
export function checkExpectedVersion(version: number): number | undefined {
  if (!Number.isInteger(version) || version < 0) throw invalidArgument('expected_version', 'must be 0 or a positive integer');
  return version === 0 ? undefined : version;
}
