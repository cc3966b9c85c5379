import { execFile, spawnSync } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DomainError } from '../../src/errors.ts';
import { CaError } from '../../src/pki/ca-error.ts';
import { type CaOptions, type CertificateAuthority, loadOrCreateCa } from '../../src/pki/ca.ts';
import { isIssuedByRegistry } from '../../src/pki/chain.ts';
import { buildCrl, type RevokedEntry } from '../../src/pki/crl.ts';
import { parseCsr, type RequestedKey } from '../../src/pki/csr.ts';
import { fingerprintOf, normalizeSerial, serialOf } from '../../src/pki/fingerprint.ts';
import { type IssuedCertificate, issueAgentCertificate } from '../../src/pki/issue.ts';
import { acceptKey } from '../../src/pki/key-policy.ts';
import { generateAgentKey } from '../../src/pki/keys.ts';
import { parseRevocationReason, reasonCode } from '../../src/pki/revocation-reason.ts';
import { X509Certificate as PeculiarCertificate, X509Crl, X509CrlReason } from '../../src/pki/x509.ts';

const execFileAsync = promisify(execFile);
const TRUST_DOMAIN = 'atr.test';
const CRL_URL = 'http://127.0.0.1:8000/v1/crl';
const DAY_MS = 24 * 60 * 60 * 1000;
const CA_FILES = ['intermediate.crt', 'intermediate.key', 'root.crt', 'root.key'];
const ALLOWED_REASONS =
  'unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation, ' +
  'privilegeWithdrawn, aACompromise';

