// A built-in DNS server on a loopback port serving one zone from a ZoneTable, and the real tools the DNS tests
// query it with (dig, delv, drill from Debian's bind9-dnsutils and ldnsutils).
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import dnsPacket from 'dns-packet';
import { ZoneSigner } from '../../src/dns/dnssec.ts';
import { createResponder, type ResponderOptions } from '../../src/dns/responder.ts';
import type { RRset } from '../../src/dns/rrset.ts';
import { ZoneTable } from '../../src/dns/zone-table.ts';
import { type DnsServerOptions, startDnsServer } from '../../src/dns-server/server.ts';

const run = promisify(execFile);

export const ZONE = 'agents.example.com';

/** What the zone holds: one agent's records of every published type, and a TXT set too large for 1232 bytes. */
export const PUBLISHED: readonly RRset[] = [
  { name: `_atr.a.${ZONE}`, type: 'TXT', ttl: 60, records: [{ strings: ['v=atr1; status=active; fp=sha256:' + 'ab'.repeat(32), 'caps=chat,search'] }] },
  { name: `_443._tcp.a.${ZONE}`, type: 'TLSA', ttl: 60, records: [{ usage: 3, selector: 1, matchingType: 1, data: 'cd'.repeat(32) }] },
  { name: `_a2a._tcp.a.${ZONE}`, type: 'SRV', ttl: 60, records: [{ priority: 10, weight: 5, port: 8443, target: 'host.example.net' }] },
  {
    name: `a._agents.${ZONE}`,
    type: 'SVCB',
    ttl: 60,
    records: [{ priority: 1, target: 'host.example.net', params: [{ key: 'alpn', value: 'h2,h3' }, { key: 'port', value: '8443' }, { key: 'ipv4hint', value: '192.0.2.7' }, { key: 'key65400', value: 'a2a' }] }],
  },
  { name: `big.${ZONE}`, type: 'TXT', ttl: 60, records: Array.from({ length: 6 }, (_, i) => ({ strings: [`${i}:${'x'.repeat(250)}`] })) },
];

export interface ZoneServer {
  readonly port: number;
  readonly table: ZoneTable;
  readonly signer: ZoneSigner | undefined;
  readonly keyDir: string;
  close(): Promise<void>;
}

export async function startZoneServer(
  options: { signed?: boolean; responder?: Partial<ResponderOptions>; server?: Partial<DnsServerOptions> } = {},
): Promise<ZoneServer> {
  const keyDir = mkdtempSync(join(tmpdir(), 'atr-dnssec-'));
  const table = new ZoneTable([ZONE]);
  table.apply({ zone: ZONE, upsert: PUBLISHED, remove: [] }, 1);
  const signer = options.signed ? new ZoneSigner({ keyDir }) : undefined;
  const respond = createResponder(table, { ttl: 60, ...(signer ? { signer } : {}), ...options.responder });
  const server = await startDnsServer({ host: '127.0.0.1', port: 0, respond, ...options.server });
  return {
    port: server.port,
    table,
    signer,
    keyDir,
    close: async () => {
      await server.close();
      rmSync(keyDir, { recursive: true, force: true });
    },
  };
}

/** dig's output for `args` against the server, without recursion and with one try. */
export async function dig(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(port), '+norec', '+time=3', '+tries=1', ...args]);
  return stdout;
}

/** The rcode dig reports (NOERROR, NXDOMAIN, ...). */
export const status = (digOutput: string): string => /status: (\w+)/.exec(digOutput)?.[1] ?? 'none';

/** delv (BIND's validator) with the zone's DNSKEY as its only trust anchor; output and exit status. */
export async function delv(port: number, anchorFile: string, ...args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await run('delv', ['@127.0.0.1', '-p', String(port), '-a', anchorFile, `+root=${ZONE}`, ...args]);
    return stdout + stderr;
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string };
    return `${failed.stdout ?? ''}${failed.stderr ?? ''}`;
  }
}

/** drill (ldns) chasing the signatures of an answer to the zone's key: a validator independent of BIND's. */
export async function drillChase(port: number, keyFile: string, ...args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await run('drill', ['-D', '-S', '-k', keyFile, '-p', String(port), '@127.0.0.1', ...args]);
    return stdout + stderr;
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string };
    return `${failed.stdout ?? ''}${failed.stderr ?? ''}`;
  }
}

/** The zone's trust anchor in delv's `trust-anchors` form and as a DNSKEY line for drill, written to `dir`. */
export function writeTrustAnchors(dir: string, signer: ZoneSigner): { delvAnchor: string; drillKey: string } {
  const dnskey = signer.dnskeys(ZONE)[0] as dnsPacket.DnskeyAnswer;
  const key = dnskey.data.key.toString('base64');
  const delvAnchor = join(dir, 'anchor.conf');
  const drillKey = join(dir, 'anchor.key');
  writeFileSync(delvAnchor, `trust-anchors {\n  ${ZONE}. static-key 257 3 13 "${key}";\n};\n`);
  writeFileSync(drillKey, `${ZONE}. 3600 IN DNSKEY 257 3 13 ${key}\n`);
  return { delvAnchor, drillKey };
}

/** Sends `message` over UDP and waits for one datagram back (or undefined after `timeoutMs`). */
export async function udpExchange(port: number, message: Buffer, timeoutMs = 2000): Promise<Buffer | undefined> {
  const socket = createSocket('udp4');
  try {
    return await new Promise<Buffer | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), timeoutMs);
      socket.once('message', (answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
      socket.send(message, port, '127.0.0.1');
    });
  } finally {
    socket.close();
  }
}

/** A query message for `name` and `type`, with EDNS (and DO) when asked. */
export function queryMessage(name: string, type: string, options: { id?: number; edns?: boolean; dnssecOk?: boolean; ednsFlags?: number } = {}): Buffer {
  const flags = (options.dnssecOk ? dnsPacket.DNSSEC_OK : 0) | (options.ednsFlags ?? 0);
  return dnsPacket.encode({
    type: 'query',
    id: options.id ?? 7,
    questions: [{ type: type as dnsPacket.RecordType, name }],
    additionals:
      options.edns || options.dnssecOk || options.ednsFlags !== undefined
        ? [{ type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags, flag_do: options.dnssecOk ?? false, options: [] }]
        : [],
  });
}
