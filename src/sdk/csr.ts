// A key pair and a PKCS#10 request made where the agent runs, so its private key never leaves it: WebCrypto for
// the key, @peculiar/x509 for the request. No `node:` import: the CLI and the web UI share it.
import * as x509 from '../pki/x509.ts';

export interface KeyAndCsr {
  readonly privateKeyPem: string;
  readonly csrPem: string;
}

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;

/**
 * A fresh EC P-256 key and a CSR signed with it. The registry takes the name from the request, not the CSR; the
 * CN only makes the CSR readable on its own.
 */
export async function generateKeyAndCsr(agentName: string): Promise<KeyAndCsr> {
  const keys = await crypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [agentName] }],
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
  });
  const pkcs8 = await crypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { privateKeyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'), csrPem: csr.toString('pem') };
}
