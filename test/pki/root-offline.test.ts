// The root kept offline: with root.key moved out of PKI_ROOT_DIR (and no CA_KEY_PASSPHRASE), the server starts,
// issues, revokes, publishes the intermediate's CRL and serves mTLS; only rotating the intermediate needs the root,
// and says which file it misses, until the key is brought in with --root-key.
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { loadOrCreateCa } from '../../src/pki/ca.ts';
import { crlEntries } from '../../src/pki/crl-entries.ts';
import { serialOf } from '../../src/pki/fingerprint.ts';
import { type RunningServer, startServer } from '../../src/server/server.ts';
import { runAtr } from '../support/cli.ts';
import { dialects } from '../support/databases.ts';
import { healthzOverMtls } from '../support/mtls.ts';
import { type TestEnvironment, testEnvironment } from '../support/server.ts';

describe.each(dialects)('a registry whose root key is offline, on %s', (dialect) => {
  let environment: TestEnvironment;
  let server: RunningServer;
  let pki: string;
  let offlineKey: string;

  beforeAll(async () => {
    environment = await testEnvironment(dialect, { trustDomain: 'offline.test' });
    pki = environment.config.pkiRootDir;
    await loadOrCreateCa({ dir: pki, validityDays: 3650, trustDomain: 'offline.test', crlUrl: 'http://unused/v1/crl' });
    mkdirSync(join(environment.dir, 'offline'));
    offlineKey = join(environment.dir, 'offline', 'root.key');
    renameSync(join(pki, 'root.key'), offlineKey);
    server = await startServer(environment.config);
  }, 120_000);
  afterAll(async () => {
    await server?.close();
    await environment?.cleanup();
  });

  const cli = (args: string[]) =>
    runAtr(args, environment.dir, { PKI_ROOT_DIR: pki, TRUST_DOMAIN: 'offline.test', DATABASE_URL: environment.config.databaseUrl, ATR_SERVER: server.url });

  it('issues, revokes, publishes the CRL and serves mTLS; rotation names the missing root key until it is brought in', async () => {
    const registry = createClient(RegistryService, createConnectTransport({ baseUrl: server.url, httpVersion: '1.1' }));
    const kept = await registry.registerAgent({ agentName: 'kept.offline.test', owner: 'o' });
    const revoked = await registry.registerAgent({ agentName: 'revoked.offline.test', owner: 'o' });
    await registry.revokeAgent({ agentName: 'revoked.offline.test', reason: 'keyCompromise' });
    const intermediate = new X509Certificate(readFileSync(join(pki, 'intermediate.crt')));
    for (const path of ['/v1/crl', `/v1/crl/${serialOf(intermediate)}`]) {
      const crl = Buffer.from(await (await fetch(`${server.url}${path}`)).arrayBuffer());
      expect([...crlEntries(crl, intermediate.publicKey).keys()]).toEqual([serialOf(new X509Certificate(revoked.certPem))]);
    }
    const tls = (agent: typeof kept) => ({ ca: agent.chainPem, cert: agent.certPem, key: agent.privateKeyPem });
    expect(await statusOverMtls(server, tls(kept))).toBe(200);
    expect(await statusOverMtls(server, tls(revoked))).not.toBe(200);
    expect(existsSync(join(pki, 'root.key'))).toBe(false);

    const status = await cli(['ca', 'status', '--json']);
    expect(status.code, status.stderr).toBe(0);
    const facts = JSON.parse(status.stdout) as CaStatusJson;
    expect(facts.root.key).toEqual({ file: 'root.key', state: 'absent' });
    expect(facts.intermediates).toHaveLength(1);
    expect(facts.intermediates[0]?.key).toEqual({ file: 'intermediate.key', state: 'unencrypted', mode: '0600' });
    expect(facts.intermediates[0]?.crl.crl?.entries).toBe(1);
    expect(facts.warnings).toEqual([]);

    const refused = await cli(['ca', 'rotate-intermediate']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`${join(pki, 'root.key')}: the root CA key is not there`);
    expect(readFileSync(join(pki, 'intermediate.crt'), 'utf8')).toBe(intermediate.toString());
    expect(existsSync(join(pki, 'intermediates'))).toBe(false);

    const rotated = await cli(['ca', 'rotate-intermediate', '--root-key', offlineKey, '--json']);
    expect(rotated.code, rotated.stderr).toBe(0);
    const { current } = JSON.parse(rotated.stdout) as { current: { serial: string } };
    const next = await registry.registerAgent({ agentName: 'next.offline.test', owner: 'o' });
    expect(new X509Certificate(next.certPem).verify(new X509Certificate(readFileSync(join(pki, 'intermediate.crt'))).publicKey)).toBe(true);
    expect(await statusOverMtls(server, tls(kept))).toBe(200);
    expect(await statusOverMtls(server, tls(next))).toBe(200);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    for (const serial of [current.serial, serialOf(intermediate)]) {
      expect(metrics).toMatch(new RegExp(`atr_ca_intermediate_expiry_seconds\\{serial="${serial}"\\} \\d+`));
    }

    const after = JSON.parse((await cli(['ca', 'status', '--json'])).stdout) as CaStatusJson;
    expect(after.intermediates.map((each) => [each.serial, each.current])).toEqual([[current.serial, true], [serialOf(intermediate), false]]);
    // Signed at the rotation, valid as long as the new intermediate.
    expect(after.root.crl?.nextUpdate).toBe(after.intermediates[0]?.notAfter);
    const rootCrl = spawnSync('openssl', ['crl', '-in', join(pki, 'root.crl'), '-inform', 'DER', '-CAfile', join(pki, 'root.crt'), '-noout'], { encoding: 'utf8' });
    expect(rootCrl.stdout + rootCrl.stderr).toContain('verify OK');
  }, 180_000);
});

interface CaStatusJson {
  root: { key: unknown; crl: { nextUpdate: string } | null };
  intermediates: { serial: string; current: boolean; notAfter: string; key: unknown; crl: { crl?: { entries: number } } }[];
  warnings: string[];
}

async function statusOverMtls(server: RunningServer, tls: { ca: string; cert: string; key: string }): Promise<number | string> {
  const attempt = healthzOverMtls(server.mtlsUrl ?? '', tls);
  const status = await attempt.status;
  attempt.session.destroy();
  return status;
}
