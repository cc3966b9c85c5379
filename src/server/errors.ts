import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import type { JsonWriteOptions } from '@bufbuild/protobuf';
import { codeToHttpStatus, codeToString, contentTypeUnaryJson, errorToJsonBytes } from '@connectrpc/connect/protocol-connect';
import { DomainError, type ErrorCode } from '../errors.ts';

// The one place a domain error code becomes a transport answer. gRPC and Connect clients see `connect`, REST
// clients see `status`; both see the stable code itself in the `atr-error-code` header and the REST body.
export const errorTable: Readonly<Record<ErrorCode, { readonly connect: Code; readonly status: number }>> = {
  invalid_argument: { connect: Code.InvalidArgument, status: 400 },
  invalid_name: { connect: Code.InvalidArgument, status: 400 },
  invalid_csr: { connect: Code.InvalidArgument, status: 400 },
  invalid_certificate: { connect: Code.InvalidArgument, status: 400 },
  input_too_large: { connect: Code.InvalidArgument, status: 400 },
  agent_not_found: { connect: Code.NotFound, status: 404 },
  name_taken: { connect: Code.AlreadyExists, status: 409 },
  agent_revoked: { connect: Code.FailedPrecondition, status: 409 },
  agent_pending: { connect: Code.FailedPrecondition, status: 409 },
  version_conflict: { connect: Code.Aborted, status: 409 },
  log_entry_not_found: { connect: Code.NotFound, status: 404 },
  log_not_ready: { connect: Code.FailedPrecondition, status: 409 },
  log_disabled: { connect: Code.FailedPrecondition, status: 409 },
  dns_disabled: { connect: Code.FailedPrecondition, status: 409 },
  certificate_superseded: { connect: Code.FailedPrecondition, status: 409 },
  unauthenticated: { connect: Code.Unauthenticated, status: 401 },
  permission_denied: { connect: Code.PermissionDenied, status: 403 },
  key_not_found: { connect: Code.NotFound, status: 404 },
  job_not_found: { connect: Code.NotFound, status: 404 },
  webhook_not_found: { connect: Code.NotFound, status: 404 },
  operation_not_found: { connect: Code.NotFound, status: 404 },
  rate_limited: { connect: Code.ResourceExhausted, status: 429 },
  domain_not_found: { connect: Code.NotFound, status: 404 },
  domain_taken: { connect: Code.AlreadyExists, status: 409 },
  challenge_failed: { connect: Code.FailedPrecondition, status: 409 },
  verification_unavailable: { connect: Code.Unavailable, status: 503 },
  storage_unavailable: { connect: Code.Unavailable, status: 503 },
};

export const errorCodeHeader = 'atr-error-code';

export interface RestError {
  status: number;
  body: { detail: string; code: string };
}

// gRPC carries the message in a trailer, and HTTP/2 peers refuse header blocks past 16 KiB (or less): a message
// that echoes a huge input would turn a refusal into a broken stream. Rules name values through quoted(); this
// is the backstop.
const maxMessageLength = 1024;

function connectErrorFromDomain(error: DomainError): ConnectError {
  return new ConnectError(bounded(error.message), errorTable[error.code].connect, { [errorCodeHeader]: error.code }, [], error);
}

function bounded(message: string): string {
  if (message.length <= maxMessageLength) return message;
  // Never half a surrogate pair: the gRPC trailer percent-encodes the message, which throws on one.
  return `${message.slice(0, maxMessageLength).replace(/[\ud800-\udbff]$/, '')}…`;
}

// What the drivers say when the database cannot grow: SQLite's result code, PostgreSQL's SQLSTATE disk_full.
const STORAGE_FULL_CODES: ReadonlySet<unknown> = new Set(['SQLITE_FULL', '53100']);

/** Whether a write failed because the database (or its disk) is full, on either driver, however it was wrapped. */
export function isStorageFull(reason: unknown): boolean {
  for (let error = reason; error instanceof Error; error = error.cause) {
    if (STORAGE_FULL_CODES.has((error as { code?: unknown }).code)) return true;
  }
  return false;
}

const storageFullMessage = 'the registry cannot store changes now (its database is full); nothing was changed, try again later';

// Anything that is neither a domain error nor already a Connect error is a bug or an outage: the caller learns
// only that it happened, the log learns what it was. A full database is an outage the caller can act on (retry
// later, elsewhere), so it has a code of its own.
export function toConnectError(reason: unknown, signal?: AbortSignal): ConnectError {
  if (reason instanceof ConnectError) return reason;
  if (reason instanceof DomainError) return connectErrorFromDomain(reason);
  if (isStorageFull(reason)) {
    const code: ErrorCode = 'storage_unavailable';
    return new ConnectError(storageFullMessage, errorTable[code].connect, { [errorCodeHeader]: code }, [], reason);
  }
  if (signal?.aborted) return ConnectError.from(signal.reason, Code.Canceled);
  // The cause stays on the error for the access log (src/server/access-log.ts), which writes it with the request id.
  return new ConnectError('internal error', Code.Internal, undefined, undefined, reason);
}

export const errorInterceptor: Interceptor = (next) => async (req) => {
  try {
    const res = await next(req);
    if (!res.stream) return res;
    return { ...res, message: mapStreamErrors(res.message, req.signal) };
  } catch (reason) {
    throw toConnectError(reason, req.signal);
  }
};

async function* mapStreamErrors<T>(messages: AsyncIterable<T>, signal: AbortSignal): AsyncIterable<T> {
  try {
    yield* messages;
  } catch (reason) {
    throw toConnectError(reason, signal);
  }
}

export function restError(error: ConnectError): RestError {
  const domainCode = error.metadata.get(errorCodeHeader);
  if (domainCode !== null && isErrorCode(domainCode)) {
    return { status: errorTable[domainCode].status, body: { detail: error.rawMessage, code: domainCode } };
  }
  return { status: codeToHttpStatus(error.code), body: { detail: error.rawMessage, code: codeToString(error.code) } };
}

export function restErrorFromDomain(error: DomainError): RestError {
  return restError(connectErrorFromDomain(error));
}

// Code.InvalidArgument -> "invalid_argument", the names the Connect protocol puts on the wire.

function isErrorCode(value: string): value is ErrorCode {
  return Object.hasOwn(errorTable, value);
}

/** A failed Connect unary call as connect-es answers it: its status, a JSON error body, the error's metadata as headers. */
export function connectUnaryError(error: ConnectError, jsonOptions: Partial<JsonWriteOptions> = {}): { status: number; header: Headers; body: Uint8Array } {
  const header = new Headers({ 'content-type': contentTypeUnaryJson });
  error.metadata.forEach((value, name) => header.set(name, value));
  return { status: codeToHttpStatus(error.code), header, body: errorToJsonBytes(error, jsonOptions) };
}
