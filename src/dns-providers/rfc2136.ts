// DNS_PROVIDER=rfc2136: a ZoneChange is one DNS UPDATE (RFC 2136) to the zone's primary server over TCP, signed with
// TSIG HMAC-SHA256 (RFC 8945), whose answer must carry a valid signature too. No prerequisites; each set to publish
// is deleted whole and its records added, each set to remove deleted whole — the server applies the message
// atomically, and applying it again leaves the zone the same, so apply() is idempotent.
import { randomInt } from 'node:crypto';
import dnsPacket from 'dns-packet';
import { DnsProviderError, type DnsProvider, type PublishedType, type RRset, type ZoneChange } from '../dns/rrset.ts';
import { SVCB_TYPE, rawAnswer, toPacketAnswers } from '../dns/wire.ts';
import { silentLogger, type Logger } from '../log/logger.ts';
import { redact } from './redact.ts';
import { defaultRetryPolicy, withRetries, type RetryPolicy } from './retry.ts';
import { answerSignatureProblem, readTsig, signMessage, tsigErrorName, type TsigKey } from './tsig.ts';
import { exchangeTcp } from '../dns-client/tcp-exchange.ts';

export interface Rfc2136Settings {
  /** The primary server: host and port. */
  readonly host: string;
  readonly port: number;
  readonly keyName: string;
  /** The TSIG secret, base64, as tsig-keygen prints it. */
  readonly secret: string;
  /** How long one update may take, connection included. */
  readonly timeoutMs?: number;
  readonly retry?: RetryPolicy;
  readonly logger?: Logger;
}

const OPCODE_UPDATE = 5;
const TYPE_CODES: Readonly<Record<PublishedType, number>> = { TXT: 16, SRV: 33, TLSA: 52, SVCB: SVCB_TYPE };
/** RFC 8914 Extended DNS Error "Not Ready": the server cannot serve the zone yet (loading, transferring). */
const EDE_NOT_READY = 14;
const EDE_OPTION = 15;

/** RFC 2136 §2.5.2: "delete an RRset" is the name and type with class ANY, TTL 0 and no rdata. */
function deleteRRset(rrset: Pick<RRset, 'name' | 'type'>): dnsPacket.Answer {
  return { ...rawAnswer(rrset.name, TYPE_CODES[rrset.type], 0, Buffer.alloc(0)), class: 'ANY' } as dnsPacket.Answer;
}

/** The UPDATE message for a change: zone section the apex's SOA, no prerequisites, the update section, an OPT. */
export function updateMessage(change: ZoneChange, id: number): Buffer {
  const updates = [...change.remove.map(deleteRRset), ...change.upsert.flatMap((rrset) => [deleteRRset(rrset), ...toPacketAnswers(rrset)])];
  return dnsPacket.encode({
    id,
    type: 'query',
    flags: OPCODE_UPDATE << 11,
    questions: [{ name: change.zone, type: 'SOA', class: 'IN' }],
    answers: [],
    authorities: updates,
    // EDNS, so a server that refuses for now (a zone still loading) can say so with an Extended DNS Error.
    additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }],
  });
}

export class Rfc2136Provider implements DnsProvider {
  readonly name = 'rfc2136';
  private readonly key: TsigKey;
  private readonly logger: Logger;
  private readonly apexes = new Map<string, string>();

  constructor(private readonly settings: Rfc2136Settings) {
    this.key = { name: settings.keyName, secret: Buffer.from(settings.secret, 'base64') };
    this.logger = (settings.logger ?? silentLogger).child({ component: 'dns-rfc2136' });
  }

  async apply(change: ZoneChange): Promise<void> {
    if (change.upsert.length === 0 && change.remove.length === 0) return;
    await withRetries(
      async () => {
        try {
          await this.update(change);
        } catch (error) {
          if (error instanceof DnsProviderError) throw new DnsProviderError(redact(error.message, [this.settings.secret]), error.retryable, error.retryAfterMs);
          throw new DnsProviderError(redact(`the DNS update failed: ${String(error)}`, [this.settings.secret]), false);
        }
      },
      this.settings.retry ?? defaultRetryPolicy,
      this.logger,
      this.name,
    );
  }

