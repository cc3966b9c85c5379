import { webcrypto, X509Certificate, createPublicKey } from 'node:crypto';
import * as x509 from '../../src/pki/x509.ts';

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** A fresh EC P-256 key pair and a CSR for it, as an agent would make them. */
export async function keyAndCsr(commonName = 'ignored.example'): Promise<{ csrPem: string; privateKeyPem: string; publicKeyPem: string }> {
  const keys = (await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${commonName}`,
    keys,
    signingAlgorithm: EC_P256,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: commonName }])],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const spki = Buffer.from(await webcrypto.subtle.exportKey('spki', keys.publicKey));
  return {
    csrPem: csr.toString('pem'),
    privateKeyPem: `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END PRIVATE KEY-----\n`.replace(/\n\n/g, '\n'),
    publicKeyPem: createPublicKey({ key: spki, format: 'der', type: 'spki' }).export({ format: 'pem', type: 'spki' }).toString(),
  };
}

/** The public key of a certificate, as SPKI PEM, to compare with the key it was issued for. */
export function publicKeyOf(certPem: string): string {
  return new X509Certificate(certPem).publicKey.export({ format: 'pem', type: 'spki' }).toString();
}

/** The public key of a private key, as SPKI PEM. */
export function publicKeyOfPrivate(privateKeyPem: string): string {
  return createPublicKey(privateKeyPem).export({ format: 'pem', type: 'spki' }).toString();
}
