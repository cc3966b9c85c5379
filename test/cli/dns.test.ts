// `atr dns records|ds|lookup` and `atr resolve --source`, run as a child process against a running registry that
// publishes example.test in its built-in DNS server with DNSSEC. A real BIND serving the same zone stands in for a
// forged or stale copy of it, a real validating BIND resolver sets AD, and BIND's dnssec-dsfromkey checks the DS.
import { execFile, execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { dnssecKeyDir, existingZoneKey } from '../../src/dns/dnssec.ts';
import { spkiSha256 } from '../../src/dns/records.ts';
import { type AuthoritativeServer, startAuthoritative } from '../support/authoritative-servers.ts';
import { type CliResult, runAtr } from '../support/cli.ts';
import { runningServer } from '../support/server.ts';
import { type ValidatingResolver, startValidatingResolver } from '../support/validating-resolver.ts';

const run = promisify(execFile);
/** The zone BIND from authoritative-servers.ts serves too, so that it can hold a forged copy of the registry's records. */
const ZONE = 'example.test';
const ENDPOINT = 'https://billing.example.com:8443/a2a';

let context: Awaited<ReturnType<typeof runningServer>>;
let registry: ReturnType<typeof createClient<typeof RegistryService>>;
let dnsServer: string;
let bind: AuthoritativeServer;
/** Validates the registry's zone with its key, asking the registry's own DNS server. */
let validating: ValidatingResolver;

const atr = (...args: string[]): Promise<CliResult> =>
  runAtr(args, context.environment.dir, { ATR_SERVER: context.server.url, KEYS_ROOT_DIR: join(context.environment.dir, 'keys') });

/** Waits until DNS shows the agent's current version: publication follows a change, it is not part of it. */
async function published(name: string): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    if ((await registry.getAgent({ agentName: name })).agent?.dnsStatus === 'published') return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${name} was not published`);
}

async function register(name: string): Promise<{ fingerprint: string; certPem: string }> {
  const response = await registry.registerAgent({ agentName: name, owner: 'acme', capabilities: ['invoice'], endpoints: [ENDPOINT] });
  await published(name);
  return { fingerprint: response.agent!.certFingerprint, certPem: response.certPem };
}

/** The zone's key as the built-in server answers it over DNS (which also makes the server create it). */
async function servedDnskey(): Promise<{ flags: number; algorithm: number; key: Buffer }> {
  // Asynchronously: the server runs in this process, a synchronous child would stall it.
  const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(context.server.dnsPort), '+short', ZONE, 'DNSKEY']);
  const line = stdout.split('\n')[0]!;
  const [flags, , algorithm, ...key] = line.split(' ');
  return { flags: Number(flags), algorithm: Number(algorithm), key: Buffer.from(key.join(''), 'base64') };
}

beforeAll(async () => {
  context = await runningServer('sqlite', { dnsZones: [ZONE], dnsPort: 0, dnssecEnabled: true, dnsTtl: 30 });
  dnsServer = `127.0.0.1:${context.server.dnsPort}`;
  registry = createClient(RegistryService, createConnectTransport({ baseUrl: context.server.url, httpVersion: '1.1' }));
  bind = await startAuthoritative('bind');
  validating = await startValidatingResolver(ZONE, context.server.dnsPort!, await servedDnskey());
});

afterAll(async () => {
  await validating?.stop();
  await bind?.stop();
  await context?.cleanup();
});

describe('atr dns records', () => {
  it('prints dns_status, zone and the records as zone-file lines that named-checkzone accepts', async () => {
    const name = `records.${ZONE}`;
    const { fingerprint, certPem } = await register(name);
    const { code, stdout, stderr } = await atr('dns', 'records', name);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(/dns status:\s+published/);
    expect(stdout).toMatch(/zone:\s+example\.test/);
    const lines = stdout.split('\n').filter((line) => line.includes(' IN '));
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^_atr\\.${name}\\. 30 IN TXT "v=atr1; status=active; fp=sha256:${fingerprint}; `)));
    expect(lines).toContain(`_8443._tcp.${name}. 30 IN TLSA 3 1 1 ${spkiSha256(certPem)}`);
    expect(lines).toContain(`_https._tcp.${name}. 30 IN SRV 0 0 8443 billing.example.com.`);
    expect(lines.map((line) => line.split(' ')[3]).sort()).toEqual(['SRV', 'SVCB', 'SVCB', 'TLSA', 'TXT']);

    const zoneFile = join(context.environment.dir, 'records.zone');
    writeFileSync(zoneFile, [`$ORIGIN ${ZONE}.`, `@ 60 IN SOA ns1 hostmaster 1 3600 600 86400 60`, '@ 60 IN NS ns1', 'ns1 60 IN A 127.0.0.1', ...lines, ''].join('\n'));
    expect((await run('named-checkzone', [ZONE, zoneFile])).stdout).toContain('OK');

    const json = await atr('dns', 'records', name, '--json');
    expect(JSON.parse(json.stdout)).toMatchObject({ agent_name: name, dns_status: 'published', zone: ZONE });
  });

  it('says so for a name outside every zone', async () => {
    await registry.registerAgent({ agentName: 'outside.example.org', owner: 'acme', capabilities: ['x'] });
    const { code, stdout } = await atr('dns', 'records', 'outside.example.org');
    expect(code).toBe(0);
    expect(stdout).toMatch(/dns status:\s+not_in_zone/);
    expect(stdout).toContain('no records published');
  });
});

