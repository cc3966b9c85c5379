// A server process for the benchmark: the registry (default) or an empty unary handler on the same stack
// (`--empty`), the limit the registry's own numbers are compared with. Prints its URL as one JSON line.
import { create } from '@bufbuild/protobuf';
import type { ConnectRouter } from '@connectrpc/connect';
import { ResolveAgentResponseSchema, ResolveService } from '../../gen/atr/v1/resolve_pb.js';
import { loadConfig } from '../../src/config/load.ts';
import { errorInterceptor } from '../../src/server/errors.ts';
import { createHttpHandler } from '../../src/server/http-handler.ts';
import { listen } from '../../src/server/listener.ts';
import { startServer } from '../../src/server/server.ts';

const config = loadConfig();
if (process.argv.includes('--empty')) {
  const answer = create(ResolveAgentResponseSchema, { agentName: 'empty.example' });
  const handler = createHttpHandler({
    routes: (router: ConnectRouter) => router.service(ResolveService, { resolveAgent: () => answer }),
    services: [ResolveService],
    interceptors: [errorInterceptor],
    readiness: async () => ({ ready: true, checks: {} }),
  });
  const listener = await listen({ host: config.host, port: config.port, handler });
  console.log(JSON.stringify({ url: listener.url }));
} else {
  const server = await startServer(config);
  console.log(JSON.stringify({ url: server.url, mtlsUrl: server.mtlsUrl, dnsPort: server.dnsPort }));
}
process.on('SIGINT', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
