// A real listener in front of small in-memory RegistryService and ResolveService implementations, so the transport
// layer is tested on its own while the domain modules are written elsewhere.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { create, type DescService } from '@bufbuild/protobuf';
import { timestampNow } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, type ConnectRouter, type Interceptor, type ServiceImpl } from '@connectrpc/connect';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { type Agent, AgentSchema, AgentStatus } from '../../gen/atr/v1/agent_pb.js';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { ResolveService } from '../../gen/atr/v1/resolve_pb.js';
import { DomainError, agentNotFound, nameTaken } from '../../src/errors.ts';
import type { Logger } from '../../src/log/logger.ts';
import { accessLogInterceptor } from '../../src/server/access-log.ts';
import { createHttpHandler } from '../../src/server/http-handler.ts';
import { type Listener, listen } from '../../src/server/listener.ts';

// Registering this name makes the handler fail the way a bug or an outage would.
export const explodingName = 'boom.example';
export const secret = 'postgres://registry:hunter2@db.internal/registry';

function checkName(name: string): void {
  if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/.test(name)) {
    throw new DomainError('invalid_name', `agent name ${JSON.stringify(name)}: labels must be lowercase LDH`);
  }
}

function registryService(agents: Map<string, Agent>): Partial<ServiceImpl<typeof RegistryService>> {
  const find = (name: string) => {
    const agent = agents.get(name);
    if (agent === undefined) throw agentNotFound(name);
    return agent;
  };
  return {
    registerAgent(req) {
      if (req.agentName === explodingName) throw new Error(`cannot reach ${secret}`);
      checkName(req.agentName);
      if (agents.has(req.agentName)) throw nameTaken(req.agentName);
      const agent = create(AgentSchema, {
        agentName: req.agentName,
        owner: req.owner,
        capabilities: req.capabilities,
        description: req.description,
        endpoints: req.endpoints,
        status: AgentStatus.ACTIVE,
        version: 1,
        issuedAt: timestampNow(),
        createdAt: timestampNow(),
        spiffeId: `spiffe://test.example/agent/${req.agentName}`,
      });
      agents.set(req.agentName, agent);
      return { agent, certPem: `cert of ${req.agentName}`, chainPem: 'chain' };
    },
    getAgent(req) {
      return { agent: find(req.agentName) };
    },
    listAgents(req) {
      const matching = [...agents.values()].filter(
        (a) =>
          (req.status === AgentStatus.UNSPECIFIED || a.status === req.status) &&
          (req.owner === '' || a.owner === req.owner) &&
          (req.capability === '' || a.capabilities.includes(req.capability)),
      );
      const limit = req.limit || 50;
      return {
        agents: matching.slice(req.offset, req.offset + limit),
        total: matching.length,
        limit,
        offset: req.offset,
      };
    },
    revokeAgent(req) {
      const agent = find(req.agentName);
      agent.status = AgentStatus.REVOKED;
      agent.revocationReason = req.reason || 'unspecified';
      agent.revokedAt = timestampNow();
      return { agent };
    },
  };
}

function resolveService(agents: Map<string, Agent>): ServiceImpl<typeof ResolveService> {
  return {
    resolveAgent(req) {
      const agent = agents.get(req.agentName);
      if (agent === undefined) throw agentNotFound(req.agentName);
      return { agentName: agent.agentName, status: agent.status, owner: agent.owner, spiffeId: agent.spiffeId };
    },
  };
}

// Stands in for the auth interceptors to come: it sees the request headers of every protocol, REST included.
export const seenApiKeys: string[] = [];
const apiKeyInterceptor: Interceptor = (next) => async (req) => {
  const key = req.header.get('x-api-key');
  if (key !== null) seenApiKeys.push(key);
  if (key === 'wrong') throw new ConnectError('invalid API key', Code.Unauthenticated);
  return next(req);
};

export interface TestServer extends Listener {
  agents: Map<string, Agent>;
  setReady(ready: boolean): void;
}

export const apiServices: DescService[] = [RegistryService, ResolveService];

/** With `logger`, calls pass the access log too (it logs internal errors), as on the registry's own server. */
export async function startTestServer({ logger, ...options }: { graceMs?: number; logger?: Logger } = {}): Promise<TestServer> {
  const agents = new Map<string, Agent>();
  let ready = true;
  const routes = (router: ConnectRouter) => {
    router.service(RegistryService, registryService(agents));
    router.service(ResolveService, resolveService(agents));
  };
  const handler = createHttpHandler({
    routes,
    services: apiServices,
    interceptors: [...(logger ? [accessLogInterceptor(logger)] : []), apiKeyInterceptor],
    readiness: async () => ({ ready, checks: { database: ready ? 'ok' : 'unreachable' } }),
    extraRoutes: {
      '/v1/crl': (_req, res) => {
        res.setHeader('content-type', 'application/pkix-crl');
        res.end('crl bytes');
      },
    },
    healthPollMs: 10,
  });
  const listener = await listen({ host: '127.0.0.1', port: 0, handler, ...options });
  return {
    ...listener,
    agents,
    setReady(value) {
      ready = value;
    },
  };
}

// --- clients

const run = promisify(execFile);

export async function curl(
  version: '--http1.1' | '--http2-prior-knowledge',
  url: string,
  ...args: string[]
): Promise<{ status: number; httpVersion: string; body: string }> {
  const { stdout } = await run('curl', ['-sS', version, '-w', '\n%{http_code} %{http_version}', ...args, url]);
  const cut = stdout.lastIndexOf('\n');
  const [status, httpVersion] = stdout.slice(cut + 1).split(' ');
  return { status: Number(status), httpVersion: httpVersion ?? '', body: stdout.slice(0, cut) };
}

const loaderOptions: protoLoader.Options = {
  includeDirs: [fileURLToPath(new URL('../../proto', import.meta.url))],
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

export type GrpcMethod = grpc.MethodDefinition<object, object>;

// The definition of one method, loaded the way any grpc-js user would load it: from the .proto file.
export function grpcMethod(protoFile: string, service: string, method: string): GrpcMethod {
  const definition = protoLoader.loadSync(protoFile, loaderOptions)[service];
  const found = definition !== undefined && !('format' in definition) ? definition[method] : undefined;
  if (found === undefined) throw new Error(`${service}/${method} not in ${protoFile}`);
  return found;
}

export function grpcClient(port: number): grpc.Client {
  return new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}

export function grpcUnary(client: grpc.Client, method: GrpcMethod, request: object): Promise<object> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      request,
      new grpc.Metadata(),
      (error, response) => (error ? reject(error) : resolve(response ?? {})),
    );
  });
}

export interface GrpcFailure {
  code: number;
  details: string;
  metadata: grpc.Metadata;
}

export async function grpcError(call: Promise<unknown>): Promise<GrpcFailure> {
  const outcome = await call.then(
    () => undefined,
    (error: unknown) => error,
  );
  const code = pick(outcome, 'code');
  const details = pick(outcome, 'details');
  const metadata = pick(outcome, 'metadata');
  if (typeof code !== 'number' || typeof details !== 'string' || !(metadata instanceof grpc.Metadata)) {
    throw new Error(`expected a gRPC error, got ${String(outcome)}`);
  }
  return { code, details, metadata };
}

// Reads a nested value out of a decoded grpc-js message.
export function pick(value: unknown, ...path: string[]): unknown {
  let current = value;
  for (const key of path) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = Object.getOwnPropertyDescriptor(current, key)?.value;
  }
  return current;
}