const work = mkdtempSync(join(tmpdir(), 'atr-pki-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

let counter = 0;
const freshDir = (label: string) => join(work, `${label}-${++counter}`);
const caOptions = (dir: string, extra: Partial<CaOptions> = {}): CaOptions => ({
  dir,
  validityDays: 3650,
  trustDomain: TRUST_DOMAIN,
  crlUrl: CRL_URL,
  ...extra,
});

/** Runs openssl and returns its exit status and everything it printed. */
function openssl(...args: string[]): { status: number | null; output: string } {
  const result = spawnSync('openssl', args, { encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

function writeTemp(name: string, data: string | Uint8Array): string {
  const path = join(work, `${++counter}-${name}`);
  writeFileSync(path, data);
  return path;
}

/** Where opensslCsr left the private key of each CSR it made. */
const keyPathOf = new Map<string, string>();

/** An openssl-made CSR whose subject and SAN name someone else, to prove the registry ignores them. */
function opensslCsr(...keyOptions: string[]): string {
  const csrPath = join(work, `${++counter}.csr`);
  const keyPath = join(work, `${counter}.key`);
  const newKey = keyOptions[0] === '-key' ? [] : ['-nodes', '-keyout', keyPath];
  const result = openssl(
    'req', '-new', ...keyOptions, ...newKey, '-out', csrPath,
    '-subj', '/CN=evil.example/O=Evil', '-addext', 'subjectAltName=DNS:evil.example,URI:spiffe://evil/agent/x',
  );
  expect(result.status, result.output).toBe(0);
  const pem = readFileSync(csrPath, 'utf8');
  keyPathOf.set(pem, keyPath);
  return pem;
}

const derOf = (pem: string) => Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
const csrPem = (der: Uint8Array) =>
  `-----BEGIN CERTIFICATE REQUEST-----\n${Buffer.from(der).toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;

/** Matches a DomainError with the code and the exact message (string) or a message pattern. */
const refusal = (code: string, message: string | RegExp) =>
  expect.objectContaining({
    name: 'DomainError',
    code,
    message: typeof message === 'string' ? message : expect.stringMatching(message),
  });

let ca: CertificateAuthority;
let caDir: string;
let bundlePath: string;
let csrs: { ecP256: string; ecP384: string; rsa2048: string; ed25519: string; rsa1024: string };

beforeAll(async () => {
  caDir = freshDir('ca');
  ca = await loadOrCreateCa(caOptions(caDir));
  bundlePath = writeTemp('bundle.pem', ca.trustBundlePem);
  csrs = {
    ecP256: opensslCsr('-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'),
    ecP384: opensslCsr('-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384'),
    rsa2048: opensslCsr('-newkey', 'rsa:2048'),
    ed25519: opensslCsr('-newkey', 'ed25519'),
    rsa1024: opensslCsr('-newkey', 'rsa:1024'),
  };
});

async function issueFrom(
  authority: CertificateAuthority,
  agentName: string,
  options: { key?: RequestedKey; now?: Date; validityDays?: number } = {},
): Promise<IssuedCertificate> {
  const key = options.key ?? (await generateAgentKey()).key;
  return issueAgentCertificate(authority, { agentName, key, validityDays: options.validityDays ?? 30, now: options.now });
}

const issue = (agentName: string, options: { now?: Date; validityDays?: number } = {}) =>
  issueFrom(ca, agentName, options);

function verifyChain(leafPem: string): { status: number | null; output: string } {
  const root = join(caDir, 'root.crt');
  return openssl('verify', '-CAfile', root, '-untrusted', join(caDir, 'intermediate.crt'), writeTemp('leaf.crt', leafPem));
}

const opensslText = (path: string) => openssl('x509', '-in', path, '-noout', '-text').output;
const skiOf = (path: string) => /Subject Key Identifier:\s+(\S+)/.exec(opensslText(path))?.[1];
const mode = (path: string) => statSync(path).mode & 0o777;

describe('loadOrCreateCa', () => {
  it('creates root and intermediate files with private modes and nothing else', () => {
    expect(readdirSync(caDir).sort()).toEqual(CA_FILES);
    expect(mode(caDir)).toBe(0o700);
    expect(mode(join(caDir, 'root.key'))).toBe(0o600);
    expect(mode(join(caDir, 'intermediate.key'))).toBe(0o600);
    expect(readFileSync(join(caDir, 'intermediate.key'), 'utf8')).toContain('-----BEGIN PRIVATE KEY-----');
    expect(readFileSync(join(caDir, 'root.crt'), 'utf8')).toBe(ca.rootPem);
    expect(readFileSync(join(caDir, 'intermediate.crt'), 'utf8')).toBe(ca.intermediatePem);
    expect(ca.trustBundlePem).toBe(ca.intermediatePem + ca.rootPem);
  });

  it('builds an EC P-256 root and a pathLen 0 intermediate with the requested validity', () => {
    const { root, intermediate } = ca;
    expect(root.subject).toBe(`O=${TRUST_DOMAIN}\nCN=ATR Root CA`);
    expect(intermediate.subject).toBe(`O=${TRUST_DOMAIN}\nCN=ATR Intermediate CA`);
    expect(intermediate.issuer).toBe(root.subject);
    expect(root.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(intermediate.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(root.serialNumber).toMatch(/^[0-7][0-9A-F]{31}$/);
    expect(intermediate.serialNumber).toMatch(/^[0-7][0-9A-F]{31}$/);
    const lifetimeDays = (cert: X509Certificate) => (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / DAY_MS;
    expect(lifetimeDays(root)).toBeCloseTo(3650, 1);
    expect(lifetimeDays(intermediate)).toBeCloseTo(1825, 1);

    const rootText = opensslText(join(caDir, 'root.crt'));
    expect(rootText).toMatch(/Basic Constraints: critical\s+CA:TRUE\n/);
    expect(rootText).toMatch(/Key Usage: critical\s+Certificate Sign, CRL Sign/);
    expect(rootText).toContain('Signature Algorithm: ecdsa-with-SHA256');
    const intermediateText = opensslText(join(caDir, 'intermediate.crt'));
    expect(intermediateText).toMatch(/Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    expect(intermediateText).toMatch(/Key Usage: critical\s+Certificate Sign, CRL Sign/);
    const rootSki = skiOf(join(caDir, 'root.crt'));
    expect(rootSki).toMatch(/^([0-9A-F]{2}:){19}[0-9A-F]{2}$/);
    expect(intermediateText).toMatch(new RegExp(`Authority Key Identifier:\\s+(keyid:)?${rootSki}`));
    const chain = openssl('verify', '-CAfile', join(caDir, 'root.crt'), join(caDir, 'intermediate.crt'));
    expect(chain.output).toMatch(/intermediate\.crt: OK/);
  });

  it('loads the same CA again without needing root.key', async () => {
    const dir = freshDir('reload');
    const first = await loadOrCreateCa(caOptions(dir));
    renameSync(join(dir, 'root.key'), join(work, `${++counter}-root.key.offline`));
    const second = await loadOrCreateCa(caOptions(dir));
    expect(second.root.fingerprint256).toBe(first.root.fingerprint256);
    expect(second.intermediate.fingerprint256).toBe(first.intermediate.fingerprint256);
    const pkcs8 = (authority: CertificateAuthority) => authority.signingKey.export({ type: 'pkcs8', format: 'der' });
    expect(pkcs8(second)).toEqual(pkcs8(first));
  });

  it('encrypts keys with the passphrase and refuses a wrong or missing one', async () => {
    const dir = freshDir('encrypted');
    const passphrase = 'correct horse battery staple';
    const created = await loadOrCreateCa(caOptions(dir, { passphrase }));
    for (const file of ['root.key', 'intermediate.key']) {
      const pem = readFileSync(join(dir, file), 'utf8');
      expect(pem).toContain('-----BEGIN ENCRYPTED PRIVATE KEY-----');
      expect(() => createPrivateKey(pem)).toThrow();
      // Standard PKCS#8 (PBES2, AES-256-CBC) that openssl reads with the same passphrase.
      const decrypted = openssl('pkey', '-in', join(dir, file), '-passin', `pass:${passphrase}`, '-noout');
      expect(decrypted.status, decrypted.output).toBe(0);
    }
    expect(openssl('asn1parse', '-in', join(dir, 'intermediate.key')).output).toContain('aes-256-cbc');

    const reloaded = await loadOrCreateCa(caOptions(dir, { passphrase }));
    expect(reloaded.intermediate.fingerprint256).toBe(created.intermediate.fingerprint256);

    const wrong = await loadOrCreateCa(caOptions(dir, { passphrase: 'hunter2' })).catch((error: unknown) => error);
    expect(wrong).toBeInstanceOf(CaError);
    expect((wrong as CaError).message).toMatch(/intermediate\.key: wrong CA key passphrase/);
    expect((wrong as CaError).message).not.toMatch(/hunter2|correct horse/);
    await expect(loadOrCreateCa(caOptions(dir))).rejects.toThrow(/intermediate\.key: the CA key is encrypted/);
    await expect(loadOrCreateCa(caOptions(caDir, { passphrase }))).rejects.toThrow(
      /passphrase is configured but the key is not encrypted/,
    );
  });

  it('ends with one CA when several loads race on an empty directory in one process', async () => {
    const dir = freshDir('race');
    const cas = await Promise.all(Array.from({ length: 4 }, () => loadOrCreateCa(caOptions(dir))));
    const onDisk = new X509Certificate(readFileSync(join(dir, 'intermediate.crt')));
    for (const each of cas) {
      expect(each.intermediate.fingerprint256).toBe(onDisk.fingerprint256);
      expect(each.root.fingerprint256).toBe(cas[0]?.root.fingerprint256);
    }
    expect(readdirSync(dir).sort()).toEqual(CA_FILES);
  });

  it('ends with one CA when separate processes start together on an empty directory', async () => {
    const dir = freshDir('process-race');
    const caModule = new URL('../../src/pki/ca.ts', import.meta.url).pathname;
    const tsx = new URL('../../node_modules/.bin/tsx', import.meta.url).pathname;
    // Each child imports first, then waits for a common instant so that the CA creation itself overlaps.
    const startAt = Date.now() + 4000;
    const script = `(async () => {
      const { loadOrCreateCa } = await import(${JSON.stringify(caModule)});
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, ${startAt} - Date.now())));
      const ca = await loadOrCreateCa(${JSON.stringify(caOptions(dir))});
      console.log(JSON.stringify([ca.root.fingerprint256, ca.intermediate.fingerprint256]));
    })()`;
    const outputs = await Promise.all([1, 2, 3].map(() => execFileAsync(tsx, ['-e', script], { encoding: 'utf8' })));
    const seen = new Set(outputs.map(({ stdout }) => stdout.trim()));
    expect(seen.size).toBe(1);
    const mine = await loadOrCreateCa(caOptions(dir));
    expect(JSON.parse([...seen][0] ?? '[]')).toEqual([mine.root.fingerprint256, mine.intermediate.fingerprint256]);
    expect(readdirSync(dir).sort()).toEqual(CA_FILES);
  }, 30_000);

  it('refuses files that do not belong together', async () => {
    const other = freshDir('other');
    await loadOrCreateCa(caOptions(other));
    const dir = freshDir('mixed');
    await loadOrCreateCa(caOptions(dir));
    const load = () => loadOrCreateCa(caOptions(dir));

    writeFileSync(join(dir, 'intermediate.key'), readFileSync(join(other, 'intermediate.key')));
    await expect(load()).rejects.toThrow(/intermediate\.key does not match intermediate\.crt/);

    writeFileSync(join(dir, 'intermediate.crt'), readFileSync(join(other, 'intermediate.crt')));
    await expect(load()).rejects.toThrow(/intermediate\.crt is not a CA certificate signed by root\.crt/);

    writeFileSync(join(dir, 'intermediate.crt'), 'not a certificate');
    await expect(load()).rejects.toThrow(/intermediate\.crt: not a PEM certificate/);
  });

  it('re-issues the intermediate from the existing root when the intermediate files are moved away', async () => {
    const dir = freshDir('reissue');
    const first = await loadOrCreateCa(caOptions(dir));
    rmSync(join(dir, 'intermediate.crt'));
    rmSync(join(dir, 'intermediate.key'));
    const second = await loadOrCreateCa(caOptions(dir));
    expect(second.root.fingerprint256).toBe(first.root.fingerprint256);
    expect(second.intermediate.fingerprint256).not.toBe(first.intermediate.fingerprint256);
    expect(second.intermediate.verify(first.root.publicKey)).toBe(true);
  });

  it('takes over a lock left behind by a process that died', async () => {
    const dir = freshDir('stale');
    mkdirSync(dir, { mode: 0o700 });
    const dead = spawnSync(process.execPath, ['-e', 'process.exit(0)']).pid;
    writeFileSync(join(dir, 'ca.lock'), `${hostname()} ${dead}`);
    const created = await loadOrCreateCa(caOptions(dir));
    expect(created.intermediate.verify(created.root.publicKey)).toBe(true);
    expect(existsSync(join(dir, 'ca.lock'))).toBe(false);
  });
});

describe('issueAgentCertificate', () => {
  const now = new Date('2030-06-01T12:00:00.500Z');
  let issued: IssuedCertificate;
  let cert: X509Certificate;

  beforeAll(async () => {
    issued = await issue('alpha.agents.example', { now });
    cert = new X509Certificate(issued.pem);
  });

  it('names the agent in the subject, the dNSName SAN and the SPIFFE URI SAN', () => {
    expect(cert.subject).toBe(`O=${TRUST_DOMAIN}\nCN=alpha.agents.example`);
    expect(cert.subjectAltName).toBe(
      `DNS:alpha.agents.example, URI:spiffe://${TRUST_DOMAIN}/agent/alpha.agents.example`,
    );
    expect(cert.issuer).toBe(ca.intermediate.subject);
    expect(cert.ca).toBe(false);
    expect(cert.checkIssued(ca.intermediate)).toBe(true);
    expect(cert.verify(ca.intermediate.publicKey)).toBe(true);
  });

  it('backdates notBefore by 60 s and ends validityDays after now, in whole seconds', () => {
    expect(issued.notBefore.toISOString()).toBe('2030-06-01T11:59:00.000Z');
    expect(issued.notAfter.toISOString()).toBe('2030-07-01T12:00:00.000Z');
    expect(Date.parse(cert.validFrom)).toBe(issued.notBefore.getTime());
    expect(Date.parse(cert.validTo)).toBe(issued.notAfter.getTime());
  });

  it('reports the serial and fingerprint of the certificate it returns', () => {
    expect(issued.der).toEqual(cert.raw);
    expect(issued.fingerprint).toBe(createHash('sha256').update(cert.raw).digest('hex'));
    expect(issued.fingerprint).toBe(cert.fingerprint256.replace(/:/g, '').toLowerCase());
    expect(issued.fingerprint).toBe(fingerprintOf(cert.raw));
    expect(issued.serial).toMatch(/^[0-7][0-9a-f]{31}$/);
    expect(issued.serial).toBe(serialOf(cert));
    expect(issued.serial).toBe(cert.serialNumber.toLowerCase());
  });

  it('has the extension profile openssl expects of a client and server certificate', () => {
    const text = opensslText(writeTemp('alpha.crt', issued.pem));
    expect(text).toMatch(/Extended Key Usage:\s+TLS Web Client Authentication, TLS Web Server Authentication/);
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature\n/);
    expect(text).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toMatch(new RegExp(`CRL Distribution Points:\\s+Full Name:\\s+URI:${CRL_URL}`));
    expect(text).toMatch(/Subject Key Identifier:\s+([0-9A-F]{2}:){19}[0-9A-F]{2}\n/);
    const intermediateSki = skiOf(join(caDir, 'intermediate.crt'));
    expect(text).toMatch(new RegExp(`Authority Key Identifier:\\s+(keyid:)?${intermediateSki}`));
    expect(text).toContain('Signature Algorithm: ecdsa-with-SHA256');
  });

  it('chains to the root with openssl verify', async () => {
    const current = await issue('beta.agents.example');
    const result = verifyChain(current.pem);
    expect(result.output).toMatch(/leaf\.crt: OK/);
    expect(result.status).toBe(0);
    const withoutIntermediate = openssl('verify', '-CAfile', join(caDir, 'root.crt'), writeTemp('leaf.crt', current.pem));
    expect(withoutIntermediate.status).not.toBe(0);
  });

  it('encodes dates from 2050 on as GeneralizedTime', async () => {
    const longLived = await loadOrCreateCa(caOptions(freshDir('century'), { validityDays: 36500 }));
    const late = await issueFrom(longLived, 'late.example', { now: new Date('2049-12-31T00:00:00Z'), validityDays: 2 });
    expect(new Date(new X509Certificate(late.pem).validTo).toISOString()).toBe('2050-01-02T00:00:00.000Z');
    const asn1 = openssl('asn1parse', '-in', writeTemp('late.crt', late.pem)).output;
    expect(asn1).toMatch(/UTCTIME\s+:491230235900Z[\s\S]*GENERALIZEDTIME\s+:20500102000000Z/);
  });

  it('never lets a certificate outlive the intermediate', async () => {
    const shortLived = await loadOrCreateCa(caOptions(freshDir('short'), { validityDays: 2 }));
    const brief = await issueFrom(shortLived, 'brief.example', { validityDays: 30 });
    expect(brief.notAfter.getTime()).toBe(Date.parse(shortLived.intermediate.validTo));
    expect(Date.parse(new X509Certificate(brief.pem).validTo)).toBe(brief.notAfter.getTime());
  });

  it('leaves CN out of names longer than 64 characters and keeps them in the SANs', async () => {
    const name = `${'a'.repeat(63)}.${'b'.repeat(20)}.example`;
    const long = await issue(name);
    const parsed = new X509Certificate(long.pem);
    expect(parsed.subject).toBe(`O=${TRUST_DOMAIN}`);
    expect(parsed.subjectAltName).toBe(`DNS:${name}, URI:spiffe://${TRUST_DOMAIN}/agent/${name}`);
    expect(verifyChain(long.pem).status).toBe(0);
  });

  it('gives every certificate a different serial', async () => {
    const { key } = await generateAgentKey();
    const serials = new Set<string>();
    for (let i = 0; i < 200; i++) serials.add((await issueFrom(ca, 'same.example', { key })).serial);
    expect(serials.size).toBe(200);
  });

  it('refuses a non-positive validity and a name that is not printable ASCII', async () => {
    await expect(issue('x.example', { validityDays: 0 })).rejects.toEqual(
      refusal('invalid_argument', 'validity_days: must be a positive number of days, got 0'),
    );
    await expect(issue('bad name.example')).rejects.toEqual(
      refusal('invalid_argument', 'agent_name: must be 1-253 printable ASCII characters'),
    );
  });
});

