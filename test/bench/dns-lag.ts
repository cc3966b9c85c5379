// How long after a revoke returns the agent's TXT record in the built-in DNS server says status=revoked: a registry
// process (serve.ts) with DNS_ZONES, agents registered over Connect, each revoked while this process asks the DNS
// server for its _atr TXT record every millisecond until the answer changes.
import { createSocket } from 'node:dgram';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import dnsPacket from 'dns-packet';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { benchProcessEnv, serveProcess } from './bench-process.ts';

const ZONE = 'lag.bench.example';

export interface DnsLagRow {
  readonly revocations: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export async function measureDnsLag(options: { revocations: number }): Promise<DnsLagRow> {
  const dir = mkdtempSync(join(tmpdir(), 'atr-bench-dns-lag-'));
  const { child, url, dnsPort } = await serveProcess(
    benchProcessEnv({
      dir,
      databaseUrl: process.env['DATABASE_URL'] ?? `sqlite:///${join(dir, 'atr.db')}`,
      // Not pinned off here: REDIS_ENABLED stays as this process has it, so a REDIS_URL it has reaches the registry.
      REDIS_ENABLED: process.env['REDIS_ENABLED'],
      DNS_ZONES: ZONE,
      DNS_PORT: '0',
    }),
  );
  if (dnsPort === undefined) throw new Error('dns-lag: the registry process started no DNS server');
  const registry = createClient(RegistryService, createGrpcTransport({ baseUrl: url }));
  const lags: number[] = [];
  try {
    for (let i = 0; i < options.revocations; i++) {
      const name = `agent-${i}.${ZONE}`;
      await registry.registerAgent({ agentName: name, owner: 'bench', capabilities: ['x'] });
      await until(() => txt(dnsPort, `_atr.${name}`), (text) => text.includes('status=active'));
      await registry.revokeAgent({ agentName: name, reason: 'keyCompromise' });
      const revokedAt = performance.now();
      await until(() => txt(dnsPort, `_atr.${name}`), (text) => text.includes('status=revoked'));
      lags.push(performance.now() - revokedAt);
    }
  } finally {
    child.kill('SIGTERM');
  }
  lags.sort((a, b) => a - b);
  const at = (q: number) => Math.round((lags[Math.min(lags.length - 1, Math.floor(q * lags.length))] ?? 0) * 10) / 10;
  return { revocations: lags.length, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: at(1) };
}

async function until(read: () => Promise<string>, done: (text: string) => boolean): Promise<void> {
  const deadline = performance.now() + 10_000;
  while (!done(await read())) {
    if (performance.now() > deadline) throw new Error('DNS did not follow the change within 10 s');
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

function txt(port: number, name: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`no DNS answer for ${name}`));
    }, 2000);
    socket.on('message', (bytes) => {
      clearTimeout(timer);
      socket.close();
      const answers = dnsPacket.decode(bytes).answers ?? [];
      resolve(answers.map((answer) => (answer.type === 'TXT' ? [answer.data].flat().join('') : '')).join(''));
    });
    socket.send(dnsPacket.encode({ type: 'query', id: 1, questions: [{ type: 'TXT', name }] }), port, '127.0.0.1');
  });
}
