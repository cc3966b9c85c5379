// The same agent with a generated Connect client (gRPC protocol over HTTP/2 with its registry certificate).
//
//   node --import tsx examples/connect-agent.ts <agent name> [https://host:port]     (default https://localhost:8443)
//
// Environment: KEYS_ROOT_DIR (default ./var/keys), where `atr agents register` wrote the agent's files.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { RegistryService, agentTlsOptions } from '../src/sdk/index.ts';

const [agentName, baseUrl = 'https://localhost:8443'] = process.argv.slice(2);
if (!agentName) throw new Error('usage: connect-agent.ts <agent name> [https://host:port]');
const files = join(process.env['KEYS_ROOT_DIR'] ?? './var/keys', agentName);
const tls = agentTlsOptions({
  certPem: readFileSync(join(files, 'cert.pem'), 'utf8'),
  keyPem: readFileSync(join(files, 'key.pem'), 'utf8'),
  trustBundlePem: readFileSync(join(files, 'chain.pem'), 'utf8'),
});
const registry = createClient(RegistryService, createGrpcTransport({ baseUrl, nodeOptions: tls }));
const answer = await registry.whoAmI({});
console.log(`I am ${answer.agent?.agentName} (status ${answer.agent?.status}), certificate ${answer.certFingerprint}`);
