// Bad input against the built-in DNS server (signed, so negative answers exercise the signer too): random bytes,
// every prefix of a real query, a label-compression loop, forward and self pointers, absurd counts, over UDP and
// TCP; oversized and idle TCP connections, too many connections; 10^4 queries for random names. After each, the
// server still answers a normal query, over both transports.
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import dnsPacket from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSocket } from 'node:dgram';
import { queryMessage, startZoneServer, udpExchange, ZONE, type ZoneServer } from './fixture.ts';

let server: ZoneServer;

beforeAll(async () => {
  server = await startZoneServer({ signed: true, server: { tcpIdleMs: 300, maxTcpConnections: 8 } });
});
afterAll(() => server.close());

const normalQuery = () => queryMessage(`_atr.a.${ZONE}`, 'TXT', { id: 4321, dnssecOk: true });

async function stillAnswers(): Promise<void> {
  const udp = await udpExchange(server.port, normalQuery());
  expect(dnsPacket.decode(udp!).answers?.map((a) => a.type)).toEqual(['TXT', 'RRSIG']);
  const tcp = await tcpExchange([normalQuery()]);
  expect(tcp.answers).toHaveLength(1);
  expect(dnsPacket.decode(tcp.answers[0]!).answers?.map((a) => a.type)).toEqual(['TXT', 'RRSIG']);
}

/** Hostile messages: random bytes, every prefix of a real query, compression loops and pointers that go nowhere. */
function hostileMessages(): Buffer[] {
  const real = normalQuery();
  const header = (qdcount: number) => Buffer.from([0x12, 0x34, 0x00, 0x00, qdcount >> 8, qdcount & 0xff, 0, 0, 0, 0, 0, 0]);
  const tail = Buffer.from([0x00, 0x10, 0x00, 0x01]);
  return [
    ...Array.from({ length: 2000 }, () => randomBytes(Math.floor(Math.random() * 600))),
    ...Array.from({ length: real.length }, (_, n) => real.subarray(0, n)),
    // A name that points at itself (offset 12): a loop for a decoder that follows pointers blindly.
    Buffer.concat([header(1), Buffer.from([0xc0, 0x0c]), tail]),
    // Two labels pointing at each other, and a pointer forward past the end.
    Buffer.concat([header(1), Buffer.from([0x01, 0x61, 0xc0, 0x0e, 0xc0, 0x0c]), tail]),
    Buffer.concat([header(1), Buffer.from([0xc0, 0xff]), tail]),
    // Extended label types (0x40, 0x80), a label running past the end, 65,535 questions in 20 bytes.
    Buffer.concat([header(1), Buffer.from([0x41, 0x61, 0x00]), tail]),
    Buffer.concat([header(1), Buffer.from([0x81, 0x61, 0x00]), tail]),
    Buffer.concat([header(1), Buffer.from([0x3f, 0x61]), tail]),
    Buffer.concat([header(0xffff), Buffer.from([0x01, 0x61, 0x00]), tail]),
    // A name of 300 bytes, over the 255 allowed.
    Buffer.concat([header(1), ...Array.from({ length: 10 }, () => Buffer.from([30, ...Buffer.alloc(30, 0x61)])), Buffer.from([0]), tail]),
  ];
}

