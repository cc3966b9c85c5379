// Agents published by a running registry in its built-in DNS server, read with dig and delv like any outsider:
// records follow register -> update -> rotate -> revoke, the agent answer says how DNS stands, DNSSEC validates.
import { execFile } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { ResolveService } from '../../gen/atr/v1/resolve_pb.js';
import { dnssecKeyDir, ZoneSigner } from '../../src/dns/dnssec.ts';
import { dialects } from '../support/databases.ts';
import { startServer } from '../../src/server/server.ts';
import { runningServer } from '../support/server.ts';

const run = promisify(execFile);
const ZONE = 'agents.test';

describe.each(dialects)('DNS publication on %s', (dialect) => {
  let context: Awaited<ReturnType<typeof runningServer>>;
  let registry: ReturnType<typeof createClient<typeof RegistryService>>;
  let resolve: ReturnType<typeof createClient<typeof ResolveService>>;
  let dnsPort: number;

  async function dig(...args: string[]): Promise<string> {
    return (await run('dig', [`@127.0.0.1`, '-p', String(dnsPort), '+norecurse', '+time=2', '+tries=1', ...args])).stdout;
  }

  /** The data of the answers to `name` `type`, one per line, as dig +short prints it. */
  async function short(name: string, type: string): Promise<string[]> {
    return (await dig('+short', name, type)).split('\n').filter((line) => line !== '');
  }

  /** Polls DNS until `check` passes: publication follows the change that committed, it is not part of it. */
  async function eventually<T>(read: () => Promise<T>, check: (value: T) => boolean): Promise<T> {
    let value = await read();
    for (let attempt = 0; attempt < 50 && !check(value); attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      value = await read();
    }
    return value;
  }

  /** TLSA rows as `3 1 1 <hex>`: dig breaks long hex into groups. */
  const tlsaOf = async (name: string) => (await short(name, 'TLSA')).map((row) => row.replace(/^(\d+ \d+ \d+) (.*)$/, (_, head: string, hex: string) => `${head} ${hex.replace(/ /g, '')}`));
  const txtOf = async (name: string) => (await short(`_atr.${name}`, 'TXT')).join('').replace(/" "/g, '').replace(/"/g, '');
  const spkiHash = (pem: string) => createHash('sha256').update(new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' })).digest('hex');

  beforeAll(async () => {
    context = await runningServer(dialect, { dnsZones: [ZONE], dnsPort: 0, dnssecEnabled: true, dnsTtl: 30 });
    dnsPort = context.server.dnsPort!;
    const transport = createConnectTransport({ baseUrl: context.server.url, httpVersion: '1.1' });
    registry = createClient(RegistryService, transport);
    resolve = createClient(ResolveService, transport);
  });

  afterAll(async () => {
    await context?.cleanup();
  });

  describe('an agent in a published zone', () => {
    it('gets TXT, TLSA, SRV and SVCB records that follow update, rotate and revoke', async () => {
      const name = `billing.${ZONE}`;
      const endpoints = ['https://billing.example.com:8443/a2a'];
      const registered = await registry.registerAgent({ agentName: name, owner: 'acme', capabilities: ['invoice', 'pay'], endpoints });
      const fingerprint = registered.agent!.certFingerprint;

      const txt = await eventually(() => txtOf(name), (text) => text.includes(fingerprint));
      expect(txt).toMatch(new RegExp(`^v=atr1; status=active; fp=sha256:${fingerprint}; spiffe=spiffe://atr.local/agent/${name}; log=\\d+; exp=\\d+; caps=invoice,pay$`));
      expect(await tlsaOf(`_8443._tcp.${name}`)).toEqual([`3 1 1 ${spkiHash(registered.certPem).toUpperCase()}`]);
      expect(await short(`_https._tcp.${name}`, 'SRV')).toEqual(['0 0 8443 billing.example.com.']);
      const svcb = await short(name, 'SVCB');
      expect(svcb).toHaveLength(1);
      expect(svcb[0]).toMatch(/^1 billing\.example\.com\. alpn="h2,http\/1\.1" port=8443 key65400="http:\/\/127\.0\.0\.1:\d+\/v1\/resolve\/billing\.agents\.test"$/);
      expect(await short(`billing._agents.${ZONE}`, 'SVCB')).toEqual([`0 ${name}.`]);
      expect((await registry.getAgent({ agentName: name })).agent?.dnsStatus).toBe('published');
      const published = (await (await fetch(`${context.server.url}/v1/agents/${name}/dns`)).json()) as { records: { type: string }[] };
      expect(published).toMatchObject({ agent_name: name, dns_status: 'published', zone: ZONE });
      expect(published.records).toContainEqual({ name: `_https._tcp.${name}.`, type: 'SRV', ttl: 30, data: '0 0 8443 billing.example.com.' });
      expect(published.records.map((record) => record.type).sort()).toEqual(['SRV', 'SVCB', 'SVCB', 'TLSA', 'TXT']);

      await registry.updateAgent({ agentName: name, capabilities: ['invoice'] });
      await eventually(() => txtOf(name), (text) => text.endsWith('caps=invoice'));

      const rotated = await registry.rotateCertificate({ agentName: name });
      const newFingerprint = rotated.agent!.certFingerprint;
      expect(await eventually(() => txtOf(name), (text) => text.includes(newFingerprint))).toContain(`fp=sha256:${newFingerprint}`);
      expect(await eventually(() => tlsaOf(`_8443._tcp.${name}`), (rows) => rows[0] === `3 1 1 ${spkiHash(rotated.certPem).toUpperCase()}`)).toEqual([
        `3 1 1 ${spkiHash(rotated.certPem).toUpperCase()}`,
      ]);

      await registry.revokeAgent({ agentName: name, reason: 'keyCompromise' });
      // Kept with status=revoked so that a peer learns of the revocation from a signed answer; the key's TLSA goes.
      expect(await eventually(() => txtOf(name), (text) => text.includes('status=revoked'))).toContain('reason=keyCompromise');
      expect(await eventually(() => dig(`_8443._tcp.${name}`, 'TLSA'), (out) => out.includes('NXDOMAIN'))).toContain('status: NXDOMAIN');
      expect(await short(name, 'SVCB')).toEqual([]);
      expect((await registry.getAgent({ agentName: name })).agent?.dnsStatus).toBe('published');
    });

    it('an agent outside every zone gets no records and says so', async () => {
      const outside = await registry.registerAgent({ agentName: 'elsewhere.example.org', owner: 'acme', capabilities: ['x'] });
      expect(outside.agent?.dnsStatus).toBe('not_in_zone');
      expect(await dig('_atr.elsewhere.example.org', 'TXT')).toContain('status: REFUSED');
    });

    it('signs the zone: delv validates a published record and the denial of a missing one with the zone key as anchor', async () => {
      const name = `signed.${ZONE}`;
      const registered = await registry.registerAgent({ agentName: name, owner: 'acme', capabilities: ['x'] });
      await eventually(() => txtOf(name), (text) => text.includes(registered.agent!.certFingerprint));
      const signer = new ZoneSigner({ keyDir: dnssecKeyDir(context.environment.config.pkiRootDir) });
      const [dnskey] = signer.dnskeys(ZONE) as { data: { flags: number; algorithm: number; key: Buffer } }[];
      const anchors = join(context.environment.dir, 'anchors.conf');
      writeFileSync(anchors, `trust-anchors { "${ZONE}." static-key ${dnskey!.data.flags} 3 ${dnskey!.data.algorithm} "${dnskey!.data.key.toString('base64')}"; };\n`);
      const delv = async (qname: string, type: string) =>
        (await run('delv', ['@127.0.0.1', '-p', String(dnsPort), '-a', anchors, `+root=${ZONE}`, qname, type]).catch((error: { stdout: string; stderr: string }) => error)).stdout +
        '';
      expect(await delv(`_atr.${name}`, 'TXT')).toContain('; fully validated');
      const missing = await run('delv', ['@127.0.0.1', '-p', String(dnsPort), '-a', anchors, `+root=${ZONE}`, `_atr.nobody.${ZONE}`, 'TXT']).catch(
        (error: { stdout: string; stderr: string }) => error,
      );
      expect(`${missing.stdout}${missing.stderr}`).toMatch(/negative response, fully validated|fully validated/);
    });
  });

  describe('two registry processes on one database', () => {
    it("each serves the other's changes: B's DNS server follows a revoke made through A", async () => {
      const other = await startServer(context.environment.config);
      try {
        const name = `shared.${ZONE}`;
        await registry.registerAgent({ agentName: name, owner: 'acme', capabilities: ['x'] });
        const otherDig = async (qname: string) =>
          (await run('dig', ['@127.0.0.1', '-p', String(other.dnsPort), '+short', '+norecurse', qname, 'TXT'])).stdout.replace(/"/g, '');
        expect(await eventually(() => otherDig(`_atr.${name}`), (text) => text.includes('status=active'))).toContain('status=active');
        await registry.revokeAgent({ agentName: name });
        expect(await eventually(() => otherDig(`_atr.${name}`), (text) => text.includes('status=revoked'))).toContain('status=revoked');
      } finally {
        await other.close();
      }
    });
  });

  describe('resolution through DNS', () => {
    it('answers from the _atr record with source dns, and from the database when DNS has none', async () => {
      const name = `resolved.${ZONE}`;
      const registered = await registry.registerAgent({ agentName: name, owner: 'acme', capabilities: ['read'] });
      const fingerprint = registered.agent!.certFingerprint;
      await eventually(() => txtOf(name), (text) => text.includes(fingerprint));
      // The registry's resolver is its own server here: DNS_RESOLVER would name a validating resolver in production.
      const dnsContext = await runningServer('sqlite', { dnsResolver: [`127.0.0.1:${dnsPort}`], mtlsEnabled: false });
      try {
        const other = createClient(ResolveService, createConnectTransport({ baseUrl: dnsContext.server.url, httpVersion: '1.1' }));
        const fromDns = await other.resolveAgent({ agentName: name, source: 'dns' });
        expect(fromDns).toMatchObject({ source: 'dns', certFingerprint: fingerprint, capabilities: ['read'], owner: '', dnssecValidated: false });
        expect(fromDns.spiffeId).toBe(`spiffe://atr.local/agent/${name}`);
        // That registry has no such agent in its database and DNS has no record: NotFound from the database.
        await expect(other.resolveAgent({ agentName: `missing.${ZONE}`, source: 'dns' })).rejects.toThrow(/not found/i);
        await expect(other.resolveAgent({ agentName: name, source: 'carrier-pigeon' })).rejects.toThrow(/source: "carrier-pigeon" is not one of registry, dns/);
      } finally {
        await dnsContext.cleanup();
      }
      expect((await resolve.resolveAgent({ agentName: name })).source).toBe('registry');
    });
  });
});