  private async update(change: ZoneChange): Promise<void> {
    const id = randomInt(0, 0x10000);
    const zone = await this.apexOf(change.zone);
    const { signed, mac } = signMessage(updateMessage({ ...change, zone }, id), this.key, Math.floor(Date.now() / 1000));
    const answer = await this.exchange(signed);
    const where = `${this.settings.host}:${this.settings.port}`;
    let decoded: dnsPacket.DecodedPacket;
    try {
      decoded = dnsPacket.decode(answer);
    } catch (error) {
      throw new DnsProviderError(`the DNS server ${where} answered the update with a malformed message (${(error as Error).message})`, true);
    }
    if (decoded.id !== id || decoded.type !== 'response') throw new DnsProviderError(`the DNS server ${where} answered with a message that is not the update's answer`, true);

    const rcode = rcodeOf(answer, decoded);
    const tsig = readTsig(answer);
    if (tsig !== undefined && tsig.record.error !== 0) {
      // The server could not check the update's signature (BADSIG, BADKEY, BADTIME): its answer is not signed either.
      throw new DnsProviderError(`the DNS server ${where} refused the update: ${rcode} (TSIG ${tsigErrorName(tsig.record.error)} for key ${this.key.name})`, false);
    }
    if (tsig !== undefined) {
      const problem = answerSignatureProblem(answer, tsig, this.key, mac, Math.floor(Date.now() / 1000));
      if (problem !== undefined) throw new DnsProviderError(`the DNS server ${where}'s answer fails TSIG verification: ${problem}`, false);
    } else if (rcode === 'NOERROR') {
      // Only a signed answer says the update was applied; an unsigned success may be anyone's.
      throw new DnsProviderError(`the DNS server ${where} answered the update NOERROR without a TSIG signature: the change is not confirmed`, false);
    }
    if (rcode === 'NOERROR') return;

    const notReady = extendedErrors(decoded).includes(EDE_NOT_READY);
    const retryable = rcode === 'SERVFAIL' || (rcode === 'REFUSED' && notReady);
    const notes = [notReady ? 'not ready' : '', tsig === undefined ? 'unsigned answer' : ''].filter((note) => note !== '');
    throw new DnsProviderError(
      `the DNS server ${where} ${retryable ? 'could not apply' : 'refused'} the update of zone ${change.zone}: ${rcode}${notes.length > 0 ? ` (${notes.join(', ')})` : ''}`,
      retryable,
    );
  }

  /**
   * The zone on the server that holds `name`, as nsupdate finds it: the owner of the SOA the server answers for the
   * name, in the answer (the name is an apex) or the authority section (it lies inside a larger zone, e.g. DNS_ZONES
   * agents.example.com in the server's example.com). A server that answers without one (not authoritative) leaves
   * the name itself, and the update names what is wrong. Kept per name: zones do not move.
   */
  private async apexOf(name: string): Promise<string> {
    const known = this.apexes.get(name);
    if (known !== undefined) return known;
    const query = dnsPacket.encode({ id: randomInt(0, 0x10000), type: 'query', questions: [{ name, type: 'SOA', class: 'IN' }] });
    const answer = dnsPacket.decode(await this.exchange(query));
    const soa = [...(answer.answers ?? []), ...(answer.authorities ?? [])].find((record) => record.type === 'SOA');
    const apex = soa === undefined ? undefined : soa.name.toLowerCase().replace(/\.$/, '');
    if (apex === undefined || !(name === apex || name.endsWith(`.${apex}`))) return name;
    this.apexes.set(name, apex);
    return apex;
  }

  /** One TCP exchange: the answer, or a retryable error. */
  private async exchange(message: Buffer): Promise<Buffer> {
    const { host, port } = this.settings;
    try {
      return await exchangeTcp(host, port, message, this.settings.timeoutMs ?? 10_000);
    } catch (error) {
      throw new DnsProviderError(`the DNS server ${host}:${port} is unreachable: ${(error as Error).message}`, true);
    }
  }
}

const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'YXDOMAIN', 'YXRRSET', 'NXRRSET', 'NOTAUTH', 'NOTZONE'];

/** The answer's RCODE name: the header's four bits, and the OPT record's upper eight when it has one (RFC 6891). */
function rcodeOf(answer: Buffer, decoded: dnsPacket.DecodedPacket): string {
  const opt = decoded.additionals?.find((record) => record.type === 'OPT');
  const code = ((opt?.type === 'OPT' ? opt.extendedRcode : 0) << 4) | ((answer[3] ?? 0) & 0x0f);
  return RCODES[code] ?? `RCODE ${code}`;
}

/** The INFO-CODEs of the answer's Extended DNS Errors (RFC 8914); dns-packet hands that option over undecoded. */
function extendedErrors(decoded: dnsPacket.DecodedPacket): number[] {
  const codes: number[] = [];
  for (const record of decoded.additionals ?? []) {
    if (record.type !== 'OPT') continue;
    for (const option of record.options as readonly { code: number; data?: Buffer }[]) {
      if (option.code === EDE_OPTION && option.data !== undefined && option.data.length >= 2) codes.push(option.data.readUInt16BE(0));
    }
  }
  return codes;
}
