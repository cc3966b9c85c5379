import { rootCertificates } from 'node:tls';
import { Code, ConnectError, type Transport } from '@connectrpc/connect';
import { type Protocol, createRegistryTransport } from '../sdk/transport.ts';

export interface ClientSettings {
  readonly baseUrl: string;
  readonly protocol: Protocol;
  readonly apiKey: string | undefined;
  /** PEM CA certificates trusted for an https:// server besides Node's own (--cacert). */
  readonly ca: string | undefined;
}

/** The one transport a command's clients share; each client loads only its own service's descriptors. */
export function createTransport({ baseUrl, protocol, apiKey, ca }: ClientSettings): Transport {
  return createRegistryTransport({ baseUrl, protocol, apiKey, tls: ca === undefined ? undefined : { ca: [...rootCertificates, ca] } });
}

export function isCallError(error: unknown): error is ConnectError {
  return error instanceof ConnectError;
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
