// Real authoritative DNS servers for tests: BIND 9 (`named`) and Knot DNS (`knotd`) from Debian, each on a loopback
// port the test picks, with throwaway zones in a temp directory that take TSIG-signed dynamic updates
// (key "atr-test", HMAC-SHA256, made by tsig-keygen), and `dig` to read them back.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type ServerKind = 'bind' | 'knot';

export interface AuthoritativeServer {
  readonly kind: ServerKind;
  readonly port: number;
  readonly keyName: string;
  readonly secret: string;
  /** The zone that takes updates signed with the key. */
  readonly zone: string;
  /** A zone the server serves that takes no updates. */
  readonly lockedZone: string;
  /** The records of `name` and `type`, one presentation line each, as `dig +short` prints them (sorted). */
  dig(name: string, type: string): string[];
  /** What the server wrote to stderr so far, for a failing test's message. */
  log(): string;
  stop(): Promise<void>;
}

export const KEY_NAME = 'atr-test';
const ZONE = 'example.test';
const LOCKED_ZONE = 'locked.test';

/** A port free on 127.0.0.1 for TCP (and, in practice, UDP) a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

function zoneFile(apex: string): string {
  return [
    `$ORIGIN ${apex}.`,
    '$TTL 60',
    `@ IN SOA ns1.${apex}. hostmaster.${apex}. 1 3600 600 86400 60`,
    `@ IN NS ns1.${apex}.`,
    'ns1 IN A 127.0.0.1',
    '',
  ].join('\n');
}

function generatedSecret(): string {
  const out = execFileSync('tsig-keygen', ['-a', 'hmac-sha256', KEY_NAME], { encoding: 'utf8' });
  const secret = /secret "([^"]+)"/.exec(out)?.[1];
  if (secret === undefined) throw new Error(`tsig-keygen printed no secret: ${out}`);
  return secret;
}

function bindConfig(dir: string, port: number, secret: string): string {
  return `options {
  directory "${dir}";
  pid-file "${dir}/named.pid";
  session-keyfile "${dir}/session.key";
  managed-keys-directory "${dir}";
  listen-on port ${port} { 127.0.0.1; };
  listen-on-v6 { none; };
  recursion no;
  dnssec-validation no;
  notify no;
};
controls { };
key "${KEY_NAME}" { algorithm hmac-sha256; secret "${secret}"; };
zone "${ZONE}" { type primary; file "${dir}/${ZONE}.zone"; allow-update { key "${KEY_NAME}"; }; };
zone "${LOCKED_ZONE}" { type primary; file "${dir}/${LOCKED_ZONE}.zone"; };
`;
}

function knotConfig(dir: string, port: number, secret: string): string {
  return `server:
    rundir: "${dir}"
    listen: 127.0.0.1@${port}
log:
  - target: stderr
    any: info
database:
    storage: "${dir}/db"
key:
  - id: ${KEY_NAME}
    algorithm: hmac-sha256
    secret: ${secret}
acl:
  - id: update
    key: ${KEY_NAME}
    action: update
template:
  - id: default
    storage: "${dir}"
    file: "%s.zone"
    zonefile-sync: -1
    journal-content: changes
zone:
  - domain: ${ZONE}
    acl: update
  - domain: ${LOCKED_ZONE}
`;
}

export interface AuthoritativeOptions {
  /** A port chosen beforehand, e.g. one a registry was already told to send updates to; default a free one. */
  readonly port?: number;
  /** The TSIG key's secret (base64); default a new one from tsig-keygen. */
  readonly secret?: string;
}

/** Starts a server of `kind`; resolves once it answers for its zones. */
export async function startAuthoritative(kind: ServerKind, options: AuthoritativeOptions = {}): Promise<AuthoritativeServer> {
  const dir = mkdtempSync(join(tmpdir(), `atr-${kind}-`));
  const port = options.port ?? (await freePort());
  const secret = options.secret ?? generatedSecret();
  for (const apex of [ZONE, LOCKED_ZONE]) writeFileSync(join(dir, `${apex}.zone`), zoneFile(apex));
  mkdirSync(join(dir, 'db'));
  const conf = join(dir, kind === 'bind' ? 'named.conf' : 'knot.conf');
  writeFileSync(conf, kind === 'bind' ? bindConfig(dir, port, secret) : knotConfig(dir, port, secret));
  const child: ChildProcess =
    kind === 'bind' ? spawn('named', ['-g', '-n', '1', '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] }) : spawn('knotd', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const dig = (name: string, type: string): string[] =>
    execFileSync('dig', [`@127.0.0.1`, '-p', String(port), '+tcp', '+short', '+norecurse', '+time=2', '+tries=1', name, type], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => line.trim() !== '')
      .sort();

  const stop = async () => {
    if (child.exitCode === null && child.pid !== undefined) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };

  // Ready when both zones answer their SOA.
  for (let tries = 0; ; tries += 1) {
    if (child.exitCode !== null) throw new Error(`${kind} exited: ${output}`);
    try {
      if (dig(ZONE, 'SOA').length === 1 && dig(LOCKED_ZONE, 'SOA').length === 1) break;
    } catch {
      // not listening yet
    }
    if (tries > 100) {
      await stop();
      throw new Error(`${kind} did not start: ${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { kind, port, keyName: KEY_NAME, secret, zone: ZONE, lockedZone: LOCKED_ZONE, dig, log: () => output, stop };
}