describe('malformed messages', () => {
  it('over UDP: no crash; FORMERR where the header can be read; a normal query answered after', async () => {
    const socket = createSocket('udp4');
    const answers: Buffer[] = [];
    socket.on('message', (answer) => answers.push(answer));
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const messages = hostileMessages();
    // The self-pointing name, alone: its header is readable, so FORMERR comes back with its id.
    const loop = await udpExchange(server.port, messages[2000 + normalQuery().length]!);
    expect(loop?.readUInt16BE(0)).toBe(0x1234);
    expect((loop?.readUInt16BE(2) ?? 0) & 0x800f).toBe(0x8001); // QR, FORMERR
    // The rest in bursts of 50 (more at once would only overflow the socket's receive buffer).
    for (let i = 0; i < messages.length; i++) {
      socket.send(messages[i]!, server.port, '127.0.0.1');
      if (i % 50 === 49) await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await stillAnswers();
    socket.close();
    // Every answer the server sent is a well-formed DNS response (FORMERR, SERVFAIL or a real answer).
    for (const answer of answers) expect(answer.readUInt16BE(2) & 0x8000).toBe(0x8000);
  });

  it('over TCP: each framed in turn on one connection; no crash; a normal query answered after', async () => {
    const messages = hostileMessages().filter((m) => m.length > 0);
    await tcpExchange(messages, { untilClosed: true }); // the server closes it once idle, having read them all
    await stillAnswers();
  });

  it('cuts a TCP connection that announces a message over the size cap', async () => {
    const socket = await open();
    socket.write(Buffer.from([0xff, 0xff, 0x00, 0x00]));
    await closed(socket);
    await stillAnswers();
  });

  it('cuts an idle TCP connection, and one that stops in the middle of a message', async () => {
    const idle = await open();
    const partial = await open();
    partial.write(Buffer.concat([Buffer.from([0x00, 0x40]), Buffer.alloc(10)]));
    await Promise.all([closed(idle), closed(partial)]);
  });

  it('refuses connections over the cap and serves again once they go', async () => {
    const held = await Promise.all(Array.from({ length: 8 }, open));
    const extra = await open();
    await closed(extra);
    for (const socket of held) socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await stillAnswers();
  });

  it('cuts a TCP client that sends queries and never reads the answers', async () => {
    const socket = await open();
    socket.pause();
    const query = queryMessage(`big.${ZONE}`, 'TXT', { id: 1 });
    const framed = Buffer.concat([Buffer.from([0, query.length]), query]);
    const total = 20_000; // ~30 MB of answers, far more than the 1 MiB the server keeps for a client
    socket.write(Buffer.concat(Array.from({ length: total }, () => framed)));
    await new Promise((resolve) => setTimeout(resolve, 500));
    let received = 0;
    socket.on('data', (chunk: Buffer) => (received += chunk.length));
    await closed(socket);
    expect(received).toBeLessThan(total * 1400);
    await stillAnswers();
  });

  it('answers several queries sent at once on one connection, in order', async () => {
    const queries = Array.from({ length: 20 }, (_, i) => queryMessage(i % 2 ? `big.${ZONE}` : `_atr.a.${ZONE}`, 'TXT', { id: 100 + i }));
    const { answers } = await tcpExchange(queries);
    expect(answers.map((a) => a.readUInt16BE(0))).toEqual(queries.map((_, i) => 100 + i));
    expect(answers.filter((_, i) => i % 2).every((a) => dnsPacket.decode(a).answers?.length === 6)).toBe(true);
  });
});

describe('10^4 queries for random names', () => {
  it('answers each (compact denial under the zone, REFUSED outside) and keeps answering', async () => {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const total = 10_000;
    const rcodes = new Map<string, number>();
    let next = 0;
    const pending = new Map<number, Buffer>();
    const label = () => randomBytes(6).toString('hex');
    const send = () => {
      if (next >= total) return;
      const id = next++;
      const name = id % 10 === 0 ? `${label()}.example.org` : `${label()}.${label()}.${ZONE}`;
      const message = queryMessage(name, id % 3 ? 'TXT' : 'TLSA', { id: id & 0xffff, dnssecOk: id % 2 === 0 });
      pending.set(id & 0xffff, message);
      socket.send(message, server.port, '127.0.0.1');
    };
    await new Promise<void>((resolve) => {
      socket.on('message', (answer) => {
        const decoded = dnsPacket.decode(answer) as dnsPacket.DecodedPacket & { rcode: string };
        if (!pending.delete(decoded.id ?? -1)) return;
        rcodes.set(decoded.rcode, (rcodes.get(decoded.rcode) ?? 0) + 1);
        send();
        if (pending.size === 0 && next >= total) resolve();
      });
      // A datagram lost on loopback is sent again.
      const resend = setInterval(() => {
        for (const message of pending.values()) socket.send(message, server.port, '127.0.0.1');
        if (pending.size === 0) clearInterval(resend);
      }, 500);
      for (let i = 0; i < 32; i++) send();
    });
    socket.close();
    expect([...rcodes.values()].reduce((a, b) => a + b)).toBe(total);
    expect(rcodes.get('REFUSED')).toBe(total / 10);
    // Signed (DO) denials are NOERROR with an NSEC; unsigned ones NXDOMAIN.
    expect((rcodes.get('NOERROR') ?? 0) + (rcodes.get('NXDOMAIN') ?? 0)).toBe(total - total / 10);
    expect(rcodes.get('NOERROR')).toBeGreaterThan(0);
    await stillAnswers();
  }, 60_000);
});

function open(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(server.port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    socket.on('error', () => {});
    if (socket.closed) resolve();
    else socket.once('close', () => resolve());
    socket.resume();
  });
}

/** Sends length-framed `messages` on one TCP connection; collects the answers until all came (or it closed). */
async function tcpExchange(messages: readonly Buffer[], options: { untilClosed?: boolean } = {}): Promise<{ answers: Buffer[] }> {
  const socket = await open();
  const answers: Buffer[] = [];
  let pending: Buffer = Buffer.alloc(0);
  const done = new Promise<void>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        answers.push(pending.subarray(2, 2 + pending.readUInt16BE(0)));
        pending = pending.subarray(2 + pending.readUInt16BE(0));
      }
      if (!options.untilClosed && answers.length === messages.length) resolve();
    });
    socket.on('close', () => resolve());
    socket.on('error', () => {});
  });
  socket.write(Buffer.concat(messages.map((m) => Buffer.concat([Buffer.from([m.length >> 8, m.length & 0xff]), m]))));
  await done;
  socket.destroy();
  return { answers };
}
