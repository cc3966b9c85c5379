import type { DescMethod, DescMethodUnary, Message } from '@bufbuild/protobuf';
import {
  type ConnectRouter,
  ConnectError,
  type ContextValues,
  type HandlerContext,
  type Interceptor,
  type MethodImplSpec,
  createMethodImplSpec,
  createServiceImplSpec,
} from '@connectrpc/connect';
import { invokeUnaryImplementation } from '@connectrpc/connect/protocol';

/** One unary call made in process: the request's context and headers in, the answer and its headers out. */
export interface InProcessCall {
  readonly method: DescMethodUnary;
  readonly input: Message;
  readonly header: Headers;
  readonly contextValues: ContextValues;
  /** Aborted when the client that asked went away. */
  readonly signal: AbortSignal;
  /** What the call is named by in the context handlers see, e.g. the REST path. */
  readonly url: string;
  readonly requestMethod: string;
  /** The protocol the call came in by, as handlers see it: `rest`, or `connect` for a Connect unary call. */
  readonly protocolName: string;
}

export interface InProcessAnswer {
  readonly message: Message;
  readonly header: Headers;
  readonly trailer: Headers;
}

/**
 * Calls the handlers `routes` registers in process, the way REST reaches the API: through the same interceptors as
 * every other protocol, with the context values of the HTTP request it serves (the client address, later the
 * authenticated principal), so handlers see one context whatever the protocol. The messages go to the
 * implementation and back as they are: no protocol in between to encode, frame and parse them again.
 * A failure rejects with the ConnectError every protocol would answer, carrying the headers set before it.
 */
export function createInProcessCalls(
  routes: (router: ConnectRouter) => void,
  interceptors: readonly Interceptor[],
): (call: InProcessCall) => Promise<InProcessAnswer> {
  const implementations = new Map<DescMethod, MethodImplSpec>();
  // Only the implementations are kept: no protocol handlers are built for them (the public router has its own).
  const recording: ConnectRouter = {
    handlers: [],
    service(service, implementation) {
      const spec = createServiceImplSpec(service, implementation);
      for (const method of service.methods) {
        const methodSpec = spec.methods[method.localName];
        if (methodSpec !== undefined) implementations.set(method, methodSpec);
      }
      return this;
    },
    rpc(method, implementation) {
      implementations.set(method, createMethodImplSpec(method, implementation));
      return this;
    },
  };
  routes(recording);
  const chain = [...interceptors];
  return async (call) => {
    const spec = implementations.get(call.method);
    if (spec?.kind !== 'unary') throw new ConnectError(`${call.method.parent.typeName}.${call.method.name} is not served in process`);
    // The context connect's createHandlerContext would make, minus its deadline and linked abort controllers: a call
    // here has no timeout of its own, so the request's signal serves as it is.
    const context: HandlerContext = {
      service: call.method.parent,
      method: call.method,
      protocolName: call.protocolName,
      requestMethod: call.requestMethod,
      url: call.url,
      requestHeader: call.header,
      responseHeader: new Headers(),
      responseTrailer: new Headers(),
      signal: call.signal,
      timeoutMs: () => undefined,
      values: call.contextValues,
    };
    try {
      const message = await invokeUnaryImplementation(spec, context, call.input, chain);
      return { message, header: context.responseHeader, trailer: context.responseTrailer };
    } catch (reason) {
      const error = ConnectError.from(reason);
      for (const headers of [context.responseHeader, context.responseTrailer]) {
        headers.forEach((value, name) => {
          if (!error.metadata.has(name)) error.metadata.set(name, value);
        });
      }
      throw error;
    }
  };
}
