import { DomainError } from '../errors.ts';
import type { CrlSigner } from './ca.ts';
import {
  bigintInteger,
  enumerated,
  explicit,
  oid,
  sequence,
  sequenceOf,
  smallInteger,
  time,
  unsignedInteger,
} from './der.ts';
import { authorityKeyIdentifier, extension } from './extension.ts';
import { normalizeSerial } from './fingerprint.ts';
import { reasonCode, type RevocationReason } from './revocation-reason.ts';
import { ecdsaWithSha256, signedByCa } from './signed.ts';

export interface RevokedEntry {
  /** Certificate serial number, hex (colons and case ignored). */
  readonly serial: string;
  readonly revokedAt: Date;
  readonly reason: RevocationReason;
}

export interface CrlOptions {
  /** Monotonically increasing across every CRL this CA publishes. */
  readonly crlNumber: bigint | number;
  readonly thisUpdate?: Date | undefined;
  /** Default: thisUpdate + 1 day. */
  readonly nextUpdate?: Date | undefined;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const CRL_NUMBER = oid('2.5.29.20');
const REASON_CODE = oid('2.5.29.21');
/** RFC 5280 5.2.3 and 4.1.2.2: CRL numbers and serials fit in 20 octets. */
const MAX_OCTETS = 20;

/** A v2 CRL (RFC 5280 5.1) signed by `ca` (an intermediate, or the root), with AKI and CRL number, as DER. */
export async function buildCrl(
  ca: CrlSigner,
  entries: readonly RevokedEntry[],
  options: CrlOptions,
): Promise<Buffer> {
  const crlNumber = checkCrlNumber(options.crlNumber);
  const thisUpdate = options.thisUpdate ?? new Date();
  const nextUpdate = options.nextUpdate ?? new Date(thisUpdate.getTime() + DAY_MS);
  if (nextUpdate.getTime() <= thisUpdate.getTime()) {
    throw new DomainError('invalid_argument', 'next_update: must be after this_update');
  }
  const tbs = sequence(
    smallInteger(1), // v2
    ecdsaWithSha256,
    ca.intermediateName,
    time(thisUpdate),
    time(nextUpdate),
    // RFC 5280: with nothing revoked the list is absent, not empty.
    ...(entries.length > 0 ? [sequenceOf(entries.map(revokedCertificate))] : []),
    explicit(
      0,
      sequence(
        authorityKeyIdentifier(ca.intermediateKeyId),
        extension(CRL_NUMBER, false, bigintInteger(crlNumber)),
      ),
    ),
  );
  return signedByCa(tbs, ca.signingKey);
}

function revokedCertificate(entry: RevokedEntry): Buffer {
  const serial = serialBytes(entry.serial);
  const code = reasonCode(entry.reason);
  // RFC 5280 5.3.1 and the CA/B Forum BRs: the reasonCode is absent rather than unspecified (0).
  const extensions = code === 0 ? [] : [sequence(extension(REASON_CODE, false, enumerated(code)))];
  return sequence(unsignedInteger(serial), time(entry.revokedAt), ...extensions);
}

function serialBytes(serial: string): Buffer {
  const hex = normalizeSerial(serial);
  if (!/^[0-9a-f]+$/.test(hex) || hex.length / 2 > MAX_OCTETS) {
    const shown = JSON.stringify(serial.slice(0, 64));
    const rule = `is not a hex serial number of at most ${MAX_OCTETS} octets`;
    throw new DomainError('invalid_argument', `serial: ${shown} ${rule}`);
  }
  return Buffer.from(hex, 'hex');
}

function checkCrlNumber(raw: bigint | number): bigint {
  const value = typeof raw === 'number' && Number.isSafeInteger(raw) ? BigInt(raw) : raw;
  if (typeof value !== 'bigint' || value < 0n || value >= 1n << BigInt(8 * MAX_OCTETS - 1)) {
    const bits = 8 * MAX_OCTETS - 1;
    throw new DomainError('invalid_argument', `crl_number: must be a whole number from 0 to 2^${bits} - 1`);
  }
  return value;
}
