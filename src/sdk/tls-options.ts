import type { SecureVersion } from 'node:tls';

export interface AgentTlsFiles {
  /** The agent's certificate, PEM (cert.pem from `atr agents register`). */
  readonly certPem: string;
  /** The agent's private key, PEM (key.pem). */
  readonly keyPem: string;
  /** The registry's intermediate and root, PEM (chain.pem, or GetTrustBundle's trust_bundle_pem). */
  readonly trustBundlePem: string;
}

export interface AgentTlsOptions {
  readonly cert: string;
  readonly key: string;
  /** Only the registry's CA: a peer is trusted when the registry issued its certificate, not any public CA. */
  readonly ca: string;
  readonly minVersion: SecureVersion;
}

/**
 * TLS options that present the agent's registry certificate and trust only the registry's CA, for both ends of
 * an mTLS connection: `https.request`, `tls.connect`, `http2.connect`, `createGrpcTransport({ nodeOptions })` from
 * @connectrpc/connect-node, and agent servers (`tls.createServer`, `http2.createSecureServer`, with
 * `requestCert: true` added).
 *
 * grpc-js takes the same material as Buffers, in the order CA, key, certificate:
 *
 *   const tls = agentTlsOptions(files);
 *   grpc.credentials.createSsl(Buffer.from(tls.ca), Buffer.from(tls.key), Buffer.from(tls.cert));
 *
 * (The SDK does not wrap that call: @grpc/grpc-js is not one of its dependencies.)
 *
 * Chain checks prove only that the registry issued a certificate; `createPeerVerifier` adds the registry's state
 * (revoked, superseded).
 */
export function agentTlsOptions({ certPem, keyPem, trustBundlePem }: AgentTlsFiles): AgentTlsOptions {
  return { cert: certPem, key: keyPem, ca: trustBundlePem, minVersion: 'TLSv1.2' };
}
