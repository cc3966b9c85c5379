import { readFileSync } from 'node:fs';
import { loadConfig } from '../config/load.ts';
import { caPaths } from '../pki/ca-files.ts';
import { type CaCertificateStatus, type CaStatus, type CrlStatus, crlStatus, readCaStatus } from '../pki/ca-status.ts';
import { rotateIntermediate } from '../pki/intermediate-rotation.ts';
import { fingerprintFromColonHex, serialOf } from '../pki/fingerprint.ts';
import { type Invocation, stringOption } from './command.ts';
import { readHidden } from './hidden-input.ts';
import { localActor, openRegistryDatabase } from './registry-database.ts';

const DAY_MS = 24 * 60 * 60 * 1000;
const CRL_FETCH_TIMEOUT_MS = 5_000;

/** A served CRL's facts, or why they could not be read. */
type ServedCrl = { readonly url: string } & ({ readonly crl: CrlStatus } | { readonly error: string });

/**
 * `atr ca status`: the CA in PKI_ROOT_DIR, read from its files with the server's configuration (no API key, no
 * passphrase): root and intermediates with subjects, fingerprints, expiry and how their keys are kept, and each
 * intermediate's CRL as the registry serves it (CRL number, next update). Warnings for what needs doing soon.
 */
export async function status({ out, server }: Invocation): Promise<number> {
  const config = loadConfig();
  const ca = readCaStatus(config.pkiRootDir);
  const crls = await Promise.all(ca.intermediates.map((intermediate) => servedCrl(`${server}/v1/crl/${intermediate.serial}`)));
  const warnings = warningsOf(ca, config.caExpiryWarningDays);
  if (out.json) {
    out.line(JSON.stringify(statusJson(ca, crls, warnings), (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value), 2));
    return 0;
  }
  out.fields([['PKI_ROOT_DIR', ca.dir]]);
  out.line();
  showCertificate(out, 'root', ca.root);
  out.fields([['root CRL', ca.rootCrl ? crlLine(ca.rootCrl) : 'not signed yet (root.crl)']]);
  ca.intermediates.forEach((intermediate, i) => {
    out.line();
    showCertificate(out, intermediate.current ? 'intermediate (current)' : 'intermediate (earlier)', intermediate);
    const served = crls[i];
    if (served) out.fields([['CRL', 'crl' in served ? `${crlLine(served.crl)} (${served.url})` : `${served.error} (${served.url})`]]);
  });
  for (const warning of warnings) out.line(`\nwarning: ${warning}`);
  return 0;
}

/**
 * `atr ca rotate-intermediate`: a new intermediate from the root, current from now on for every server on
 * PKI_ROOT_DIR (they load it within a second, no restart); the previous one stays trusted and keeps signing its CRL
 * until it expires. The only command that needs the root key: from PKI_ROOT_DIR or --root-key, decrypted with
 * CA_KEY_PASSPHRASE or a passphrase typed on the terminal.
 */
export async function rotate({ out, values }: Invocation): Promise<number> {
  const config = loadConfig();
  const rootKeyPath = stringOption(values, 'root-key') ?? caPaths(config.pkiRootDir).rootKey;
  const passphrase = config.caKeyPassphrase || undefined;
  const rootPassphrase = passphrase ?? (isEncrypted(rootKeyPath) ? await readHidden('root CA key passphrase: ', 'the root key is encrypted: set CA_KEY_PASSPHRASE') : undefined);
  // Opened first: a rotation is audited in the registry's database, so none is made where it could not be.
  const { SqlRegistryStore } = await import('../db/registry-store.ts');
  const store = await SqlRegistryStore.open(await openRegistryDatabase(config.databaseUrl));
  let facts: RotationFacts;
  try {
    const { previous, next } = await rotateIntermediate({
      dir: config.pkiRootDir,
      rootKeyPath,
      rootPassphrase,
      passphrase,
      trustDomain: config.trustDomain,
      validityDays: config.caValidityDays,
    });
    facts = {
      previous: { serial: serialOf(previous), notAfter: new Date(previous.validTo).toISOString() },
      current: { serial: serialOf(next), fingerprint: fingerprintFromColonHex(next.fingerprint256), notAfter: new Date(next.validTo).toISOString() },
    };
    await store.appendAudit({ eventType: 'ca.rotated', actor: localActor(), agentName: '', metadata: auditMetadata(facts) }, new Date());
  } finally {
    await store.close();
  }
  if (out.json) {
    out.line(JSON.stringify(facts, null, 2));
    return 0;
  }
  out.line('rotated the intermediate CA; servers on PKI_ROOT_DIR issue from the new one within a second');
  out.fields([
    ['current', `${facts.current.serial}, until ${facts.current.notAfter}`],
    ['previous', `${facts.previous.serial}, trusted and its CRL served (/v1/crl/${facts.previous.serial}) until ${facts.previous.notAfter}`],
  ]);
  if (rootKeyPath.startsWith(config.pkiRootDir)) out.line('the root key is in PKI_ROOT_DIR: move it offline again if it is kept there');
  return 0;
}

