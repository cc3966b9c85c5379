// A real validating resolver for tests: BIND 9 (`named`) recursing for one zone by forwarding to the server that
// holds it, with that zone's key as a static trust anchor, so the AD flag on its answers means what it means in
// production (the answer validated) and a record that is not signed by the key comes back SERVFAIL.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './authoritative-servers.ts';

export interface TrustAnchor {
  readonly flags: number;
  readonly algorithm: number;
  readonly key: Buffer;
}

export interface ValidatingResolver {
  /** host:port to ask. */
  readonly address: string;
  log(): string;
  stop(): Promise<void>;
}

function config(dir: string, port: number, zone: string, forwardTo: number, anchor: TrustAnchor): string {
  return `options {
  directory "${dir}";
  pid-file "${dir}/named.pid";
  managed-keys-directory "${dir}";
  listen-on port ${port} { 127.0.0.1; };
  listen-on-v6 { none; };
  recursion yes;
  allow-recursion { 127.0.0.1; };
  dnssec-validation yes;
  qname-minimization off;
  notify no;
};
controls { };
trust-anchors { "${zone}." static-key ${anchor.flags} 3 ${anchor.algorithm} "${anchor.key.toString('base64')}"; };
zone "${zone}" { type forward; forward only; forwarders { 127.0.0.1 port ${forwardTo}; }; };
`;
}

/** Starts `named` validating `zone` with `anchor`, forwarding its queries to 127.0.0.1:`forwardTo`. */
export async function startValidatingResolver(zone: string, forwardTo: number, anchor: TrustAnchor): Promise<ValidatingResolver> {
  const dir = mkdtempSync(join(tmpdir(), 'atr-resolver-'));
  const port = await freePort();
  const conf = join(dir, 'named.conf');
  writeFileSync(conf, config(dir, port, zone, forwardTo, anchor));
  const child = spawn('named', ['-g', '-n', '1', '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  // Ready when it answers at all (its own version.bind in class CH needs no recursion).
  for (let tries = 0; ; tries += 1) {
    if (child.exitCode !== null) throw new Error(`named exited: ${output}`);
    try {
      execFileSync('dig', ['@127.0.0.1', '-p', String(port), '+time=1', '+tries=1', 'version.bind', 'CH', 'TXT'], { encoding: 'utf8' });
      break;
    } catch {
      // not listening yet
    }
    if (tries > 100) {
      await stop();
      throw new Error(`named did not start: ${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { address: `127.0.0.1:${port}`, log: () => output, stop };
}