describe('generateAgentKey', () => {
  it('returns an EC P-256 key whose PKCS#8 private half matches the certified public key', async () => {
    const { key, privateKeyPem } = await generateAgentKey();
    expect(key.algorithm).toBe('EC P-256');
    expect(privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    const privateKey = createPrivateKey(privateKeyPem);
    expect(createPublicKey(privateKey).export({ type: 'spki', format: 'der' })).toEqual(key.publicKey);
    const cert = new X509Certificate((await issueFrom(ca, 'gen.example', { key })).pem);
    expect(cert.checkPrivateKey(privateKey)).toBe(true);
  });
});

describe('parseCsr', () => {
  const accepted = [
    ['ecP256', 'EC P-256'],
    ['ecP384', 'EC P-384'],
    ['rsa2048', 'RSA 2048'],
    ['ed25519', 'Ed25519'],
  ] as const;

  it.each(accepted)('accepts an openssl %s CSR and certifies its key under the agent name only', async (which, algorithm) => {
    const key = await parseCsr(csrs[which]);
    expect(key.algorithm).toBe(algorithm);
    const csrPublicKey = openssl('req', '-in', writeTemp('req.csr', csrs[which]), '-pubkey', '-noout').output;
    expect(key.publicKey).toEqual(createPublicKey(csrPublicKey).export({ type: 'spki', format: 'der' }));

    const name = `${which.toLowerCase()}.example`;
    const issued = await issueFrom(ca, name, { key });
    const cert = new X509Certificate(issued.pem);
    expect(cert.publicKey.export({ type: 'spki', format: 'der' })).toEqual(key.publicKey);
    expect(cert.subject).toBe(`O=${TRUST_DOMAIN}\nCN=${name}`);
    expect(cert.subjectAltName).toBe(`DNS:${name}, URI:spiffe://${TRUST_DOMAIN}/agent/${name}`);
    expect(verifyChain(issued.pem).status).toBe(0);
  });

  it('accepts RSA-PSS signatures', async () => {
    const rsaKey = keyPathOf.get(csrs.rsa2048) ?? '';
    const pss = opensslCsr('-key', rsaKey, '-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32');
    expect(openssl('req', '-in', writeTemp('pss.csr', pss), '-noout', '-text').output).toContain('rsassaPss');
    expect((await parseCsr(pss)).algorithm).toBe('RSA 2048');
  });

  it('accepts the NEW CERTIFICATE REQUEST label, CRLF lines and surrounding whitespace', async () => {
    const legacy = csrs.ecP256.replace(/CERTIFICATE REQUEST/g, 'NEW CERTIFICATE REQUEST');
    expect((await parseCsr(`\n  ${legacy}\n\n`)).algorithm).toBe('EC P-256');
    expect((await parseCsr(csrs.ecP256.replace(/\n/g, '\r\n'))).algorithm).toBe('EC P-256');
  });

  it('refuses RSA keys under 2048 bits, naming the rule', async () => {
    await expect(parseCsr(csrs.rsa1024)).rejects.toEqual(
      refusal('invalid_csr', 'csr_pem: RSA keys must be at least 2048 bits'),
    );
  });

  it('refuses other curves and key types, naming the accepted ones', async () => {
    await expect(parseCsr(opensslCsr('-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp256k1'))).rejects.toEqual(
      refusal('invalid_csr', 'csr_pem: EC curve secp256k1 is not accepted; use P-256 or P-384'),
    );
    await expect(parseCsr(opensslCsr('-newkey', 'ed448'))).rejects.toEqual(
      refusal('invalid_csr', 'csr_pem: key type ed448 is not accepted; use EC P-256, EC P-384, RSA 2048-8192 or Ed25519'),
    );
  });

  it('refuses RSA keys with a small public exponent', () => {
    const csrPublicKey = openssl('req', '-in', writeTemp('rsa.csr', csrs.rsa2048), '-pubkey', '-noout').output;
    const jwk = createPublicKey(csrPublicKey).export({ format: 'jwk' });
    const exponent3 = createPublicKey({ key: { ...jwk, e: 'Aw' }, format: 'jwk' }).export({ type: 'spki', format: 'der' });
    expect(() => acceptKey(exponent3, 'csr_pem')).toThrow('csr_pem: RSA public exponent must be odd and at least 65537');
  });

  it('refuses a CSR whose signature was tampered with (no proof of possession)', async () => {
    const der = derOf(csrs.ecP256);
    der[der.length - 1] = (der[der.length - 1] ?? 0) ^ 0x01; // last byte of the ECDSA signature's s
    const tampered = csrPem(der);
    const opensslVerdict = openssl('req', '-in', writeTemp('tampered.csr', tampered), '-verify', '-noout');
    expect(opensslVerdict.output).toMatch(/verify failure|bad signature/i);
    await expect(parseCsr(tampered)).rejects.toEqual(
      refusal('invalid_csr', 'csr_pem: signature does not verify (no proof of possession)'),
    );
  });

  it('refuses a CSR whose EC point is not on the curve, as openssl does', async () => {
    const der = derOf(csrs.ecP256);
    const header = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');
    const point = Buffer.from(der).indexOf(header) + header.length;
    expect(der[point]).toBe(0x04);
    der[point + 64] = (der[point + 64] ?? 0) ^ 0x01; // last byte of y
    const offCurve = csrPem(der);
    expect(openssl('req', '-in', writeTemp('off-curve.csr', offCurve), '-verify', '-noout').status).not.toBe(0);
    await expect(parseCsr(offCurve)).rejects.toEqual(refusal('invalid_csr', 'csr_pem: public key is malformed or not a supported type'));
  });

  it('refuses a CSR signed with SHA-1', async () => {
    const keyPath = writeTemp('p256.key', '');
    openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', keyPath);
    const csrPath = writeTemp('sha1.csr', '');
    expect(openssl('req', '-new', '-key', keyPath, '-sha1', '-subj', '/CN=x', '-out', csrPath).status).toBe(0);
    await expect(parseCsr(readFileSync(csrPath, 'utf8'))).rejects.toEqual(
      refusal('invalid_csr', /^csr_pem: signature algorithm ECDSA with SHA-1 is not accepted/),
    );
  });

  const LABELS = 'CERTIFICATE REQUEST or NEW CERTIFICATE REQUEST';
  const OUTSIDE = /^csr_pem: must contain nothing but whitespace around the PEM block$/;
  const NOT_PKCS10 = /^csr_pem: is not a DER-encoded PKCS#10 certificate request$/;
  const malformed: [label: string, input: () => string, message: RegExp][] = [
    ['garbage', () => 'hello', new RegExp(`^csr_pem: must be a PEM block labelled ${LABELS}$`)],
    ['an empty string', () => '', /^csr_pem: must be a PEM block/],
    ['two PEM blocks', () => csrs.ecP256 + csrs.ed25519, /^csr_pem: must be exactly one PEM block, found 2$/],
    ['trailing garbage', () => `${csrs.ecP256}garbage`, OUTSIDE],
    ['leading garbage', () => `garbage\n${csrs.ecP256}`, OUTSIDE],
    ['a certificate', () => ca.intermediatePem, new RegExp(`^csr_pem: PEM label must be ${LABELS}, not CERTIFICATE$`)],
    ['a body that is not base64', () => csrs.ecP256.replace(/\n[A-Za-z0-9]/, '\n*'), /^csr_pem: PEM body is not base64/],
    ['base64 that is not DER', () => csrPem(Buffer.from('hello world!')), NOT_PKCS10],
    ['a DER certificate in a CSR block', () => csrPem(derOf(ca.intermediatePem)), NOT_PKCS10],
    [
      'bytes after the DER request',
      () => csrPem(Buffer.concat([derOf(csrs.ecP256), Buffer.of(5, 0)])),
      /^csr_pem: has data after the DER-encoded request$/,
    ],
  ];
  it.each(malformed)('refuses %s', async (_label, input, message) => {
    await expect(parseCsr(input())).rejects.toEqual(refusal('invalid_csr', message));
  });

  it('refuses input over 64 KiB before parsing it', async () => {
    await expect(parseCsr(csrs.ecP256 + ' '.repeat(64 * 1024))).rejects.toEqual(
      refusal('input_too_large', 'csr_pem: must be at most 65536 bytes'),
    );
  });
});

describe('buildCrl', () => {
  let revoked: IssuedCertificate;
  let superseded: IssuedCertificate;
  let good: IssuedCertificate;
  let crlDer: Buffer;
  let crlPemPath: string;

  const crlVerify = (der: Uint8Array, ...extra: string[]) =>
    openssl('crl', '-inform', 'DER', '-in', writeTemp('crl.der', der), '-CAfile', bundlePath, '-noout', ...extra);

  beforeAll(async () => {
    [revoked, superseded, good] = await Promise.all([issue('revoked.example'), issue('old.example'), issue('ok.example')]);
    const colonSeparated = superseded.serial.toUpperCase().replace(/(..)(?!$)/g, '$1:');
    const entries: RevokedEntry[] = [
      { serial: revoked.serial, revokedAt: new Date('2030-01-02T03:04:05Z'), reason: 'keyCompromise' },
      { serial: colonSeparated, revokedAt: new Date(), reason: 'superseded' },
    ];
    crlDer = await buildCrl(ca, entries, { crlNumber: 42n, thisUpdate: new Date(Date.now() - 1000) });
    const pem = openssl('crl', '-inform', 'DER', '-in', writeTemp('crl.der', crlDer), '-outform', 'PEM');
    expect(pem.status).toBe(0);
    crlPemPath = writeTemp('crl.pem', pem.output);
  });

  it('verifies against the trust bundle with openssl crl', () => {
    const result = crlVerify(crlDer);
    expect(result.output).toMatch(/verify OK/);
    expect(result.status).toBe(0);
  });

  it('is a v2 CRL with AKI, CRL number and a reason per entry', () => {
    const text = openssl('crl', '-in', crlPemPath, '-noout', '-text').output;
    expect(text).toContain('Version 2 (0x1)');
    expect(text).toMatch(/CRL Number:\s+42\n/);
    const intermediateSki = skiOf(join(caDir, 'intermediate.crt'));
    expect(text).toMatch(new RegExp(`Authority Key Identifier:\\s+(keyid:)?${intermediateSki}`));
    expect(text).toContain(`Issuer: O = ${TRUST_DOMAIN}, CN = ATR Intermediate CA`);
    expect(text).toMatch(
      new RegExp(
        `Serial Number: ${revoked.serial.toUpperCase()}\\s+Revocation Date: Jan  2 03:04:05 2030 GMT\\s+` +
          'CRL entry extensions:\\s+X509v3 CRL Reason Code:\\s+Key Compromise',
      ),
    );
    expect(text).toMatch(new RegExp(`Serial Number: ${superseded.serial.toUpperCase()}[\\s\\S]+?Superseded`));
    expect(text).not.toContain(good.serial.toUpperCase());
  });

  it('parses and verifies with @peculiar/x509 too', async () => {
    const crl = new X509Crl(crlDer);
    expect(await crl.verify({ publicKey: new PeculiarCertificate(ca.intermediatePem) })).toBe(true);
    expect(await crl.verify({ publicKey: new PeculiarCertificate(ca.rootPem) })).toBe(false);
    expect(crl.nextUpdate?.getTime()).toBe(crl.thisUpdate.getTime() + DAY_MS);
    expect(crl.findRevoked(revoked.serial)?.reason).toBe(X509CrlReason.keyCompromise);
    expect(crl.findRevoked(superseded.serial)?.reason).toBe(X509CrlReason.superseded);
    expect(crl.findRevoked(good.serial)).toBeNull();
  });

  it('makes openssl verify -crl_check reject the revoked leaves and accept the other', () => {
    const check = (leaf: IssuedCertificate) =>
      openssl('verify', '-crl_check', '-CAfile', bundlePath, '-CRLfile', crlPemPath, writeTemp('leaf.crt', leaf.pem));
    const refused = check(revoked);
    expect(refused.status).not.toBe(0);
    expect(refused.output).toContain('certificate revoked');
    expect(check(superseded).output).toContain('certificate revoked');
    const accepted = check(good);
    expect(accepted.output).toMatch(/leaf\.crt: OK/);
    expect(accepted.status).toBe(0);
  });

  it('leaves the reason out for unspecified, and the list out when nothing is revoked', async () => {
    const entry: RevokedEntry = { serial: good.serial, revokedAt: new Date(), reason: 'unspecified' };
    const parsed = new X509Crl(await buildCrl(ca, [entry], { crlNumber: 1 }));
    expect(parsed.findRevoked(good.serial)?.reason).toBeUndefined();
    expect(parsed.findRevoked(good.serial)?.extensions).toEqual([]);
    const empty = crlVerify(await buildCrl(ca, [], { crlNumber: 2 }), '-text');
    expect(empty.output).toMatch(/verify OK/);
    expect(empty.output).toContain('No Revoked Certificates.');
  });

  it('handles lists longer than 64 KiB', async () => {
    const entries = Array.from({ length: 3000 }, (_, i): RevokedEntry => ({
      serial: (0x1000000 + i).toString(16),
      revokedAt: new Date(),
      reason: 'superseded',
    }));
    const der = await buildCrl(ca, entries, { crlNumber: 3 });
    expect(der.length).toBeGreaterThan(65_536);
    const result = crlVerify(der, '-text');
    expect(result.output).toMatch(/verify OK/);
    expect(result.output.match(/Serial Number:/g)).toHaveLength(3000);
  });

  it('refuses bad serials, CRL numbers and update windows', async () => {
    const at = new Date();
    const withSerial = (serial: string) => buildCrl(ca, [{ serial, revokedAt: at, reason: 'superseded' }], { crlNumber: 1 });
    await expect(withSerial('xyz')).rejects.toEqual(refusal('invalid_argument', /^serial: "xyz" is not a hex serial number/));
    await expect(withSerial('ab'.repeat(21))).rejects.toEqual(refusal('invalid_argument', /^serial: .* at most 20 octets$/));
    for (const crlNumber of [-1, 1.5, 1n << 200n]) {
      await expect(buildCrl(ca, [], { crlNumber })).rejects.toEqual(refusal('invalid_argument', /^crl_number: /));
    }
    await expect(buildCrl(ca, [], { crlNumber: 1, thisUpdate: at, nextUpdate: at })).rejects.toEqual(
      refusal('invalid_argument', 'next_update: must be after this_update'),
    );
  });
});

describe('isIssuedByRegistry', () => {
  it('accepts certificates from this CA and refuses a look-alike CA with the same names', async () => {
    const ours = new X509Certificate((await issue('same-name.example')).pem);
    expect(isIssuedByRegistry(ca, ours)).toBe(true);

    const impostor = await loadOrCreateCa(caOptions(freshDir('impostor')));
    const theirs = new X509Certificate((await issueFrom(impostor, 'same-name.example')).pem);
    expect(theirs.issuer).toBe(ours.issuer);
    expect(theirs.subject).toBe(ours.subject);
    expect(isIssuedByRegistry(ca, theirs)).toBe(false);
    expect(isIssuedByRegistry(impostor, ours)).toBe(false);

    // Same names and even our authority key identifier: only the signature tells them apart.
    const forger = { ...impostor, intermediateKeyId: ca.intermediateKeyId };
    const forged = new X509Certificate((await issueFrom(forger, 'same-name.example')).pem);
    expect(forged.checkIssued(ca.intermediate)).toBe(true);
    expect(isIssuedByRegistry(ca, forged)).toBe(false);
  });

  it('refuses the CA certificates themselves', () => {
    expect(isIssuedByRegistry(ca, ca.intermediate)).toBe(false);
    expect(isIssuedByRegistry(ca, ca.root)).toBe(false);
  });
});

describe('parseRevocationReason', () => {
  it.each([
    ['keyCompromise', 'keyCompromise'],
    ['key_compromise', 'keyCompromise'],
    ['KEY_COMPROMISE', 'keyCompromise'],
    ['KeyCompromise', 'keyCompromise'],
    ['  superseded ', 'superseded'],
    ['CA_COMPROMISE', 'cACompromise'],
    ['cessation_of_operation', 'cessationOfOperation'],
    ['aACompromise', 'aACompromise'],
    ['privilege_withdrawn', 'privilegeWithdrawn'],
    ['affiliationChanged', 'affiliationChanged'],
    ['', 'unspecified'],
    ['UNSPECIFIED', 'unspecified'],
  ] as const)('reads %j as %s', (raw, reason) => {
    expect(parseRevocationReason(raw)).toBe(reason);
  });

  it.each([
    ['certificateHold', 'certificateHold'],
    ['CERTIFICATE_HOLD', 'certificateHold'],
    ['removeFromCRL', 'removeFromCRL'],
    ['remove_from_crl', 'removeFromCRL'],
  ])('refuses %s for revocation', (raw, name) => {
    expect(() => parseRevocationReason(raw)).toThrow(DomainError);
    expect(() => parseRevocationReason(raw)).toThrow(
      `reason: ${name} cannot be used to revoke (revocation is permanent); use one of ${ALLOWED_REASONS}`,
    );
  });

  it('refuses unknown reasons, listing the allowed names', () => {
    expect(() => parseRevocationReason('stolen')).toThrow(
      refusal('invalid_argument', `reason: "stolen" is not a revocation reason; use one of ${ALLOWED_REASONS}`),
    );
  });

  it('maps names to RFC 5280 codes', () => {
    expect(reasonCode('unspecified')).toBe(0);
    expect(reasonCode('keyCompromise')).toBe(1);
    expect(reasonCode('cACompromise')).toBe(2);
    expect(reasonCode('superseded')).toBe(4);
    expect(reasonCode('certificateHold')).toBe(6);
    expect(reasonCode('removeFromCRL')).toBe(8);
    expect(reasonCode('aACompromise')).toBe(10);
  });
});

describe('serial numbers', () => {
  it('normalises hex serials to lowercase without colons or leading zero bytes', () => {
    expect(normalizeSerial('00:AB:CD')).toBe('abcd');
    expect(normalizeSerial('0ABC')).toBe('0abc');
    expect(normalizeSerial('abc')).toBe('0abc');
    expect(normalizeSerial('00')).toBe('00');
  });
});
