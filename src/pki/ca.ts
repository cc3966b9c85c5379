import { type KeyObject, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { relative } from 'node:path';
import { CaError } from './ca-error.ts';
import { CERT_FILE_MODE, type CaPaths, caPaths, intermediateKeyPath, intermediatePaths, writeFileAtomic } from './ca-files.ts';
import { readCaKey, writeCaKey } from './ca-key.ts';
import { type CaCertificateRequest, intermediateCertificate, rootCertificate } from './ca-profile.ts';
import { keyIdOf, subjectNameOf } from './certificate.ts';
import { serialOf } from './fingerprint.ts';
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

/** What signs a CRL: the intermediate's key, subject Name (DER) and subjectKeyIdentifier (the CRL's AKI). */
export interface CrlSigner {
  readonly signingKey: KeyObject;
  readonly intermediateName: Buffer;
  readonly intermediateKeyId: Buffer;
}

/** One intermediate of the registry: the current one issues; earlier ones keep signing their CRLs until they expire. */
export interface Intermediate extends CrlSigner {
  readonly certificate: X509Certificate;
  readonly pem: string;
  /** As fingerprint.ts normalizes serials: names its directory under intermediates/ and its CRL's path (/v1/crl/<serial>). */
  readonly serial: string;
}

/** Told when a refresh finds the CA on disk changed (`atr ca rotate-intermediate`, run by any process). */
export interface CaWatcher {
  /** The CA now serves what is on disk. */
  changed?(): void;
  /** What is on disk does not load; the CA keeps serving what it had. */
  failed?(error: Error): void;
}

export interface CertificateAuthority {
  readonly rootPem: string;
  /** The current intermediate's PEM. */
  readonly intermediatePem: string;
  /** The current intermediate's PEM, then every earlier intermediate not yet expired, then the root's. */
  readonly trustBundlePem: string;
  readonly root: X509Certificate;
  /** The current intermediate, which issues every new certificate. */
  readonly intermediate: X509Certificate;
  readonly trustDomain: string;
  readonly crlUrl: string;
  /** The current intermediate's private key (EC P-256): signs agent certificates and its CRL. */
  readonly signingKey: KeyObject;
  /** The current intermediate's subject Name (DER): the issuer of every new agent certificate. */
  readonly intermediateName: Buffer;
  /** The current intermediate's subjectKeyIdentifier: the authorityKeyIdentifier of everything it signs. */
  readonly intermediateKeyId: Buffer;
  /** The current intermediate, whose certificate, key, name and key identifier the fields above repeat. */
  readonly current: Intermediate;
  /** The current intermediate first, then earlier ones whose certificates may still be valid. */
  readonly intermediates: readonly Intermediate[];
  /**
   * Loads the CA again when intermediate.crt changed on disk since it was last read (one stat otherwise); true when
   * it loaded a new one. Cheap enough to call before every issuance and on every unknown issuer.
   */
  refresh(): boolean;
  /** Tells `watcher` about refreshes from now on; returns the function that stops it. */
  watch(watcher: CaWatcher): () => void;
}

/**
 * The registry's CA from `options.dir`, created on first use: an EC P-256 root and intermediate. Afterwards only
 * the intermediates' keys are read, never root.key, which may be kept offline (it is needed again only to rotate the
 * intermediate, intermediate-rotation.ts). Processes starting together on an empty directory agree on one CA.
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
  return liveCa(paths, options, passphrase);
}

async function createCa(paths: CaPaths, options: CaOptions, passphrase: string | undefined): Promise<void> {
  const request = { trustDomain: options.trustDomain, validityDays: options.validityDays, now: new Date() };
  const root = existsSync(paths.rootCert) ? loadRoot(paths, passphrase) : await createRoot(paths, request, passphrase);
  const intermediate = await generateP256KeyPair();
  const der = intermediateCertificate(intermediate.publicKey, root, request);
  writeCaKey(paths.intermediateKey, intermediate.privateKey, passphrase);
  writeFileAtomic(paths.intermediateCert, toPem(der, 'CERTIFICATE'), CERT_FILE_MODE);
}

export interface Root {
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

/**
 * An existing root, to sign a new intermediate or the root's CRL: the only uses of root.key, which may be kept
 * offline and brought back (or named by `keyPath`) for them.
 */
export function loadRoot(paths: CaPaths, passphrase: string | undefined, keyPath = paths.rootKey): Root {
  const certificate = readCertificate(paths.rootCert);
  if (!existsSync(keyPath)) {
    throw new CaError(`${keyPath}: the root CA key is not there (kept offline?); this needs it, bring it back or name where it is`);
  }
  const privateKey = readCaKey(keyPath, passphrase);
  if (!certificate.checkPrivateKey(privateKey)) throw new CaError(`${keyPath} does not match ${paths.rootCert}`);
  return { certificate, privateKey };
}

/** The CA as last read from disk; a refresh reads it whole again. */
interface CaState {
  readonly root: X509Certificate;
  readonly rootPem: string;
  readonly intermediates: readonly [Intermediate, ...Intermediate[]];
  readonly trustBundlePem: string;
}

type CaFields = Omit<CertificateAuthority, 'trustDomain' | 'crlUrl' | 'refresh' | 'watch'>;

/**
 * The CA as a plain object whose fields a refresh replaces in place: everything holding it (issuance, verification,
 * the CRLs, the trust bundle) sees a rotation without being told, and a copy (`{ ...ca }`) is a snapshot.
 */
function liveCa(paths: CaPaths, options: CaOptions, passphrase: string | undefined): CertificateAuthority {
  const watchers = new Set<CaWatcher>();
  // intermediate.crt as last seen: every rotation replaces it, last.
  let seen = fileVersion(paths.intermediateCert);
  let state = readState(paths, passphrase);
  const ca: CaFields & Pick<CertificateAuthority, 'trustDomain' | 'crlUrl' | 'refresh' | 'watch'> = {
    ...fieldsOf(state),
    trustDomain: options.trustDomain,
    crlUrl: options.crlUrl,
    refresh() {
      const now = fileVersion(paths.intermediateCert);
      if (now === seen) return false;
      seen = now;
      try {
        state = readState(paths, passphrase, state);
      } catch (error) {
        for (const watcher of watchers) watcher.failed?.(error as Error);
        return false;
      }
      Object.assign(ca, fieldsOf(state));
      for (const watcher of watchers) watcher.changed?.();
      return true;
    },
    watch(watcher) {
      watchers.add(watcher);
      return () => watchers.delete(watcher);
    },
  };
  return ca;
}

function fieldsOf(state: CaState): CaFields {
  const [current] = state.intermediates;
  return {
    rootPem: state.rootPem,
    intermediatePem: current.pem,
    trustBundlePem: state.trustBundlePem,
    root: state.root,
    intermediate: current.certificate,
    signingKey: current.signingKey,
    intermediateName: current.intermediateName,
    intermediateKeyId: current.intermediateKeyId,
    current,
    intermediates: state.intermediates,
  };
}

/** Changes whenever the file is replaced (writeFileAtomic renames a new inode over it) or rewritten. */
function fileVersion(path: string): string {
  try {
    const { ino, mtimeMs, size } = statSync(path);
    return `${ino}:${mtimeMs}:${size}`;
  } catch {
    return 'missing';
  }
}

/**
 * Reads root.crt, the current intermediate (intermediate.crt) and every earlier one under intermediates/ that has
 * not expired, each checked against the root and its key. Intermediates `previous` already holds are kept as they
 * are, so that what was computed for them (issuance profiles, verified chains) stays valid.
 */
function readState(paths: CaPaths, passphrase: string | undefined, previous?: CaState): CaState {
  const root = readCertificate(paths.rootCert);
  if (!root.ca || !root.checkIssued(root) || !root.verify(root.publicKey)) {
    throw new CaError(`CA in ${paths.dir}: root.crt is not a self-signed CA certificate`);
  }
  const known = new Map((previous?.root.raw.equals(root.raw) ? previous.intermediates : []).map((each) => [each.certificate.fingerprint256, each]));
  const certificate = readCertificate(paths.intermediateCert);
  const current = known.get(certificate.fingerprint256) ?? readIntermediate(paths, root, certificate, passphrase, true);
  const expiry = new Date(current.certificate.validTo);
  if (expiry.getTime() <= Date.now()) {
    throw new CaError(`CA in ${paths.dir}: intermediate.crt expired at ${expiry.toISOString()}; run atr ca rotate-intermediate`);
  }
  const earlier = earlierIntermediates(paths, current.serial, new Date()).map(
    (file) => known.get(file.fingerprint256) ?? readIntermediate(paths, root, file, passphrase, false),
  );
  const rootPem = toPem(root.raw, 'CERTIFICATE');
  const intermediates: [Intermediate, ...Intermediate[]] = [current, ...earlier];
  return { root, rootPem, intermediates, trustBundlePem: intermediates.map((each) => each.pem).join('') + rootPem };
}

/** The certificates under intermediates/ other than the current one, newest first, leaving out those expired by `now`. */
export function earlierIntermediates(paths: CaPaths, currentSerial: string, now: Date): X509Certificate[] {
  const serials = existsSync(paths.intermediates) ? readdirSync(paths.intermediates) : [];
  return serials
    .filter((serial) => serial !== currentSerial && existsSync(intermediatePaths(paths, serial).cert))
    .map((serial) => readCertificate(intermediatePaths(paths, serial).cert))
    .filter((certificate) => Date.parse(certificate.validTo) > now.getTime())
    .sort((a, b) => Date.parse(b.validFrom) - Date.parse(a.validFrom));
}

/**
 * An intermediate and its key, checked against the root. Its key is in intermediates/<serial>/ once a rotation
 * involved it; before any rotation, the current one's is intermediate.key.
 */
function readIntermediate(paths: CaPaths, root: X509Certificate, certificate: X509Certificate, passphrase: string | undefined, current: boolean): Intermediate {
  const serial = serialOf(certificate);
  const certFile = current ? 'intermediate.crt' : relative(paths.dir, intermediatePaths(paths, serial).cert);
  const keyPath = current ? intermediateKeyPath(paths, serial) : intermediatePaths(paths, serial).key;
  const keyFile = relative(paths.dir, keyPath);
  const broken = (rule: string) => new CaError(`CA in ${paths.dir}: ${rule}`);
  if (!certificate.ca || !certificate.checkIssued(root) || !certificate.verify(root.publicKey)) {
    throw broken(`${certFile} is not a CA certificate signed by root.crt`);
  }
  const signingKey = readCaKey(keyPath, passphrase);
  if (!certificate.checkPrivateKey(signingKey)) throw broken(`${keyFile} does not match ${certFile}`);
  if (signingKey.asymmetricKeyType !== 'ec' || signingKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw broken(`${keyFile} must be an EC P-256 key (agent certificates are signed ECDSA-SHA256)`);
  }
  return {
    certificate,
    pem: toPem(certificate.raw, 'CERTIFICATE'),
    serial,
    signingKey,
    intermediateName: subjectNameOf(certificate.raw),
    intermediateKeyId: keyIdOf(certificate),
  };
}

export function readCertificate(path: string): X509Certificate {
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
