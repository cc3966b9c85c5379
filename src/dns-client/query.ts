// Asks a DNS server one question the way any outsider would: UDP with EDNS(0), then TCP when the answer comes back
// truncated. Unlike node:dns it returns the response's flags (AD: the resolver validated it with DNSSEC) and
// every record type, TLSA and SVCB included.
import { createSocket } from 'node:dgram';
import { getServers } from 'node:dns';
import { randomInt } from 'node:crypto';
import { isIP } from 'node:net';
import dnsPacket from 'dns-packet';
import { exchangeTcp } from './tcp-exchange.ts';

export interface DnsReply {
  readonly rcode: string;
  /** AD: the resolver says it validated the answer with DNSSEC. */
  readonly authenticated: boolean;
  readonly answers: readonly dnsPacket.Answer[];
  /** The server that answered, host:port. */
  readonly server: string;
}

export interface QueryOptions {
  /** host:port or [v6]:port servers, asked in turn until one answers; default the system's resolvers. */
  readonly servers?: readonly string[];
  /** Sets DO (and AD, asking for the AD flag in the reply), so DNSSEC records and validation status come back. */
  readonly dnssec?: boolean;
  readonly timeoutMs?: number;
}

const AD = 1 << 5;
const DO = 1 << 15;
const UDP_SIZE = 1232;

/** The answer to `name` `type` from the first server that answers at all (any rcode); throws when none does. */
export async function queryDns(name: string, type: dnsPacket.RecordType, options: QueryOptions = {}): Promise<DnsReply> {
  const servers = options.servers?.length ? options.servers : getServers().map((server) => (isIP(server) === 6 ? `[${server}]:53` : server.includes(':') ? server : `${server}:53`));
  const failures: string[] = [];
  for (const server of servers) {
    try {
      return await ask(server, name, type, options);
    } catch (error) {
      failures.push(`${server}: ${(error as Error).message}`);
    }
  }
  throw new Error(`no DNS server answered for ${name} ${type} (${failures.join('; ') || 'no servers'})`);
}

async function ask(server: string, name: string, type: dnsPacket.RecordType, options: QueryOptions): Promise<DnsReply> {
  const { host, port } = hostPort(server);
  const query: dnsPacket.Packet = {
    type: 'query',
    id: randomInt(65_536),
    flags: dnsPacket.RECURSION_DESIRED | (options.dnssec ? AD : 0),
    questions: [{ type, name, class: 'IN' }],
    additionals: [{ type: 'OPT', name: '.', udpPayloadSize: UDP_SIZE, flags: options.dnssec ? DO : 0 } as dnsPacket.Answer],
  };
  const timeoutMs = options.timeoutMs ?? 2000;
  let reply = await overUdp(host, port, dnsPacket.encode(query), query.id ?? 0, timeoutMs);
  if (((reply.flags ?? 0) & dnsPacket.TRUNCATED_RESPONSE) !== 0) reply = await overTcp(host, port, dnsPacket.encode(query), timeoutMs);
  return {
    rcode: (reply as { rcode?: string }).rcode ?? 'NOERROR',
    authenticated: ((reply.flags ?? 0) & AD) !== 0,
    answers: reply.answers ?? [],
    server,
  };
}

function hostPort(server: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d+))?$/.exec(server);
  const host = match?.[1] ?? match?.[2];
  if (host === undefined) throw new Error(`${server}: not host:port`);
  return { host, port: Number(match?.[3] ?? 53) };
}

function overUdp(host: string, port: number, message: Buffer, id: number, timeoutMs: number): Promise<dnsPacket.DecodedPacket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
    const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
    const finish = (error: Error | undefined, packet?: dnsPacket.DecodedPacket) => {
      clearTimeout(timer);
      socket.close();
      if (error) reject(error);
      else resolve(packet!);
    };
    socket.on('error', (error) => finish(error));
    socket.on('message', (bytes) => {
      try {
        const packet = dnsPacket.decode(bytes);
        // Answers to other ids (late replies, spoofing attempts) are ignored; the timer still runs.
        if (packet.id === id) finish(undefined, packet);
      } catch {
        // Not a DNS message: ignored likewise.
      }
    });
    socket.send(message, port, host);
  });
}

async function overTcp(host: string, port: number, message: Buffer, timeoutMs: number): Promise<dnsPacket.DecodedPacket> {
  return dnsPacket.decode(await exchangeTcp(host, port, message, timeoutMs));
}
