import { type KeyObject, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { CaError } from './ca-error.ts';
import { CERT_FILE_MODE, type CaPaths, caPaths, writeFileAtomic } from './ca-files.ts';
import { readCaKey, writeCaKey } from './ca-key.ts';
import { type CaCertificateRequest, intermediateCertificate, rootCertificate } from './ca-profile.ts';
import { keyIdOf, subjectNameOf } from './certificate.ts';
import { generateP256KeyPair } from './keys.ts';
import { withLockFile } from './lock-file.ts';
import { toPem } from './pem.ts';

export interface CaOptions {
  dir: string;
  passphrase?: string | undefined;
  /** Validity of the root; the intermediate gets half. */
  validityDays: number;
  trustDomain: string;
  /** Put in every agent certificate's CRL distribution point. */
  crlUrl: string;
}

export interface CertificateAuthority {
  readonly rootPem: string;
  readonly intermediatePem: string;
  /** Intermediate PEM then root PEM. */
  readonly trustBundlePem: string;
  readonly root: X509Certificate;
  readonly intermediate: X509Certificate;
  readonly trustDomain: string;
  readonly crlUrl: string;
  /** The intermediate's private key (EC P-256): signs agent certificates and CRLs. */
  readonly signingKey: KeyObject;
  /** The intermediate's subject Name (DER): the issuer of every agent certificate and CRL. */
  readonly intermediateName: Buffer;
  /** The intermediate's subjectKeyIdentifier: the authorityKeyIdentifier of everything it signs. */
  readonly intermediateKeyId: Buffer;
}

/**
 * The registry's CA from `options.dir`, created on first use: an EC P-256 root and intermediate. Afterwards only
 * the intermediate's key is read; root.key stays on disk for re-issuing the intermediate (move intermediate.crt
 * and intermediate.key away and start again). Processes starting together on an empty directory agree on one CA.
 */
export async function loadOrCreateCa(options: CaOptions): Promise<CertificateAuthority> {
  const passphrase = options.passphrase || undefined; // an empty passphrase means none
  const paths = caPaths(options.dir);
  if (mkdirSync(options.dir, { recursive: true, mode: 0o700 }) !== undefined) chmodSync(options.dir, 0o700);
  // intermediate.crt is written last, so its presence means the CA is complete.
  if (!existsSync(paths.intermediateCert)) {
    await withLockFile(paths.lock, async () => {
      if (!existsSync(paths.intermediateCert)) await createCa(paths, options, passphrase);
    });
  }
  return loadCa(paths, options, passphrase);
}

async function createCa(paths: CaPaths, options: CaOptions, passphrase: string | undefined): Promise<void> {
  const request = { trustDomain: options.trustDomain, validityDays: options.validityDays, now: new Date() };
  const root = existsSync(paths.rootCert) ? loadRoot(paths, passphrase) : await createRoot(paths, request, passphrase);
  const intermediate = await generateP256KeyPair();
  const der = intermediateCertificate(intermediate.publicKey, root, request);
  writeCaKey(paths.intermediateKey, intermediate.privateKey, passphrase);
  writeFileAtomic(paths.intermediateCert, toPem(der, 'CERTIFICATE'), CERT_FILE_MODE);
}

interface Root {
  readonly certificate: X509Certificate;
  readonly privateKey: KeyObject;
}

async function createRoot(
  paths: CaPaths,
  request: CaCertificateRequest,
  passphrase: string | undefined,
): Promise<Root> {
  const key = await generateP256KeyPair();
  const der = rootCertificate(key, request);
  // Key first: a crash in between leaves an orphan key that the next start overwrites, never a root without its key.
  writeCaKey(paths.rootKey, key.privateKey, passphrase);
  writeFileAtomic(paths.rootCert, toPem(der, 'CERTIFICATE'), CERT_FILE_MODE);
  return { certificate: new X509Certificate(der), privateKey: key.privateKey };
}

/** An existing root, to sign a new intermediate. */
function loadRoot(paths: CaPaths, passphrase: string | undefined): Root {
  const certificate = readCertificate(paths.rootCert);
  const privateKey = readCaKey(paths.rootKey, passphrase);
  if (!certificate.checkPrivateKey(privateKey)) throw new CaError(`${paths.rootKey} does not match ${paths.rootCert}`);
  return { certificate, privateKey };
}

function loadCa(paths: CaPaths, options: CaOptions, passphrase: string | undefined): CertificateAuthority {
  const root = readCertificate(paths.rootCert);
  const intermediate = readCertificate(paths.intermediateCert);
  const signingKey = readCaKey(paths.intermediateKey, passphrase);
  checkHierarchy(paths, root, intermediate, signingKey);
  const rootPem = toPem(root.raw, 'CERTIFICATE');
  const intermediatePem = toPem(intermediate.raw, 'CERTIFICATE');
  return {
    rootPem,
    intermediatePem,
    trustBundlePem: intermediatePem + rootPem,
    root,
    intermediate,
    trustDomain: options.trustDomain,
    crlUrl: options.crlUrl,
    signingKey,
    intermediateName: subjectNameOf(intermediate.raw),
    intermediateKeyId: keyIdOf(intermediate),
  };
}

function checkHierarchy(paths: CaPaths, root: X509Certificate, intermediate: X509Certificate, key: KeyObject): void {
  const broken = (rule: string) => new CaError(`CA in ${paths.dir}: ${rule}`);
  if (!root.ca || !root.checkIssued(root) || !root.verify(root.publicKey)) {
    throw broken('root.crt is not a self-signed CA certificate');
  }
  if (!intermediate.ca || !intermediate.checkIssued(root) || !intermediate.verify(root.publicKey)) {
    throw broken('intermediate.crt is not a CA certificate signed by root.crt');
  }
  if (!intermediate.checkPrivateKey(key)) throw broken('intermediate.key does not match intermediate.crt');
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw broken('intermediate.key must be an EC P-256 key (agent certificates are signed ECDSA-SHA256)');
  }
  const expiry = new Date(intermediate.validTo);
  if (expiry.getTime() <= Date.now()) {
    throw broken(
      `intermediate.crt expired at ${expiry.toISOString()}; move intermediate.* away to re-issue it from root.key`,
    );
  }
}

function readCertificate(path: string): X509Certificate {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (error) {
    throw new CaError(`${path}: cannot read the CA certificate (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    return new X509Certificate(pem);
  } catch {
    throw new CaError(`${path}: not a PEM certificate`);
  }
}
