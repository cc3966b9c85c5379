// A long-running agent whose certificate never runs out: the SDK's renewing identity renews it over the mTLS
// listener at two thirds of its life, and the agent builds its Connect client again with each new certificate
// (the registry closes connections that still present the superseded one).
//
//   node --import tsx examples/renewing-agent.ts <agent name> [https://mtls-host:port] [http://public-host:port]
//       (defaults https://localhost:8443 and http://localhost:8000; runs until Ctrl-C)
//
// Environment: KEYS_ROOT_DIR (default ./var/keys), where `atr agents register` wrote the agent's files. The files
// are only read: `atr agent run` is the command that keeps them renewed on disk for other programs.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { RegistryService, createRegistryClient, createRenewingIdentity } from '../src/sdk/index.ts';

const [agentName, mtlsUrl = 'https://localhost:8443', publicUrl = 'http://localhost:8000'] = process.argv.slice(2);
if (!agentName) throw new Error('usage: renewing-agent.ts <agent name> [https://mtls-host:port] [http://public-host:port]');
const files = join(process.env['KEYS_ROOT_DIR'] ?? './var/keys', agentName);

const identity = createRenewingIdentity({
  mtlsUrl,
  certPem: readFileSync(join(files, 'cert.pem'), 'utf8'),
  keyPem: readFileSync(join(files, 'key.pem'), 'utf8'),
  trustBundlePem: readFileSync(join(files, 'chain.pem'), 'utf8'),
  // Asked whether a certificate the mTLS listener refuses was revoked, or the network failed.
  registry: createRegistryClient({ baseUrl: publicUrl }),
});
const registryOverMtls = () => createClient(RegistryService, createGrpcTransport({ baseUrl: mtlsUrl, nodeOptions: identity.tlsOptions() }));
let registry = registryOverMtls();

async function whoAmI(when: string): Promise<void> {
  const answer = await registry.whoAmI({});
  console.log(`${when}: I am ${answer.agent?.agentName}, certificate ${answer.certFingerprint}, next renewal ${identity.nextAttemptAt?.toISOString()}`);
}

identity.on('renewed', ({ notAfter }) => {
  registry = registryOverMtls();
  void whoAmI(`renewed until ${notAfter.toISOString()}`).catch((error: Error) => console.error(`WhoAmI failed: ${error.message}`));
});
identity.on('error', (error) => console.error(`${error.message}; retrying in ${error.retryInMs} ms`));
identity.on('revoked', ({ reason }) => {
  console.error(`the registry says this certificate was ${reason}; stopping`);
  process.exitCode = 3;
});
process.once('SIGINT', () => void identity.stop());

await whoAmI('started');