interface RotationFacts {
  readonly previous: { readonly serial: string; readonly notAfter: string };
  readonly current: { readonly serial: string; readonly fingerprint: string; readonly notAfter: string };
}

/** What the `ca.rotated` audit event says of a rotation. */
function auditMetadata({ previous, current }: RotationFacts): Record<string, string> {
  return { previous_serial: previous.serial, serial: current.serial, fingerprint: current.fingerprint, not_after: current.notAfter };
}

function isEncrypted(keyPath: string): boolean {
  try {
    return readFileSync(keyPath, 'utf8').includes('-----BEGIN ENCRYPTED PRIVATE KEY-----');
  } catch {
    return false; // rotateIntermediate says what is missing
  }
}

async function servedCrl(url: string): Promise<ServedCrl> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(CRL_FETCH_TIMEOUT_MS) });
    if (!response.ok) return { url, error: `not served (HTTP ${response.status})` };
    return { url, crl: crlStatus(new Uint8Array(await response.arrayBuffer())) };
  } catch (error) {
    return { url, error: `not read (${(error as Error).message})` };
  }
}

function warningsOf(ca: CaStatus, warningDays: number): string[] {
  const warnings: string[] = [];
  const current = ca.intermediates.find((intermediate) => intermediate.current);
  for (const [which, certificate] of [['current intermediate', current], ['root', ca.root]] as const) {
    if (certificate === undefined) continue;
    const days = daysLeft(certificate);
    if (days < warningDays) warnings.push(`the ${which} expires in ${days} days (CA_EXPIRY_WARNING_DAYS=${warningDays})${which === 'root' ? '' : ': run atr ca rotate-intermediate'}`);
  }
  if (ca.root.key.state !== 'absent') warnings.push(`${ca.root.key.file} is in PKI_ROOT_DIR; the servers never need it, keep it offline`);
  for (const certificate of [ca.root, ...ca.intermediates]) {
    if (certificate.key.mode !== undefined && certificate.key.mode !== '0600') warnings.push(`${certificate.key.file} has mode ${certificate.key.mode}, not 0600`);
  }
  if (ca.intermediates.some((intermediate) => intermediate.key.state === 'absent')) warnings.push('an intermediate key is missing: its CRL cannot be signed');
  return warnings;
}

const daysLeft = (certificate: CaCertificateStatus) => Math.floor((certificate.notAfter.getTime() - Date.now()) / DAY_MS);

function statusJson(ca: CaStatus, crls: readonly ServedCrl[], warnings: readonly string[]) {
  return {
    dir: ca.dir,
    root: { ...ca.root, daysLeft: daysLeft(ca.root), crl: ca.rootCrl ?? null },
    intermediates: ca.intermediates.map((intermediate, i) => ({ ...intermediate, daysLeft: daysLeft(intermediate), crl: crls[i] ?? null })),
    warnings,
  };
}

function showCertificate(out: Invocation['out'], role: string, certificate: CaCertificateStatus): void {
  const key = certificate.key.state === 'absent' ? `${certificate.key.file}: absent (offline)` : `${certificate.key.file}: ${certificate.key.state}, mode ${certificate.key.mode}`;
  out.fields([
    [role, certificate.subject],
    ['serial', certificate.serial],
    ['sha256', certificate.fingerprint],
    ['valid', `${certificate.notBefore.toISOString()} to ${certificate.notAfter.toISOString()} (${daysLeft(certificate)} days left)`],
    ['key', key],
  ]);
}

function crlLine(crl: CrlStatus): string {
  const next = crl.nextUpdate ? `next update ${crl.nextUpdate.toISOString()}` : 'no next update';
  return `number ${crl.crlNumber}, ${next}, ${crl.entries} entries`;
}
