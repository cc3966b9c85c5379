import { type RegistryClient, registryClientOver } from './registry-client.ts';
import { type RegistryClientOptions, createRegistryTransport } from './transport.ts';

export { type RegistryClient, registryClientOver } from './registry-client.ts';
export { PROTOCOLS, type Protocol, type RegistryClientOptions, createRegistryTransport } from './transport.ts';

export function createRegistryClient(options: RegistryClientOptions): RegistryClient {
  return registryClientOver(createRegistryTransport(options));
}
