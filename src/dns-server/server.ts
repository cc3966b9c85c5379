// The built-in DNS server's sockets: UDP and TCP on one port (RFC 7766: TCP is not optional), each message handed
// to a Respond function (src/dns/responder.ts). TCP carries 2-byte length-prefixed messages, several per
// connection, answered in order; idle connections, too many connections and oversized messages are cut off.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv6, type Server, type Socket } from 'node:net';
import type { Respond } from '../dns/responder.ts';
import { type Logger, silentLogger } from '../log/logger.ts';

export interface DnsServerOptions {
  readonly host: string;
  /** 0 picks a free port, the same for UDP and TCP. */
  readonly port: number;
  readonly respond: Respond;
  readonly logger?: Logger;
  /** A TCP connection with no complete query for this long is closed (RFC 7766 section 6.2.3). */
  readonly tcpIdleMs?: number;
  readonly maxTcpConnections?: number;
  /** A query larger than this closes its TCP connection; real queries are a few hundred bytes. */
  readonly maxQueryBytes?: number;
}

export interface DnsServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Answers a TCP client may leave unread before it is cut off. */
const MAX_UNREAD_ANSWER_BYTES = 1 << 20;
/** How often to try another port when port 0's TCP pick is taken for UDP. */
const PORT_ATTEMPTS = 20;

export async function startDnsServer(options: DnsServerOptions): Promise<DnsServer> {
  const logger = (options.logger ?? silentLogger).child({ component: 'dns' });
  for (let attempt = 1; ; attempt++) {
    const { server: tcp, sockets } = createTcp(options, logger);
    const port = await listenTcp(tcp, options.host, options.port);
    try {
      const udp = await bindUdp(options, port, logger);
      logger.info({ host: options.host, port }, 'DNS server listening (UDP and TCP)');
      return { port, close: () => closeBoth(tcp, sockets, udp) };
    } catch (error) {
      tcp.close();
      const taken = (error as NodeJS.ErrnoException).code === 'EADDRINUSE';
      if (options.port !== 0 || !taken || attempt >= PORT_ATTEMPTS) throw error;
    }
  }
}

function bindUdp(options: DnsServerOptions, port: number, logger: Logger): Promise<UdpSocket> {
  const udp = createSocket(isIPv6(options.host) ? 'udp6' : 'udp4');
  udp.on('message', (message, peer) => {
    const answer = safely(logger, () => options.respond(message, 'udp'));
    if (answer !== undefined) udp.send(answer, peer.port, peer.address);
  });
  return new Promise((resolve, reject) => {
    udp.once('error', reject);
    udp.bind(port, options.host, () => {
      udp.off('error', reject);
      udp.on('error', (error) => logger.warn({ err: error }, 'DNS UDP socket error'));
      resolve(udp);
    });
  });
}

function createTcp(options: DnsServerOptions, logger: Logger): { server: Server; sockets: Set<Socket> } {
  const idleMs = options.tcpIdleMs ?? 10_000;
  const maxQuery = options.maxQueryBytes ?? 4096;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.setTimeout(idleMs, () => socket.destroy());
    socket.setNoDelay(true);
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 2) {
        const length = pending.readUInt16BE(0);
        if (length > maxQuery) return void socket.destroy();
        if (pending.length < 2 + length) break;
        const message = pending.subarray(2, 2 + length);
        pending = pending.subarray(2 + length);
        const answer = safely(logger, () => options.respond(message, 'tcp'));
        if (answer === undefined) continue;
        const prefix = Buffer.alloc(2);
        prefix.writeUInt16BE(answer.length);
        socket.write(Buffer.concat([prefix, answer]));
        // A client that sends queries but never reads the answers would have us buffer them without end.
        if (socket.writableLength > MAX_UNREAD_ANSWER_BYTES) return void socket.destroy();
      }
    });
  });
  server.maxConnections = options.maxTcpConnections ?? 256;
  return { server, sockets };
}

function listenTcp(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : port);
    });
  });
}

/** A responder's bug must not take the server down: the message goes unanswered and the error is logged. */
function safely(logger: Logger, answer: () => Buffer | undefined): Buffer | undefined {
  try {
    return answer();
  } catch (error) {
    logger.error({ err: error }, 'DNS responder failed');
    return undefined;
  }
}

/** Stops both listeners; open TCP connections are cut, since a server's close() would wait for them. */
function closeBoth(tcp: Server, sockets: ReadonlySet<Socket>, udp: UdpSocket): Promise<void> {
  return new Promise((resolve) => {
    let open = 2;
    const done = () => {
      if (--open === 0) resolve();
    };
    tcp.close(done);
    for (const socket of sockets) socket.destroy();
    udp.close(done);
  });
}