describe('atr dns lookup', () => {
  it('exits 0 when DNS agrees with the registry, and says the authoritative answers are not validated', async () => {
    const name = `match.${ZONE}`;
    const { fingerprint } = await register(name);
    const { code, stdout, stderr } = await atr('dns', 'lookup', name, '--resolver', dnsServer);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`TXT fingerprint\\s+sha256:${fingerprint}\\s+sha256:${fingerprint}\\s+ok\\s+not validated`));
    expect(stdout).toMatch(/TXT status\s+active\s+active\s+ok/);
    expect(stdout).toMatch(/TLSA port 8443\s+3 1 1 [0-9a-f]{64}\s+3 1 1 [0-9a-f]{64}\s+ok/);
    expect(stdout).not.toContain('MISMATCH');
    expect(stdout).toContain('OK: DNS agrees with the registry (answers not DNSSEC-validated by the resolver)');

    // An authoritative server never sets AD: only a validating resolver can say the answer is proven.
    const strict = await atr('dns', 'lookup', name, '--resolver', dnsServer, '--require-dnssec');
    expect(strict.code).toBe(1);
    expect(strict.stdout).toContain(`NOT VALIDATED: _atr.${name} TXT: the resolver did not validate it with DNSSEC`);
  });

  it('through a validating resolver every answer carries AD', async () => {
    const name = `validated.${ZONE}`;
    await register(name);
    const { code, stdout } = await atr('dns', 'lookup', name, '--resolver', validating.address, '--require-dnssec', '--json');
    expect(code, validating.log()).toBe(0);
    const report = JSON.parse(stdout) as { result: string; checks: { check: string; ok: boolean; dnssec_validated: boolean }[] };
    expect(report.result).toBe('OK');
    expect(report.checks.map((check) => check.check)).toEqual(['TXT status', 'TXT fingerprint', 'TXT spiffe id', 'TLSA port 8443']);
    expect(report.checks.every((check) => check.ok && check.dnssec_validated)).toBe(true);
  });

  it('exits 1 naming each difference when DNS serves a stale copy from before a rotation', async () => {
    const name = `stale.${ZONE}`;
    const before = await register(name);
    const oldLines = (await atr('dns', 'records', name)).stdout.split('\n').filter((line) => / IN (TXT|TLSA) /.test(line));
    expect(oldLines).toHaveLength(2);
    const rotated = await registry.rotateCertificate({ agentName: name });
    await published(name);
    const after = rotated.agent!.certFingerprint;

    // The stale copy goes into a real BIND serving the same zone, the way a forger or a lagging secondary would hold it.
    const updates = [`server 127.0.0.1 ${bind.port}`, `zone ${ZONE}`, ...oldLines.map((line) => `update add ${line}`), 'send', ''].join('\n');
    execFileSync('nsupdate', ['-y', `hmac-sha256:${bind.keyName}:${bind.secret}`], { input: updates });
    expect(bind.dig(`_atr.${name}`, 'TXT').join('')).toContain(before.fingerprint);

    const { code, stdout } = await atr('dns', 'lookup', name, '--resolver', `127.0.0.1:${bind.port}`);
    expect(code).toBe(1);
    expect(stdout).toMatch(/TXT status\s+active\s+active\s+ok/);
    expect(stdout).toContain(`MISMATCH: _atr.${name} TXT fingerprint: DNS has sha256:${before.fingerprint}, the registry says sha256:${after} (a stale or forged record)`);
    expect(stdout).toContain(
      `MISMATCH: _8443._tcp.${name} TLSA port 8443: DNS has 3 1 1 ${spkiSha256(before.certPem)}, the registry says 3 1 1 ${spkiSha256(rotated.certPem)}`,
    );
    expect(stdout).not.toContain('OK: DNS agrees');

    // The same copy behind a validating resolver: it is not signed by the zone's key, so the resolver refuses it.
    const guarded = await startValidatingResolver(ZONE, bind.port, await servedDnskey());
    try {
      const refused = await atr('dns', 'lookup', name, '--resolver', guarded.address);
      expect(refused.code).toBe(1);
      expect(refused.stdout).toContain(`MISMATCH: _atr.${name} TXT record: DNS has SERVFAIL, the registry says one v=atr1 record (the resolver could not answer`);
    } finally {
      await guarded.stop();
    }
  });

  it('exits 1 when a record is missing: a TLSA at a port the agent has none for', async () => {
    const name = `missing.${ZONE}`;
    const { certPem } = await register(name);
    const { code, stdout } = await atr('dns', 'lookup', name, '--resolver', dnsServer, '--port', '9443');
    expect(code).toBe(1);
    expect(stdout).toContain(`MISMATCH: _9443._tcp.${name} TLSA port 9443: DNS has (none), the registry says 3 1 1 ${spkiSha256(certPem)} (the record is missing)`);
  });

  it('agrees for a revoked agent: status=revoked and no TLSA for its key', async () => {
    const name = `revoked.${ZONE}`;
    await register(name);
    await registry.revokeAgent({ agentName: name, reason: 'keyCompromise' });
    await published(name);
    const { code, stdout } = await atr('dns', 'lookup', name, '--resolver', dnsServer);
    expect(code).toBe(0);
    expect(stdout).toMatch(/TXT status\s+revoked\s+revoked\s+ok/);
    expect(stdout).toMatch(/TLSA port 8443\s+\(none\)\s+\(none\)\s+ok/);
  });

  it('refuses a malformed resolver or port with the rule', async () => {
    expect(await atr('dns', 'lookup', `x.${ZONE}`, '--resolver', 'host:99999')).toMatchObject({ code: 2, stderr: expect.stringContaining('--resolver must be host:port') });
    expect(await atr('dns', 'lookup', `x.${ZONE}`, '--port', 'https')).toMatchObject({ code: 2, stderr: expect.stringContaining('--port must be a port number 1-65535') });
  });
});

