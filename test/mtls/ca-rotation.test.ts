// An intermediate rotated with the real `atr ca rotate-intermediate` while two registry processes serve one database
// and PKI directory: neither restarts, new certificates come from the new intermediate on both, certificates from the
// old one keep verifying and connecting on both until revoked, and a revoked one is listed in its own intermediate's
// CRL (checked with openssl) and refused by both mTLS listeners.
import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { VerifyReason, VerifyService } from '../../gen/atr/v1/verify_pb.js';
import { runAtr } from '../support/cli.ts';
import { dialects } from '../support/databases.ts';
import { healthzOverMtls } from '../support/mtls.ts';
import { type ServerProcess, processEnvironment, serverProcess } from '../support/server-process.ts';

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n/g;

describe.each(dialects)('intermediate rotation under two registry processes on one %s database', (dialect) => {
  let env: NodeJS.ProcessEnv;
  let servers: ServerProcess[] = [];
  let cleanup: (() => Promise<void>) | undefined;
  const scratch = mkdtempSync(join(tmpdir(), 'atr-rotation-'));

  beforeAll(async () => {
    const environment = await processEnvironment(dialect, { TRUST_DOMAIN: `rotation-${Math.random().toString(16).slice(2)}.test` });
    ({ env, cleanup } = environment);
    // One after the other: the first creates the schema and the CA the second loads.
    servers.push(await serverProcess(env));
    servers.push(await serverProcess(env));
  }, 180_000);
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop()));
    await cleanup?.();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('issues from the new intermediate on both processes and keeps the old one trusted, revocable and refused when revoked', async () => {
    const [a, b] = servers as [ServerProcess, ServerProcess];
    const registryOn = (server: ServerProcess) => createClient(RegistryService, createConnectTransport({ baseUrl: server.url, httpVersion: '1.1' }));
    const verifierOn = (server: ServerProcess) => createClient(VerifyService, createConnectTransport({ baseUrl: server.url, httpVersion: '1.1' }));
    const nameA = `a.rotation.${dialect}.example`;
    const nameB = `b.rotation.${dialect}.example`;

    const agentA = await registryOn(a).registerAgent({ agentName: nameA, owner: 'o' });
    const [oldIntermediatePem] = agentA.chainPem.match(PEM_BLOCK) ?? [];
    const oldIntermediate = new X509Certificate(oldIntermediatePem ?? '');

    const cli = { PKI_ROOT_DIR: env['PKI_ROOT_DIR'] ?? '', TRUST_DOMAIN: env['TRUST_DOMAIN'] ?? '', DATABASE_URL: env['DATABASE_URL'] ?? '' };
    const rotated = await runAtr(['ca', 'rotate-intermediate', '--json'], scratch, cli);
    expect(rotated.code, rotated.stderr).toBe(0);
    const rotation = JSON.parse(rotated.stdout) as { previous: { serial: string }; current: { serial: string } };
    expect(rotation.previous.serial).toBe(serialOf(oldIntermediate));
    // Audited in the registry's database, by the OS user who ran it, where every server's audit trail reads it.
    const audit = await registryOn(b).listAuditEvents({ eventType: 'ca.rotated' });
    expect(audit.events.map((event) => [event.actor, event.metadata])).toEqual([
      [expect.stringMatching(/^local:/), { previous_serial: rotation.previous.serial, serial: rotation.current.serial, fingerprint: expect.stringMatching(/^[0-9a-f]{64}$/), not_after: expect.any(String) }],
    ]);

    // Registered on the other process, which never restarted: its chain starts with the new intermediate.
    const agentB = await registryOn(b).registerAgent({ agentName: nameB, owner: 'o' });
    const [newIntermediatePem] = agentB.chainPem.match(PEM_BLOCK) ?? [];
    const newIntermediate = new X509Certificate(newIntermediatePem ?? '');
    expect(serialOf(newIntermediate)).toBe(rotation.current.serial);
    const certA = new X509Certificate(agentA.certPem);
    const certB = new X509Certificate(agentB.certPem);
    expect(certB.checkIssued(newIntermediate) && certB.verify(newIntermediate.publicKey)).toBe(true);
    expect(certA.checkIssued(oldIntermediate) && certA.verify(oldIntermediate.publicKey)).toBe(true);
    // The next registration on the first process comes from the new intermediate too.
    const agentC = await registryOn(a).registerAgent({ agentName: `c.rotation.${dialect}.example`, owner: 'o' });
    expect(new X509Certificate(agentC.certPem).verify(newIntermediate.publicKey)).toBe(true);

    for (const server of [a, b]) {
      for (const agent of [agentA, agentB]) {
        const result = await verifierOn(server).verifyCertificate({ certPem: agent.certPem });
        expect(result.verified, `${result.message} on ${server.url}`).toBe(true);
      }
      const bundle = await (await fetch(`${server.url}/v1/trust-bundle`)).text();
      expect(bundle.match(PEM_BLOCK)?.map((pem) => new X509Certificate(pem).fingerprint256)).toEqual([
        newIntermediate.fingerprint256,
        oldIntermediate.fingerprint256,
        new X509Certificate(agentA.chainPem.match(PEM_BLOCK)?.[1] ?? '').fingerprint256,
      ]);
    }

    const tlsOf = (agent: typeof agentA) => ({ ca: agent.chainPem, cert: agent.certPem, key: agent.privateKeyPem });
    for (const server of [a, b]) {
      for (const [name, agent] of [[nameA, agentA], [nameB, agentB]] as const) {
        expect(await statusOverMtls(server, tlsOf(agent)), `${name} on ${server.mtlsUrl}`).toBe(200);
      }
    }

    await registryOn(a).revokeAgent({ agentName: nameA, reason: 'keyCompromise' });
    for (const server of [a, b]) {
      // The other process learns of the revocation through the revocation feed (a database poll): wait for it. The
      // listener (its CRL) and the verify API (its lookup cache) each act on the feed's event on their own, so the one
      // may be a moment ahead of the other: each is waited for.
      expect(await eventually(async () => (await statusOverMtls(server, tlsOf(agentA))) !== 200)).toBe(true);
      expect(await statusOverMtls(server, tlsOf(agentB))).toBe(200);
      const reason = async () => (await verifierOn(server).verifyCertificate({ certPem: agentA.certPem })).reason;
      expect(await eventually(async () => (await reason()) === VerifyReason.REVOKED), `verify on ${server.url} says ${await reason()}`).toBe(true);
    }

    // A's distribution point names its own intermediate's CRL, which lists it; B's intermediate signs its own.
    const distributionPoint = opensslText(['x509', '-noout', '-text'], agentA.certPem).match(/URI:(\S+)/)?.[1];
    expect(distributionPoint).toBe(`${a.url}/v1/crl/${serialOf(oldIntermediate)}`);
    const oldCrl = Buffer.from(await (await fetch(distributionPoint ?? '')).arrayBuffer());
    const crlText = opensslText(['crl', '-inform', 'DER', '-noout', '-text'], oldCrl);
    expect(crlText).toMatch(new RegExp(`Serial Number: ${certA.serialNumber}\\s+Revocation Date: .*\\s+CRL entry extensions:\\s+X509v3 CRL Reason Code:\\s+Key Compromise`));
    const files = writeFiles({
      'root.pem': agentA.chainPem.match(PEM_BLOCK)?.[1] ?? '',
      'old.pem': oldIntermediatePem ?? '',
      'new.pem': newIntermediatePem ?? '',
      'old-crl.pem': opensslText(['crl', '-inform', 'DER', '-outform', 'PEM'], oldCrl),
      'new-crl.pem': opensslText(['crl', '-inform', 'DER', '-outform', 'PEM'], Buffer.from(await (await fetch(`${b.url}/v1/crl/${serialOf(newIntermediate)}`)).arrayBuffer())),
      'a.pem': agentA.certPem,
      'b.pem': agentB.certPem,
    });
    const verifyWithCrls = (leaf: string) =>
      spawnSync('openssl', ['verify', '-crl_check', '-CAfile', files('root.pem'), '-untrusted', files('old.pem'), '-untrusted', files('new.pem'), '-CRLfile', files('old-crl.pem'), '-CRLfile', files('new-crl.pem'), files(leaf)], { encoding: 'utf8' });
    const signedByOld = spawnSync('openssl', ['crl', '-in', files('old-crl.pem'), '-CAfile', files('old.pem'), '-noout'], { encoding: 'utf8' });
    expect(signedByOld.stdout + signedByOld.stderr).toContain('verify OK');
    const checkA = verifyWithCrls('a.pem');
    expect(checkA.status).not.toBe(0);
    expect(checkA.stdout + checkA.stderr).toContain('certificate revoked');
    const checkB = verifyWithCrls('b.pem');
    expect(checkB.stdout + checkB.stderr).toContain('b.pem: OK');
  }, 240_000);

  function writeFiles(contents: Record<string, string>): (name: string) => string {
    for (const [name, content] of Object.entries(contents)) writeFileSync(join(scratch, name), content);
    return (name) => join(scratch, name);
  }
});

function serialOf(certificate: X509Certificate): string {
  return certificate.serialNumber.toLowerCase().replace(/^(00)+/, '');
}

function opensslText(args: readonly string[], input: string | Buffer): string {
  return execFileSync('openssl', args, { input, encoding: 'utf8' });
}

async function statusOverMtls(server: ServerProcess, tls: { ca: string; cert: string; key: string }): Promise<number | string> {
  const attempt = healthzOverMtls(server.mtlsUrl ?? '', tls);
  const status = await attempt.status;
  attempt.session.destroy();
  return status;
}

/** Asks until `check` holds, for at most 20 s (a condition another process brings about on its own schedule). */
async function eventually(check: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}
