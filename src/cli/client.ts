import { existsSync, readFileSync } from 'node:fs';
import { Code, type ConnectError } from '@connectrpc/connect';
import { settings } from '../config/schema.ts';
import { PROTOCOLS, type Protocol, type RegistryClient, createRegistryClient } from '../sdk/client.ts';

export { PROTOCOLS, type Protocol };
export type Clients = RegistryClient;

export const DEFAULT_SERVER = 'http://127.0.0.1:8000';

export function createClients(baseUrl: string, protocol: Protocol, apiKey: string | undefined): Clients {
  return createRegistryClient({ baseUrl, protocol, apiKey });
}

/**
 * The API key the CLI calls with: --api-key, else ATR_API_KEY, else the bootstrap admin key file a local server
 * wrote (ADMIN_KEY_FILE, ./var/admin.key by default) when it exists; none otherwise.
 */
export function apiKeyFor(option: string | undefined, env: Record<string, string | undefined> = process.env): string | undefined {
  if (option !== undefined && option !== '') return option;
  if (env['ATR_API_KEY']) return env['ATR_API_KEY'];
  const file = env[settings.adminKeyFile.env] || settings.adminKeyFile.default || '';
  return file !== '' && existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined;
}

const NETWORK_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

/** The network error behind a failed call, when the server could not be reached at all. */
function networkCause(error: ConnectError): string | undefined {
  for (let reason: unknown = error.cause; reason instanceof Error; reason = reason.cause) {
    const code = (reason as NodeJS.ErrnoException).code;
    if (code !== undefined && NETWORK_ERROR_CODES.has(code)) return reason.message;
  }
  return undefined;
}

/** One line for an error that ended a command, with a hint when the registry is not reachable. */
export function describeCallError(error: ConnectError, server: string): string {
  const cause = networkCause(error);
  if (cause !== undefined || error.code === Code.DeadlineExceeded) {
    return (
      `cannot reach the registry at ${server} (${cause ?? error.rawMessage}).\n` +
      'Is it running? Start it with `npm start` (or `atr serve`), or point the CLI elsewhere with --server URL or ATR_SERVER.'
    );
  }
  return error.message;
}