describe('atr dns ds', () => {
  const env = (pkiRootDir: string) => ({ DNS_ZONES: ZONE, PKI_ROOT_DIR: pkiRootDir, ATR_SERVER: context.server.url });

  it('says there is no key yet, and creates none, when the server never signed', async () => {
    const empty = join(context.environment.dir, 'no-pki');
    const { code, stdout, stderr } = await runAtr(['dns', 'ds'], context.environment.dir, env(empty));
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toContain(`error: ${ZONE}: no key yet: start the server with DNSSEC_ENABLED=true first`);
    expect(existingZoneKey(dnssecKeyDir(empty), ZONE)).toBeUndefined();
  });

  it("prints the DS that BIND's dnssec-dsfromkey computes from the server's key, and the DNSKEY it serves", async () => {
    const served = await servedDnskey();
    const pkiRootDir = context.environment.config.pkiRootDir;
    const { code, stdout, stderr } = await runAtr(['dns', 'ds'], context.environment.dir, env(pkiRootDir));
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const ds = stdout.split('\n').find((line) => line.includes(' IN DS '));
    expect(stdout).toContain(`${ZONE}. 3600 IN DNSKEY 257 3 13 ${served.key.toString('base64')}`);

    // The public key read from the private key file by OpenSSL, written as a BIND key file, digested by BIND.
    const spki = execFileSync('openssl', ['pkey', '-in', join(dnssecKeyDir(pkiRootDir), `${ZONE}.key`), '-pubout', '-outform', 'DER']);
    const point = spki.subarray(spki.length - 64).toString('base64');
    const keyFile = join(context.environment.dir, `K${ZONE}.key`);
    writeFileSync(keyFile, `${ZONE}. 3600 IN DNSKEY 257 3 13 ${point}\n`);
    const independent = execFileSync('dnssec-dsfromkey', ['-2', '-f', keyFile, ZONE], { encoding: 'utf8' }).trim();
    expect(ds).toBe(independent);
    expect(ds).toMatch(new RegExp(`^${ZONE}\\. IN DS \\d+ 13 2 [0-9A-F]{64}$`));

    const json = await runAtr(['dns', 'ds', '--zone', `${ZONE.toUpperCase()}.`, '--json'], context.environment.dir, env(pkiRootDir));
    expect(JSON.parse(json.stdout)).toMatchObject({ zones: [{ zone: ZONE, algorithm: 13, digest_type: 2, ds: independent }] });
  });

  it('refuses a zone the registry does not publish', async () => {
    const { code, stderr } = await runAtr(['dns', 'ds', '--zone', 'other.test'], context.environment.dir, env(context.environment.config.pkiRootDir));
    expect(code).toBe(2);
    expect(stderr).toContain('--zone other.test is not one of DNS_ZONES (example.test)');
  });
});

describe('atr resolve --source', () => {
  it('prints where the answer came from and whether DNSSEC validated it', async () => {
    const name = `resolved.${ZONE}`;
    await register(name);
    const fromRegistry = await atr('resolve', name, '--source', 'registry');
    expect(fromRegistry.code).toBe(0);
    expect(fromRegistry.stdout).toMatch(/source:\s+registry\n/);
    expect(fromRegistry.stdout).toMatch(/dnssec validated:\s+no/);

    // A second registry whose resolver is the validating BIND: its answer comes from the signed _atr record.
    const reader = await runningServer('sqlite', { dnsResolver: [validating.address], mtlsEnabled: false });
    try {
      const fromDns = await runAtr(['resolve', name, '--source', 'dns'], context.environment.dir, { ATR_SERVER: reader.server.url });
      expect(fromDns.stderr).toBe('');
      expect(fromDns.stdout).toMatch(/source:\s+dns\n/);
      expect(fromDns.stdout).toMatch(/dnssec validated:\s+yes/);
    } finally {
      await reader.cleanup();
    }
    expect(await atr('resolve', name, '--source', 'carrier-pigeon')).toMatchObject({ code: 2, stderr: expect.stringContaining('--source must be one of dns, registry') });
  });
});
