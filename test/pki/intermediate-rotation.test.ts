// rotateIntermediate and the live CA: the layout it leaves in PKI_ROOT_DIR, a loaded CA following it on refresh,
// issuance and chain checks on both sides of the change, and the refusals that leave everything as it was.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CaOptions, type CertificateAuthority, loadOrCreateCa } from '../../src/pki/ca.ts';
import { readCaStatus } from '../../src/pki/ca-status.ts';
import { isIssuedByRegistry } from '../../src/pki/chain.ts';
import { crlEntries } from '../../src/pki/crl-entries.ts';
import { serialOf } from '../../src/pki/fingerprint.ts';
import { rotateIntermediate } from '../../src/pki/intermediate-rotation.ts';
import { issueAgentCertificate } from '../../src/pki/issue.ts';
import { generateAgentKey } from '../../src/pki/keys.ts';
import { RevocationList } from '../../src/registry/revocation-list.ts';
import type { RegistryStore } from '../../src/registry/store.ts';

const PASSPHRASE = 'rotation passphrase';
const TRUST_DOMAIN = 'rotation.test';

describe('rotateIntermediate', () => {
  const work = mkdtempSync(join(tmpdir(), 'atr-rotate-'));
  const dir = join(work, 'pki');
  const options: CaOptions = { dir, passphrase: PASSPHRASE, validityDays: 3650, trustDomain: TRUST_DOMAIN, crlUrl: 'http://127.0.0.1/v1/crl' };
  const rotation = { dir, rootPassphrase: PASSPHRASE, passphrase: PASSPHRASE, trustDomain: TRUST_DOMAIN, validityDays: 3650 };
  let ca: CertificateAuthority;
  let first: X509Certificate;

  beforeAll(async () => {
    ca = await loadOrCreateCa(options);
    first = ca.intermediate;
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('refuses a wrong root passphrase or a key that is not the root, and changes nothing', async () => {
    const before = readdirSync(dir).sort();
    await expect(rotateIntermediate({ ...rotation, rootPassphrase: 'wrong' })).rejects.toThrow(/root\.key: wrong CA key passphrase/);
    writeFileSync(join(work, 'other.key'), readFileSync(join(dir, 'intermediate.key')));
    await expect(rotateIntermediate({ ...rotation, rootKeyPath: join(work, 'other.key') })).rejects.toThrow(/other\.key does not match .*root\.crt/);
    expect(readdirSync(dir).sort()).toEqual(before);
    expect(ca.refresh()).toBe(false);
  });

  it('makes a new current intermediate that a loaded CA follows, keeping the previous one with its key', async () => {
    const changes: string[] = [];
    const stop = ca.watch({ changed: () => changes.push(ca.current.serial) });
    const oldLeaf = await issue(ca, 'old.rotation.test');
    const { previous, next } = await rotateIntermediate(rotation);
    expect(previous.fingerprint256).toBe(first.fingerprint256);

    expect(readdirSync(join(dir, 'intermediates')).sort()).toEqual([serialOf(first), serialOf(next)].sort());
    for (const serial of [serialOf(first), serialOf(next)]) {
      const key = join(dir, 'intermediates', serial, 'intermediate.key');
      expect(statSync(key).mode & 0o777).toBe(0o600);
      expect(readFileSync(key, 'utf8')).toContain('-----BEGIN ENCRYPTED PRIVATE KEY-----');
    }
    expect(readFileSync(join(dir, 'intermediate.crt'), 'utf8')).toBe(next.toString());
    expect(next.verify(ca.root.publicKey)).toBe(true);

    // Issuance looks at the files itself: the next certificate comes from the new intermediate without a refresh call.
    const newLeaf = await issue(ca, 'new.rotation.test');
    expect(newLeaf.verify(next.publicKey)).toBe(true);
    expect(changes).toEqual([serialOf(next)]);
    expect(ca.intermediates.map((each) => each.serial)).toEqual([serialOf(next), serialOf(first)]);
    expect(ca.trustBundlePem).toBe(next.toString() + first.toString() + ca.rootPem);
    for (const leaf of [oldLeaf, newLeaf]) expect(isIssuedByRegistry(ca, leaf)).toBe(true);
    stop();

    // A process starting now loads both.
    const reloaded = await loadOrCreateCa(options);
    expect(reloaded.intermediates.map((each) => each.certificate.fingerprint256)).toEqual([next.fingerprint256, first.fingerprint256]);
    expect(isIssuedByRegistry(reloaded, oldLeaf)).toBe(true);
  });

  it('has each intermediate sign its own CRL, listing every retired serial', async () => {
    const retired = { serial: 'abcdef0123456789', revokedAt: new Date(), revocationReason: 'keyCompromise' };
    const store = { listRetiredCertificates: async () => [retired] } as unknown as RegistryStore;
    const list = new RevocationList(store, ca);
    for (const intermediate of ca.intermediates) {
      const crl = (await list.of(intermediate.serial)) ?? Buffer.alloc(0);
      expect([...crlEntries(crl, intermediate.certificate.publicKey)]).toEqual([['abcdef0123456789', 1]]);
    }
    expect(crlEntries(await list.current(), ca.intermediate.publicKey).size).toBe(1);
    expect(list.of('00ff')).toBeUndefined();
  });

  it('reports both intermediates, their key protection and the root CRL without a passphrase', () => {
    const status = readCaStatus(dir);
    expect(status.intermediates.map((each) => [each.serial, each.current, each.key.state, each.key.mode])).toEqual([
      [ca.current.serial, true, 'encrypted', '0600'],
      [serialOf(first), false, 'encrypted', '0600'],
    ]);
    expect(status.root.key).toEqual({ file: 'root.key', state: 'encrypted', mode: '0600' });
    expect(status.rootCrl?.nextUpdate?.toISOString()).toBe(new Date(ca.intermediate.validTo).toISOString());
  });
});

async function issue(ca: CertificateAuthority, agentName: string): Promise<X509Certificate> {
  const { key } = await generateAgentKey();
  return new X509Certificate((await issueAgentCertificate(ca, { agentName, key, validityDays: 1 })).pem);
}
