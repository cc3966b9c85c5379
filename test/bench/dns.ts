// The built-in DNS server's rows of `npm run bench`: answers per second for one published name (a TXT RRset) over
// UDP with IN_FLIGHT queries outstanding, without and with DNSSEC (the DO bit set: the answer carries its RRSIG),
// beside a bare UDP echo server (node:dgram sending each datagram back) loaded the same way in the same run. Each
// server is a process of its own (dns-serve.ts), driven from this one; the rows alternate in ROUNDS slices so that
// whatever else the machine does falls on all of them alike.
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import dnsPacket from 'dns-packet';

export const BENCH_ZONE = 'agents.bench.example';
export const BENCH_NAME = `_atr.agent-1.${BENCH_ZONE}`;
const IN_FLIGHT = 16;
const ROUNDS = 3;
const WARM_UP_MS = 500;
/** A datagram lost on loopback is sent again after this long, and counted. */
const RESEND_MS = 200;

export interface DnsRow {
  readonly server: string;
  readonly answers: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly lost: number;
  /** Throughput over the echo server's, same run. */
  readonly ofEcho: number;
}

interface Target {
  readonly server: string;
  readonly port: number;
  readonly dnssec: boolean;
  readonly check: (answer: Buffer) => void;
}

export async function measureDns(options: { seconds: number }): Promise<DnsRow[]> {
  const echo = await serve('echo');
  const dns = await serve('dns');
  try {
    const isAnswer = (dnssec: boolean) => (answer: Buffer) => {
      const packet = dnsPacket.decode(answer);
      const types = (packet.answers ?? []).map((a) => a.type).join(',');
      if (types !== (dnssec ? 'TXT,RRSIG' : 'TXT')) throw new Error(`unexpected DNS answer: ${types}`);
    };
    const targets: Target[] = [
      { server: 'UDP echo (node:dgram)', port: echo.port, dnssec: false, check: () => {} },
      { server: 'DNS, TXT', port: dns.port, dnssec: false, check: isAnswer(false) },
      { server: 'DNS, TXT + RRSIG (DO)', port: dns.port, dnssec: true, check: isAnswer(true) },
    ];
    for (const target of targets) target.check(await queryOnce(target)); // a wrong answer fails the run before it starts
    const totals = new Map(targets.map((t) => [t.server, { answers: 0, ms: 0, lost: 0, latencies: [] as number[] }]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const target of targets) {
        await load(target, WARM_UP_MS);
        const slice = await load(target, (options.seconds * 1000) / ROUNDS);
        const total = totals.get(target.server)!;
        total.answers += slice.latencies.length;
        total.ms += slice.ms;
        total.lost += slice.lost;
        for (const latency of slice.latencies) total.latencies.push(latency);
      }
    }
    const echoRate = rate(totals.get(targets[0]!.server)!);
    return targets.map((t) => {
      const total = totals.get(t.server)!;
      const sorted = total.latencies.sort((a, b) => a - b);
      const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
      return { server: t.server, answers: total.answers, perSecond: rate(total), p50Ms: at(0.5), p99Ms: at(0.99), lost: total.lost, ofEcho: rate(total) / echoRate };
    });
  } finally {
    echo.child.kill('SIGTERM');
    dns.child.kill('SIGTERM');
  }
}

const rate = (t: { answers: number; ms: number }) => (t.answers / t.ms) * 1000;

function query(id: number, dnssec: boolean): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: 0,
    questions: [{ type: 'TXT', name: BENCH_NAME }],
    additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: dnssec ? dnsPacket.DNSSEC_OK : 0, flag_do: dnssec, options: [] }],
  });
}

async function queryOnce(target: Target): Promise<Buffer> {
  const socket = createSocket('udp4');
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      socket.once('message', resolve);
      socket.once('error', reject);
      socket.send(query(1, target.dnssec), target.port, '127.0.0.1');
    });
  } finally {
    socket.close();
  }
}

/** IN_FLIGHT queries outstanding on one socket for `ms`: each answer (matched by id) sends the next query. */
function load(target: Target, ms: number): Promise<{ latencies: number[]; ms: number; lost: number }> {
  const socket = createSocket('udp4');
  const queries = Array.from({ length: IN_FLIGHT }, (_, slot) => query(slot, target.dnssec));
  const sentAt = new Float64Array(IN_FLIGHT);
  const latencies: number[] = [];
  let lost = 0;
  const started = performance.now();
  const until = started + ms;
  const send = (slot: number) => {
    sentAt[slot] = performance.now();
    socket.send(queries[slot]!, target.port, '127.0.0.1');
  };
  return new Promise((resolve) => {
    const resend = setInterval(() => {
      const now = performance.now();
      for (let slot = 0; slot < IN_FLIGHT; slot++) {
        if (now - sentAt[slot]! > RESEND_MS) {
          lost++;
          send(slot);
        }
      }
    }, RESEND_MS);
    let open = IN_FLIGHT;
    socket.on('message', (answer) => {
      const slot = answer.readUInt16BE(0);
      if (slot >= IN_FLIGHT || sentAt[slot] === 0) return;
      const now = performance.now();
      latencies.push(now - sentAt[slot]!);
      if (now < until) return send(slot);
      sentAt[slot] = 0;
      if (--open === 0) {
        clearInterval(resend);
        socket.close();
        resolve({ latencies, ms: performance.now() - started, lost });
      }
    });
    socket.bind(0, '127.0.0.1', () => {
      for (let slot = 0; slot < IN_FLIGHT; slot++) send(slot);
    });
  });
}

async function serve(kind: 'echo' | 'dns'): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'dns-serve.ts'), kind], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${kind} server exited with ${code}`)));
    child.stdout?.once('data', (chunk: Buffer) => resolve((JSON.parse(chunk.toString()) as { port: number }).port));
  });
  return { port, child };
}

export function dnsTable(rows: readonly DnsRow[]): string[][] {
  return [
    ['server', 'answers/s', 'p50 ms', 'p99 ms', 'resent', 'of echo'],
    ...rows.map((r) => [r.server, r.perSecond.toFixed(0), r.p50Ms.toFixed(2), r.p99Ms.toFixed(2), String(r.lost), `${(r.ofEcho * 100).toFixed(0)}%`]),
  ];
}

if (process.argv[1] === import.meta.filename) {
  const rows = await measureDns({ seconds: Number(process.argv[2] ?? 6) });
  for (const row of dnsTable(rows)) console.log(row.join('\t'));
}
