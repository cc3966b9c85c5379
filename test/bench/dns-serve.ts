// A server process for the DNS benchmark (dns.ts): the built-in DNS server on a zone table with one published
// name, its zone signed (`dns`), or a bare UDP echo server (`echo`), the limit the DNS server is compared with.
// Prints its port as one JSON line.
import { createSocket } from 'node:dgram';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ZoneSigner } from '../../src/dns/dnssec.ts';
import { createResponder } from '../../src/dns/responder.ts';
import { ZoneTable } from '../../src/dns/zone-table.ts';
import { startDnsServer } from '../../src/dns-server/server.ts';
import { BENCH_NAME, BENCH_ZONE } from './dns.ts';

if (process.argv.includes('echo')) {
  const socket = createSocket('udp4');
  socket.on('message', (message, peer) => socket.send(message, peer.port, peer.address));
  socket.bind(0, '127.0.0.1', () => console.log(JSON.stringify({ port: socket.address().port })));
} else if (process.argv.includes('dns')) {
  const table = new ZoneTable([BENCH_ZONE]);
  const strings = ['v=atr1; status=active; fp=sha256:' + 'ab'.repeat(32) + '; spiffe=spiffe://atr.local/agent/agent-1.' + BENCH_ZONE + '; log=42'];
  table.apply({ zone: BENCH_ZONE, remove: [], upsert: [{ name: BENCH_NAME, type: 'TXT', ttl: 60, records: [{ strings }] }] }, 1);
  const signer = new ZoneSigner({ keyDir: mkdtempSync(join(tmpdir(), 'atr-bench-dnssec-')) });
  const server = await startDnsServer({ host: '127.0.0.1', port: 0, respond: createResponder(table, { ttl: 60, signer }) });
  console.log(JSON.stringify({ port: server.port }));
}
process.on('SIGINT', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
