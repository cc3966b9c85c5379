// An agent that talks to the registry's mTLS listener with grpc-js and nothing but the protos and the files
// `atr agents register <name>` wrote: key.pem, cert.pem, chain.pem. It asks the registry who it is.
//
//   node --import tsx examples/grpc-js-agent.ts <agent name> [host:port]     (default localhost:8443)
//
// Environment: KEYS_ROOT_DIR (default ./var/keys), where the agent's files are.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const [agentName, address = 'localhost:8443'] = process.argv.slice(2);
if (!agentName) throw new Error('usage: grpc-js-agent.ts <agent name> [host:port]');
const files = join(process.env['KEYS_ROOT_DIR'] ?? './var/keys', agentName);
const credentials = grpc.credentials.createSsl(
  readFileSync(join(files, 'chain.pem')),
  readFileSync(join(files, 'key.pem')),
  readFileSync(join(files, 'cert.pem')),
);

const definition = protoLoader.loadSync('atr/v1/registry.proto', {
  includeDirs: [fileURLToPath(new URL('../proto', import.meta.url))],
  keepCase: true,
  longs: String,
  enums: String,
});
const { atr } = grpc.loadPackageDefinition(definition) as unknown as {
  atr: { v1: { RegistryService: grpc.ServiceClientConstructor } };
};
const client = new atr.v1.RegistryService(address, credentials) as unknown as grpc.Client & {
  WhoAmI(request: object, callback: (error: grpc.ServiceError | null, answer: WhoAmI) => void): void;
};
interface WhoAmI {
  agent: { agent_name: string; status: string };
  cert_fingerprint: string;
}
client.WhoAmI({}, (error, answer) => {
  client.close();
  if (error) {
    console.error(`WhoAmI failed: ${error.message}`);
    process.exit(1);
  }
  console.log(`I am ${answer.agent.agent_name} (${answer.agent.status}), certificate ${answer.cert_fingerprint}`);
});
