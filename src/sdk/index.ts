// What an agent imports (`atr`): typed clients for the registry, the API's messages and enums, mTLS options,
// the peer verifier, tokens and the transparency-log checks. Web apps import `atr/browser` instead.
export { PROTOCOLS, type Protocol, type RegistryClient, type RegistryClientOptions, createRegistryClient, createRegistryTransport, registryClientOver } from './client.ts';
export * from './messages.ts';
export { type SignTokenOptions, MAX_TOKEN_TTL_SECONDS, decodeToken, signToken } from './token.ts';
export { type AgentTlsFiles, type AgentTlsOptions, agentTlsOptions } from './tls-options.ts';
export {
  type PeerRefusal,
  type PeerVerdict,
  type PeerVerifier,
  type PeerVerifierOptions,
  createPeerVerifier,
  tlsAuthorizer,
} from './peer-verifier.ts';
export * from './transparency-log.ts';
export * from './log-checks.ts';
export { type KeyAndCsr, generateKeyAndCsr } from './csr.ts';
export {
  type ExpiredCertificate,
  type GrpcCertificateProvider,
  type RenewCertificateOptions,
  type RenewedCertificate,
  type RenewingIdentityEvents,
  type RenewingIdentityOptions,
  type RetiredCertificate,
  RenewalError,
  RenewingIdentity,
  createRenewingIdentity,
  renewCertificate,
} from './renewing-identity.ts';
