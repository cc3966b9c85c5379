// One access line per API call, on every protocol: who called what, how it ended and how long it took, under a
// request id the caller can quote (it is sent back as x-request-id). Never a header value, a body or a key.
import { randomBytes } from 'node:crypto';
import { Code, type ContextValues, createContextKey, type Interceptor } from '@connectrpc/connect';
import { principalId } from '../auth/principal.ts';
import { DomainError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import { clientAddressKey, peerAgentKey, principalKey } from '../services/context.ts';
import { codeToString } from '@connectrpc/connect/protocol-connect';
import { toConnectError } from './errors.ts';

export type Protocol = 'grpc' | 'grpc-web' | 'connect' | 'rest';

/** Set on the context of calls REST makes through the in-process transport (they arrive there as Connect). */
export const restCallKey = createContextKey<boolean>(false, { description: 'the call came in as REST' });

export const requestIdHeader = 'x-request-id';
/** An incoming id is kept when it is one token of printable characters (a UUID, a trace id); else a new one is made. */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:+/=-]{1,128}$/;

// Request ids made here: a random prefix per process and a counter, unique across processes and restarts without a
// random draw per call.
const processPrefix = randomBytes(8).toString('hex');
let requestCounter = 0;
const nextRequestId = () => `${processPrefix}-${(requestCounter += 1).toString(36)}`;

/**
 * Outermost after the error mapping: it maps the error itself (with the same toConnectError) so that it can put the
 * request id on it and log the code the caller gets. Internal errors are logged here, with their cause, once.
 * A stream's line is written when the response starts; an internal error later in the stream gets its own line.
 */
export function accessLogInterceptor(logger: Logger): Interceptor {
  return (next) => async (req) => {
    const started = performance.now();
    const incoming = req.header.get(requestIdHeader);
    const requestId = incoming !== null && SANE_REQUEST_ID.test(incoming) ? incoming : nextRequestId();
    const line = (code: string) => ({
      requestId,
      principal: principalOf(req.contextValues),
      client: req.contextValues.get(clientAddressKey),
      protocol: protocolOf(req.header, req.contextValues),
      method: `${req.service.typeName}/${req.method.name}`,
      code,
      latencyMs: Math.round((performance.now() - started) * 10) / 10,
    });
    const internal = (reason: unknown, signal: AbortSignal) => {
      const error = toConnectError(reason, signal);
      error.metadata.set(requestIdHeader, requestId);
      if (error.code === Code.Internal && !(error.cause instanceof DomainError)) {
        logger.error({ requestId, err: error.cause ?? error }, 'internal error');
      }
      return error;
    };
    try {
      const res = await next(req);
      res.header.set(requestIdHeader, requestId);
      if (logger.isLevelEnabled('info')) logger.info(line('ok'), 'request');
      if (!res.stream) return res;
      return { ...res, message: mapped(res.message, (reason) => internal(reason, req.signal)) };
    } catch (reason) {
      const error = internal(reason, req.signal);
      if (logger.isLevelEnabled('info')) logger.info(line(codeToString(error.code)), 'request');
      throw error;
    }
  };
}

async function* mapped<T>(messages: AsyncIterable<T>, map: (reason: unknown) => Error): AsyncIterable<T> {
  try {
    yield* messages;
  } catch (reason) {
    throw map(reason);
  }
}

/** The caller as the audit trail names it: `agent:<name>` over mTLS, `key:<id>` (the id, never the key), or anonymous. */
function principalOf(values: ContextValues): string {
  const agent = values.get(peerAgentKey);
  return agent ? `agent:${agent.name}` : principalId(values.get(principalKey));
}

function protocolOf(header: Headers, values: ContextValues): Protocol {
  if (values.get(restCallKey)) return 'rest';
  const type = header.get('content-type') ?? '';
  if (type.startsWith('application/grpc-web')) return 'grpc-web';
  if (type.startsWith('application/grpc')) return 'grpc';
  return 'connect';
}
