// Online DNSSEC signing for the built-in server's zones: one ECDSA P-256/SHA-256 key per zone (algorithm 13,
// RFC 6605) serving as both KSK and ZSK (a combined signing key, flags 257), DNSKEY and DS records, and RRSIGs
// computed on RFC 4034 canonical form when an answer needs them, cached so a hot name is signed once.
//
// Denial of existence is compact ("black lies", RFC 9824): a negative answer carries one NSEC owned by the query
// name itself, whose next name is `\000.<qname>` (the name's immediate successor in canonical order) so it covers
// nothing else, and whose type bitmap lists what the name has (NODATA) or only RRSIG, NSEC and NXNAME (the name does
// not exist). Chosen over NSEC3 and RFC 4470's "white lies" because an online signer holding no sorted zone can
// build it from the query alone, it needs one signature per negative answer instead of two or three, and it never
// reveals neighbouring names (no zone walking). The cost is the NXDOMAIN rcode: a signed answer for a missing
// name is NOERROR (with NXNAME in the bitmap saying what it is), because the proof has the form of a NODATA proof
// and validators check the rcode against it; the server answers NXDOMAIN whenever no proof goes along (no DO
// bit) and when the client sets RFC 9824's Compact Answer OK (CO) flag, which asks for it.
import { createHash, createPrivateKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { chmodSync, closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import dnsPacket from 'dns-packet';
import { KEY_FILE_MODE } from '../pki/ca-files.ts';
import { nameToWire } from './wire.ts';

/** ECDSA Curve P-256 with SHA-256 (RFC 6605). */
export const ALGORITHM_ECDSAP256SHA256 = 13;
/** Zone Key + Secure Entry Point: the key signs the zone and is the one the parent's DS names. */
const CSK_FLAGS = 257;
/** RFC 9824's type that marks a nonexistent name in a compact-denial NSEC bitmap. */
export const NXNAME_TYPE = 128;
const CLASS_IN = 1;

/** Where the zones' signing keys live under PKI_ROOT_DIR. */
export const dnssecKeyDir = (pkiRootDir: string): string => join(pkiRootDir, 'dnssec');

export interface SignerOptions {
  /** Directory of the `<zone>.key` PEM files (mode 0600), created if missing: dnssecKeyDir(PKI_ROOT_DIR). */
  readonly keyDir: string;
  /** Signatures are valid from this far in the past (clock skew between us and validators). */
  readonly inceptionSkewSeconds?: number;
  /** ... to this far ahead; a cached signature is renewed once less than half of this remains. */
  readonly validitySeconds?: number;
  /** How many signatures to keep (names queried at random each get their own NSEC signature). */
  readonly cacheSize?: number;
  readonly now?: () => number;
}

/** What the answer engine needs of DNSSEC: the zone's DNSKEY RRset and RRSIGs over RRsets of the zone. */
export interface RRsetSigner {
  dnskeys(zone: string): dnsPacket.Answer[];
  /** The RRSIG over `rrset` (answers of one owner, type and TTL), signed by `zone`'s key. */
  sign(zone: string, rrset: readonly dnsPacket.Answer[]): dnsPacket.Answer;
}

interface ZoneKey {
  readonly privateKey: KeyObject;
  readonly dnskey: dnsPacket.DnskeyAnswer;
  readonly keyTag: number;
}

interface CachedSignature {
  /** The canonical RRset the signature covers: reused only for exactly these records. */
  readonly records: Buffer;
  readonly rrsig: dnsPacket.Answer;
  readonly renewAt: number;
}

export class ZoneSigner implements RRsetSigner {
  readonly #keyDir: string;
  readonly #skew: number;
  readonly #validity: number;
  readonly #cacheSize: number;
  readonly #now: () => number;
  readonly #keys = new Map<string, ZoneKey>();
  /** Owner and type -> the last signature made for them; a Map's order makes it a least-recently-used cache. */
  readonly #signatures = new Map<string, CachedSignature>();

  constructor(options: SignerOptions) {
    this.#keyDir = options.keyDir;
    this.#skew = options.inceptionSkewSeconds ?? 3600;
    this.#validity = options.validitySeconds ?? 7 * 86_400;
    this.#cacheSize = options.cacheSize ?? 50_000;
    this.#now = options.now ?? Date.now;
  }

  dnskeys(zone: string): dnsPacket.Answer[] {
    return [this.#key(zone).dnskey];
  }

  /** The zone's DS record (digest type 2, SHA-256) in presentation form, for the parent zone. */
  ds(zone: string): string {
    return dsRecord(zone, this.#key(zone));
  }

  sign(zone: string, rrset: readonly dnsPacket.Answer[]): dnsPacket.Answer {
    const first = rrset[0];
    if (first === undefined) throw new Error('DNSSEC: cannot sign an empty RRset');
    const owner = first.name.toLowerCase();
    const ttl = 'ttl' in first ? (first.ttl ?? 0) : 0;
    const records = canonicalRecords(owner, ttl, rrset);
    const cacheKey = `${owner} ${first.type}`;
    const now = Math.floor(this.#now() / 1000);
    const cached = this.#signatures.get(cacheKey);
    if (cached !== undefined) this.#signatures.delete(cacheKey);
    if (cached !== undefined && cached.renewAt > now && cached.records.equals(records)) {
      this.#signatures.set(cacheKey, cached);
      return cached.rrsig;
    }
    const rrsig = this.#signRecords(zone, owner, first.type, ttl, records, now);
    this.#signatures.set(cacheKey, { records, rrsig, renewAt: now + Math.floor(this.#validity / 2) });
    if (this.#signatures.size > this.#cacheSize) this.#signatures.delete(this.#signatures.keys().next().value as string);
    return rrsig;
  }

  /** RFC 4034 section 3.1.8.1: the RRSIG rdata without its signature, then the RRset in canonical form. */
  #signRecords(zone: string, owner: string, type: string, ttl: number, records: Buffer, now: number): dnsPacket.Answer {
    const key = this.#key(zone);
    const data: dnsPacket.RrsigData = {
      typeCovered: type,
      algorithm: ALGORITHM_ECDSAP256SHA256,
      labels: labelCount(owner),
      originalTTL: ttl,
      expiration: (now + this.#validity) >>> 0,
      inception: (now - this.#skew) >>> 0,
      keyTag: key.keyTag,
      signersName: zone,
      signature: Buffer.alloc(0),
    };
    const head = rdataOf({ type: 'RRSIG', name: '.', data });
    // ieee-p1363: r || s, 32 bytes each, the form RFC 6605 section 4 puts on the wire (not DER).
    const signature = sign('sha256', Buffer.concat([head, records]), { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
    return { type: 'RRSIG', name: owner, ttl, class: 'IN', data: { ...data, signature } };
  }

  #key(zone: string): ZoneKey {
    let key = this.#keys.get(zone);
    if (key === undefined) {
      key = zoneKey(zone, loadOrCreateKey(this.#keyDir, zone));
      this.#keys.set(zone, key);
    }
    return key;
  }
}

/** A zone key's records for the parent zone and for display: its DNSKEY, key tag and DS. */
export interface ZoneKeyRecords {
  readonly dnskey: dnsPacket.DnskeyAnswer;
  readonly keyTag: number;
  /** Digest type 2 (SHA-256), in presentation form. */
  readonly ds: string;
}

/**
 * The records of the key a server already made for `zone` under `keyDir`, or undefined when it has none yet. Unlike
 * ZoneSigner it never creates a key: an operator reading the DS must get the key the server signs with, not a new one.
 */
export function existingZoneKey(keyDir: string, zone: string): ZoneKeyRecords | undefined {
  let privateKey: KeyObject;
  try {
    privateKey = readKey(join(keyDir, `${zone}.key`));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const key = zoneKey(zone, privateKey);
  return { dnskey: key.dnskey, keyTag: key.keyTag, ds: dsRecord(zone, key) };
}

/** RFC 4034 section 5.1.4 with RFC 4509's SHA-256: digest = SHA-256(owner name in wire form | DNSKEY rdata). */
function dsRecord(zone: string, key: ZoneKey): string {
  const digest = createHash('sha256').update(nameToWire(zone)).update(rdataOf(key.dnskey)).digest('hex').toUpperCase();
  return `${zone}. IN DS ${key.keyTag} ${ALGORITHM_ECDSAP256SHA256} 2 ${digest}`;
}

/**
 * The zone's private key from `<keyDir>/<zone>.key`, created on first use. A new key is written to a private
 * temporary file and hard-linked into place, which fails if another process got there first: then both use the
 * one on disk, so processes sharing PKI_ROOT_DIR serve one key.
 */
function loadOrCreateKey(keyDir: string, zone: string): KeyObject {
  const path = join(keyDir, `${zone}.key`);
  try {
    return readKey(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (mkdirSync(keyDir, { recursive: true, mode: 0o700 }) !== undefined) chmodSync(keyDir, 0o700);
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const temp = `${path}.${process.pid}.tmp`;
  const fd = openSync(temp, 'w', KEY_FILE_MODE);
  try {
    writeSync(fd, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
    fsyncSync(fd);
    closeSync(fd);
    chmodSync(temp, KEY_FILE_MODE);
    linkSync(temp, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    rmSync(temp, { force: true });
  }
  return readKey(path);
}

function readKey(path: string): KeyObject {
  const pem = readFileSync(path, 'utf8');
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    throw new Error(`${path}: not a PKCS#8 PEM private key`);
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error(`${path}: a DNSSEC zone key must be ECDSA P-256 (algorithm 13)`);
  }
  return key;
}

function zoneKey(zone: string, privateKey: KeyObject): ZoneKey {
  // RFC 6605 section 4: the public key is Q = x || y, 32 bytes each, without the uncompressed-point prefix.
  const jwk = privateKey.export({ format: 'jwk' });
  const point = Buffer.concat([Buffer.from(jwk.x ?? '', 'base64url'), Buffer.from(jwk.y ?? '', 'base64url')]);
  const dnskey: dnsPacket.DnskeyAnswer = {
    type: 'DNSKEY',
    name: zone,
    ttl: 3600,
    class: 'IN',
    data: { flags: CSK_FLAGS, algorithm: ALGORITHM_ECDSAP256SHA256, key: point },
  };
  return { privateKey, dnskey, keyTag: keyTag(rdataOf(dnskey)) };
}

/** RFC 4034 appendix B: the key tag, a 16-bit checksum of the DNSKEY rdata. */
export function keyTag(dnskeyRdata: Buffer): number {
  let sum = 0;
  for (let i = 0; i < dnskeyRdata.length; i++) sum += i & 1 ? dnskeyRdata[i]! : dnskeyRdata[i]! << 8;
  sum += (sum >>> 16) & 0xffff;
  return sum & 0xffff;
}

/** The labels of an owner name, the root and a leading wildcard not counted (RFC 4034 section 3.1.3). */
function labelCount(owner: string): number {
  if (owner === '' || owner === '.') return 0;
  const labels = owner.split('.');
  return labels[0] === '*' ? labels.length - 1 : labels.length;
}

/**
 * RFC 4034 section 6: each record as owner (lowercase, uncompressed) | type | class | original TTL | rdata length |
 * rdata, sorted by rdata as unsigned bytes, duplicates dropped. dns-packet never compresses names, and the names
 * inside the rdata of the types signed here (SOA, NS, SRV, ...) are already lowercase, so its rdata is canonical.
 */
function canonicalRecords(owner: string, ttl: number, rrset: readonly dnsPacket.Answer[]): Buffer {
  const ownerWire = nameToWire(owner);
  const wires = rrset.map(answerWire);
  const type = wires[0]?.type ?? 0;
  const rdatas = wires.map((w) => w.rdata).sort(Buffer.compare);
  const parts: Buffer[] = [];
  rdatas.forEach((rdata, i) => {
    if (i > 0 && rdata.equals(rdatas[i - 1]!)) return;
    const fixed = Buffer.alloc(10);
    fixed.writeUInt16BE(type, 0);
    fixed.writeUInt16BE(CLASS_IN, 2);
    fixed.writeUInt32BE(ttl, 4);
    fixed.writeUInt16BE(rdata.length, 8);
    parts.push(ownerWire, fixed, rdata);
  });
  return Buffer.concat(parts);
}

/** One answer's rdata, as dns-packet writes it. */
export const rdataOf = (answer: dnsPacket.Answer): Buffer => answerWire(answer).rdata;

/** An answer's numeric type and rdata: dns-packet encodes it alone under the root name, the rest is cut off. */
function answerWire(answer: dnsPacket.Answer): { type: number; rdata: Buffer } {
  const wire = dnsPacket.encode({ answers: [{ ...answer, name: '.' } as dnsPacket.Answer] });
  // header (12) | root name (1) | type (2) | class (2) | TTL (4) | rdata length (2) | rdata
  return { type: wire.readUInt16BE(12 + 1), rdata: wire.subarray(12 + 1 + 10) };
}
