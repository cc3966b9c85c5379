import { createCipheriv, createDecipheriv, createHash, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { BackupError } from './backup-error.ts';

// The sealed archive: a fixed 56-byte header, authenticated as AES-256-GCM's additional data, then the ciphertext
// and the 16-byte tag. The key comes from the passphrase through scrypt with the header's salt and parameters.
//
//   offset size
//   0      8    magic "ATRBKUP\0"
//   8      1    format version (1)
//   9      1    scrypt log2(N)
//   10     1    scrypt r
//   11     1    scrypt p
//   12     16   scrypt salt
//   28     12   AES-GCM nonce
//   40     16   passphrase check: the first 16 bytes of SHA-256 over the second half of scrypt's 64-byte output
//   56     n    ciphertext
//   56+n   16   GCM tag
const MAGIC = Buffer.from('ATRBKUP\0', 'latin1');
export const ARCHIVE_FORMAT_VERSION = 1;
const HEADER_BYTES = 56;
const TAG_BYTES = 16;
const SALT_BYTES = 16;
const NONCE_BYTES = 12;
const CHECK_BYTES = 16;

/** scrypt at N = 2^17, r = 8: 128 MiB and about half a second per derivation, for a file that may travel far. */
const SEAL_PARAMETERS: ScryptParameters = { log2N: 17, r: 8, p: 1 };
/** A header may ask for up to 1 GiB: more is a damaged or hostile file, refused before deriving anything. */
const MAX_SCRYPT_MEMORY = 1024 * 1024 * 1024;

interface ScryptParameters {
  readonly log2N: number;
  readonly r: number;
  readonly p: number;
}

/** Encrypts `plaintext` under `passphrase`; the result is self-describing (see the header above). */
export function sealArchive(plaintext: Uint8Array, passphrase: string): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt8(ARCHIVE_FORMAT_VERSION, 8);
  header.writeUInt8(SEAL_PARAMETERS.log2N, 9);
  header.writeUInt8(SEAL_PARAMETERS.r, 10);
  header.writeUInt8(SEAL_PARAMETERS.p, 11);
  randomBytes(SALT_BYTES).copy(header, 12);
  randomBytes(NONCE_BYTES).copy(header, 28);
  const { key, check } = deriveKeys(passphrase, header.subarray(12, 28), SEAL_PARAMETERS);
  check.copy(header, 40);
  const cipher = createCipheriv('aes-256-gcm', key, header.subarray(28, 40));
  cipher.setAAD(header);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([header, ciphertext, cipher.getAuthTag()]);
}

/** The plaintext of a sealed archive; a foreign, truncated or changed file, or a wrong passphrase, is a BackupError. */
export function openArchive(archive: Uint8Array, passphrase: string): Buffer {
  const bytes = Buffer.from(archive.buffer, archive.byteOffset, archive.byteLength);
  if (bytes.length < MAGIC.length || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new BackupError('not an atr backup (the file does not start with the backup format\'s marker)');
  }
  if (bytes.length < HEADER_BYTES + TAG_BYTES) throw new BackupError('the backup is truncated (shorter than its header)');
  const header = bytes.subarray(0, HEADER_BYTES);
  const version = header.readUInt8(8);
  if (version !== ARCHIVE_FORMAT_VERSION) {
    throw new BackupError(`the backup has format version ${version}; this atr reads version ${ARCHIVE_FORMAT_VERSION}`);
  }
  const parameters = checkedParameters({ log2N: header.readUInt8(9), r: header.readUInt8(10), p: header.readUInt8(11) });
  const { key, check } = deriveKeys(passphrase, header.subarray(12, 28), parameters);
  if (!timingSafeEqual(check, header.subarray(40, HEADER_BYTES))) {
    throw new BackupError('wrong passphrase: it does not open this backup');
  }
  const decipher = createDecipheriv('aes-256-gcm', key, header.subarray(28, 40));
  decipher.setAAD(header);
  decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(bytes.subarray(HEADER_BYTES, bytes.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw new BackupError('the backup is damaged or was changed: its contents fail authentication (truncated or tampered)');
  }
}

function checkedParameters(parameters: ScryptParameters): ScryptParameters {
  const { log2N, r, p } = parameters;
  const plausible = log2N >= 10 && log2N <= 30 && r >= 1 && p >= 1 && memoryOf(parameters) <= MAX_SCRYPT_MEMORY;
  if (!plausible) throw new BackupError(`the backup's key derivation parameters (scrypt N=2^${log2N}, r=${r}, p=${p}) are out of range: the header is damaged`);
  return parameters;
}

const memoryOf = ({ log2N, r, p }: ScryptParameters) => 128 * r * (2 ** log2N + p + 2);

/** The AES key, and a check value that tells a wrong passphrase from a damaged file without revealing the key. */
function deriveKeys(passphrase: string, salt: Uint8Array, parameters: ScryptParameters): { key: Buffer; check: Buffer } {
  const { log2N, r, p } = parameters;
  const derived = scryptSync(passphrase.normalize('NFC'), salt, 64, { N: 2 ** log2N, r, p, maxmem: memoryOf(parameters) + 1024 * 1024 });
  return { key: derived.subarray(0, 32), check: createHash('sha256').update(derived.subarray(32)).digest().subarray(0, CHECK_BYTES) };
}
