// A real BIND 9 (named from Debian's bind9) on a loopback port, authoritative for throwaway zones that take dynamic
// updates signed with a TSIG key: the DNS a domain owner controls, as far as the registry can tell.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Bind {
  /** host:port, as DNS_RESOLVER takes it. */
  readonly address: string;
  readonly port: number;
  /** Replaces the name's TXT records (none: removes them), through nsupdate with the TSIG key. */
  setTxt(name: string, values: readonly string[]): Promise<void>;
  stop(): Promise<void>;
}

/** A port free for both UDP and TCP on 127.0.0.1 (DNS needs both). */
export async function freePort(): Promise<number> {
  for (;;) {
    const tcp = createServer();
    tcp.listen(0, '127.0.0.1');
    await once(tcp, 'listening');
    const { port } = tcp.address() as { port: number };
    const udp = createSocket('udp4');
    const free = await new Promise<boolean>((resolve) => {
      udp.once('error', () => resolve(false));
      udp.bind(port, '127.0.0.1', () => resolve(true));
    });
    udp.close();
    tcp.close();
    await once(tcp, 'close');
    if (free) return port;
  }
}

/** Starts named with one zone per name in `zones`; each apex and ns1 have the A record 127.0.0.1. */
export async function startBind(zones: readonly string[]): Promise<Bind> {
  const dir = mkdtempSync(join(tmpdir(), 'atr-bind-'));
  const port = await freePort();
  const secret = randomBytes(32).toString('base64');
  const zoneBlocks = zones.map((zone) => {
    writeFileSync(
      join(dir, `${zone}.zone`),
      [
        '$TTL 1',
        `@ IN SOA ns1.${zone}. hostmaster.${zone}. 1 3600 600 86400 1`,
        `@ IN NS ns1.${zone}.`,
        'ns1 IN A 127.0.0.1',
        '@ IN A 127.0.0.1',
        '',
      ].join('\n'),
    );
    return `zone "${zone}" { type primary; file "${join(dir, `${zone}.zone`)}"; allow-update { key "atr-test"; }; };`;
  });
  const conf = join(dir, 'named.conf');
  writeFileSync(
    conf,
    [
      'options {',
      `  directory "${dir}";`,
      `  pid-file "${join(dir, 'named.pid')}";`,
      `  session-keyfile "${join(dir, 'session.key')}";`,
      `  listen-on port ${port} { 127.0.0.1; };`,
      '  listen-on-v6 { none; };',
      '  recursion no;',
      '  dnssec-validation no;',
      '  notify no;',
      '};',
      'controls { };',
      `key "atr-test" { algorithm hmac-sha256; secret "${secret}"; };`,
      ...zoneBlocks,
      '',
    ].join('\n'),
  );
  const named: ChildProcess = spawn('named', ['-g', '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  named.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = once(named, 'exit');
  await new Promise<void>((resolve, reject) => {
    const check = setInterval(() => {
      if (output.includes('running')) {
        clearInterval(check);
        resolve();
      }
    }, 20);
    void exited.then(() => {
      clearInterval(check);
      reject(new Error(`named exited before it ran:\n${output}`));
    });
  });
  return {
    address: `127.0.0.1:${port}`,
    port,
    async setTxt(name, values) {
      const zone = zones.find((z) => name === z || name.endsWith(`.${z}`));
      const script = [
        `server 127.0.0.1 ${port}`,
        `zone ${zone ?? name}`,
        `update delete ${name} TXT`,
        ...values.map((value) => `update add ${name} 1 TXT "${value}"`),
        'send',
        '',
      ].join('\n');
      const child = execFile('nsupdate', ['-y', `hmac-sha256:atr-test:${secret}`]);
      child.stdin?.end(script);
      const [code] = (await once(child, 'exit')) as [number];
      if (code !== 0) throw new Error(`nsupdate failed (${code})`);
      // The update is applied before nsupdate returns; dig confirms the answer is served.
      const { stdout } = await run('dig', ['+short', '+norecurse', '-p', String(port), '@127.0.0.1', name, 'TXT']);
      if (stdout.trim().split('\n').filter(Boolean).length !== values.length) throw new Error(`BIND does not serve ${name} TXT yet: ${stdout}`);
    },
    async stop() {
      if (named.exitCode === null && named.signalCode === null) named.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
