import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { type Http2ServerRequest, type Http2ServerResponse, constants as h2 } from 'node:http2';
import type { DescMethod, DescMethodUnary } from '@bufbuild/protobuf';
import { Code, type ConnectRouter, type ConnectRouterOptions, ConnectError, type ContextValues, createConnectRouter } from '@connectrpc/connect';
import { universalResponseToNodeResponse } from '@connectrpc/connect-node';
import type { UniversalServerRequest, UniversalServerResponse } from '@connectrpc/connect/protocol';
import type { Logger } from '../log/logger.ts';

export type NodeRequest = IncomingMessage | Http2ServerRequest;
export type NodeResponse = ServerResponse | Http2ServerResponse;

export interface NodeAdapterOptions extends ConnectRouterOptions {
  routes: (router: ConnectRouter) => void;
  // Values handlers see in their context, from the request.
  contextValues?: (req: NodeRequest) => ContextValues;
  // Every request whose path is not an RPC's.
  fallback: (req: NodeRequest, res: NodeResponse) => void;
  // Where a call that failed after its answer began (a write to a gone client) is reported.
  logger?: Logger;
  // Takes a unary call and answers it (true), or leaves it to connect-es (false): see connect-unary.ts.
  unary?: (req: NodeRequest, res: NodeResponse, method: DescMethodUnary, contextValues: ContextValues | undefined) => boolean;
}

/**
 * gRPC, gRPC-Web and Connect on node:http and node:http2, as connect-node's adapter serves them, with three costs
 * of its general path taken off the calls this server answers most:
 * - a unary answer goes out in one write with its Content-Length (connect-node writes the head and the body and then
 *   ends a chunked body, two or three socket writes a call);
 * - a request's abort signal fires only when the client goes away before its answer is written (connect-node
 *   aborts it on every close, making a DOMException, with its stack trace, for each answered call);
 * - the request's URL and body are handed on as they are, without a URL parse and an async generator a call.
 * Streaming answers are written by connect-node's own writer.
 */
export function createNodeAdapter(options: NodeAdapterOptions): (req: NodeRequest, res: NodeResponse) => void {
  const router = createConnectRouter(options);
  options.routes(router);
  const handlers = new Map(router.handlers.map((handler) => [handler.requestPath, handler]));
  return (req, res) => {
    const url = req.url ?? '';
    const queryAt = url.indexOf('?');
    const handler = handlers.get(queryAt < 0 ? url : url.slice(0, queryAt));
    if (handler === undefined) return options.fallback(req, res);
    const method = handler.method;
    const unary = isUnary(method);
    const contextValues = options.contextValues?.(req);
    if (unary && options.unary?.(req, res, method, contextValues)) return;
    handler(universalRequest(req, res, contextValues))
      .then((answer) => (unary ? writeWhole(answer, res) : universalResponseToNodeResponse(answer, res)))
      .catch((reason: unknown) => {
        if (ConnectError.from(reason).code === Code.Aborted) return;
        options.logger?.warn({ err: reason, rpc: `${handler.service.typeName}/${handler.method.name}` }, 'could not answer a call');
        res.destroy();
      });
  };
}

function isUnary(method: DescMethod): method is DescMethodUnary {
  return method.methodKind === 'unary';
}

function universalRequest(req: NodeRequest, res: NodeResponse, contextValues: ContextValues | undefined): UniversalServerRequest {
  const secure = 'encrypted' in req.socket && req.socket.encrypted === true;
  const authority = 'authority' in req ? req.authority : (req.headers.host ?? req.socket.localAddress ?? 'localhost');
  return {
    httpVersion: req.httpVersion,
    method: req.method ?? '',
    url: `${secure ? 'https' : 'http'}://${authority}${req.url ?? '/'}`,
    header: webHeaders(req.headers),
    // Node's request streams are async iterables of Buffers, which are Uint8Arrays.
    body: req,
    signal: requestSignal(req, res),
    contextValues,
  };
}

/** Aborted when the client goes away before its answer is written, with the reason as a ConnectError. */
export function requestSignal(req: NodeRequest, res: NodeResponse): AbortSignal {
  const abort = new AbortController();
  // The reason is made only when the client did go away: an Error costs a stack trace.
  const gone = (reason: () => ConnectError) => {
    if (!res.writableEnded) abort.abort(reason());
  };
  if ('stream' in req) {
    req.once('close', () => gone(() => resetError(req.stream.rstCode)));
  } else {
    // HTTP/1.1 closes the request once its body is read; the response closes when the answer is written or the
    // connection is lost.
    req.once('error', (error) => gone(() => ConnectError.from(error, Code.Canceled)));
    res.once('close', () => gone(() => new ConnectError('the client closed the connection', Code.Canceled)));
  }
  return abort.signal;
}

function resetError(code: number): ConnectError {
  const message = `the client closed the HTTP/2 stream (code ${code})`;
  if (code === h2.NGHTTP2_NO_ERROR || code === h2.NGHTTP2_CANCEL) return new ConnectError(message, Code.Canceled);
  if (code === h2.NGHTTP2_REFUSED_STREAM) return new ConnectError(message, Code.Unavailable);
  if (code === h2.NGHTTP2_ENHANCE_YOUR_CALM) return new ConnectError(message, Code.ResourceExhausted);
  return new ConnectError(message, Code.Internal);
}

/** A unary answer (one message, or for gRPC-Web one message and its trailers frame) in one write. */
async function writeWhole(answer: UniversalServerResponse, res: NodeResponse): Promise<void> {
  const chunks: Uint8Array[] = [];
  // The head follows the body: a handler may set headers until its message is ready.
  for await (const chunk of answer.body ?? []) chunks.push(chunk);
  const [first, ...more] = chunks;
  const body = first === undefined ? new Uint8Array(0) : more.length === 0 ? first : Buffer.concat(chunks);
  const head = answer.header === undefined ? {} : nodeHeaders(answer.header);
  if (answer.trailer === undefined) head['content-length'] = body.byteLength;
  res.writeHead(answer.status, head);
  if (answer.trailer !== undefined) res.addTrailers(nodeHeaders(answer.trailer));
  res.end(body);
}

export function webHeaders(headers: IncomingHttpHeaders): Headers {
  const web = new Headers();
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || name.startsWith(':')) continue;
    if (typeof value === 'string') web.append(name, value);
    else for (const v of value) web.append(name, v);
  }
  return web;
}

export function nodeHeaders(headers: Headers): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  headers.forEach((value, name) => {
    out[name] = value;
  });
  return out;
}
