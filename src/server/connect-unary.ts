import type { DescMethod, DescMethodUnary, JsonReadOptions, JsonWriteOptions } from '@bufbuild/protobuf';
import { type ContextValues, createContextValues } from '@connectrpc/connect';
import { type Compression, type MethodSerializationLookup, compressionNegotiate, createMethodSerializationLookup } from '@connectrpc/connect/protocol';
import { contentTypeUnaryJson, contentTypeUnaryProto, parseContentType, trailerMux } from '@connectrpc/connect/protocol-connect';
import { connectUnaryError, toConnectError } from './errors.ts';
import type { InProcessAnswer, InProcessCall } from './in-process-calls.ts';
import { readRequestBody, screenUnaryMessage } from './input-limits.ts';
import { type NodeRequest, type NodeResponse, nodeHeaders, requestSignal, webHeaders } from './node-adapter.ts';

export interface ConnectUnaryOptions {
  call: (call: InProcessCall) => Promise<InProcessAnswer>;
  jsonOptions: Partial<JsonReadOptions & JsonWriteOptions>;
  acceptCompression: Compression[];
  compressMinBytes: number;
  readMaxBytes: number;
}

/** Answers a call itself and returns true, or returns false and leaves the call to connect-es. */
export type ConnectUnary = (req: NodeRequest, res: NodeResponse, method: DescMethodUnary, contextValues: ContextValues | undefined) => boolean;

/**
 * The Connect protocol's unary POST, the call browsers and curl-like clients make most, answered the way connect-es
 * answers it (its content types, error bodies, status codes, trailer-prefixed trailers, response compression) but
 * through the in-process calls REST uses: the message goes from the body to the implementation and back without the
 * universal request, handler context and stream plumbing a call costs there (which made Connect JSON slower than
 * REST for the same RPC). The body passes the same screen as on every other protocol.
 * A call this does not take (a GET, a compressed body, a timeout, a content type it does not know) goes to connect-es.
 */
export function createConnectUnary(options: ConnectUnaryOptions): ConnectUnary {
  const lookups = new Map<DescMethod, MethodSerializationLookup<DescMethodUnary['input'], DescMethodUnary['output']>>();
  const serialization = (method: DescMethodUnary) => {
    let lookup = lookups.get(method);
    if (lookup === undefined) {
      lookup = createMethodSerializationLookup(method, undefined, options.jsonOptions, {
        readMaxBytes: options.readMaxBytes,
        writeMaxBytes: Number.MAX_SAFE_INTEGER,
      });
      lookups.set(method, lookup);
    }
    return lookup;
  };
  return (req, res, method, contextValues) => {
    if (req.method !== 'POST') return false;
    const type = parseContentType(single(req.headers['content-type']) ?? null);
    if (type === undefined || type.stream) return false;
    const encoding = single(req.headers['content-encoding']);
    if ((encoding !== undefined && encoding !== 'identity') || req.headers['connect-timeout-ms'] !== undefined) return false;
    void answer(req, res, method, type.binary, contextValues).catch(() => res.destroy());
    return true;
  };

  async function answer(req: NodeRequest, res: NodeResponse, method: DescMethodUnary, binary: boolean, contextValues: ContextValues | undefined) {
    const header = webHeaders(req.headers);
    const compression = compressionNegotiate(options.acceptCompression, null, header.get('accept-encoding'), 'accept-encoding');
    const lookup = serialization(method);
    let status = 200;
    let body: Uint8Array;
    let head: Headers;
    try {
      const bytes = await readRequestBody(req, header.get('content-length'));
      screenUnaryMessage(bytes, binary, method.input);
      const answered = await options.call({
        method,
        input: lookup.getI(binary).parse(bytes),
        header,
        contextValues: contextValues ?? createContextValues(),
        signal: requestSignal(req, res),
        url: req.url ?? '/',
        requestMethod: 'POST',
        protocolName: 'connect',
      });
      body = lookup.getO(binary).serialize(answered.message);
      answered.header.set('content-type', binary ? contentTypeUnaryProto : contentTypeUnaryJson);
      head = trailerMux(answered.header, answered.trailer);
    } catch (reason) {
      // As connect-es answers: a failure that is not a ConnectError (a bug) is Internal, without its message.
      ({ status, header: head, body } = connectUnaryError(toConnectError(reason), options.jsonOptions));
    }
    if (compression.response !== null && body.byteLength >= options.compressMinBytes) {
      body = await compression.response.compress(body);
      head.set('content-encoding', compression.response.name);
    }
    head.set('content-length', String(body.byteLength));
    res.writeHead(status, nodeHeaders(head));
    res.end(body);
  }
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
