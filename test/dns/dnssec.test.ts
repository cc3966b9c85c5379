// The signed zone checked by real validators: delv (BIND's validator) with the zone's key as its trust anchor, and
// drill (ldns) chasing signatures as a second, independent check. Positive answers of every type, NXDOMAIN and
// NODATA denial (RFC 9824 compact denial), a change re-signed, and answers that must fail: a byte flipped in
// flight, a stale signature beside changed data.
import { execFile } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import dnsPacket from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RRsetSigner, ZoneSigner } from '../../src/dns/dnssec.ts';
import { createResponder } from '../../src/dns/responder.ts';
import { startDnsServer } from '../../src/dns-server/server.ts';
import { delv, dig, drillChase, queryMessage, startZoneServer, status, udpExchange, writeTrustAnchors, ZONE, type ZoneServer } from './fixture.ts';

const run = promisify(execFile);
let server: ZoneServer;
let signer: ZoneSigner;
let dir: string;
let anchors: { delvAnchor: string; drillKey: string };

beforeAll(async () => {
  server = await startZoneServer({ signed: true });
  signer = server.signer!;
  dir = mkdtempSync(join(tmpdir(), 'atr-dnssec-anchor-'));
  anchors = writeTrustAnchors(dir, signer);
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('answers a validator accepts', () => {
  it.each([
    ['TXT', `_atr.a.${ZONE}`],
    ['TLSA', `_443._tcp.a.${ZONE}`],
    ['SRV', `_a2a._tcp.a.${ZONE}`],
    ['SVCB', `a._agents.${ZONE}`],
    ['SOA', ZONE],
    ['NS', ZONE],
    ['DNSKEY', ZONE],
    ['TXT', `big.${ZONE}`], // over TCP after TC (drill does not retry: told to use TCP)
    ['TXT', `_ATR.A.AGENTS.example.com`],
  ])('%s %s: fully validated by delv, chased by drill', async (type, name) => {
    const output = await delv(server.port, anchors.delvAnchor, name, type);
    expect(output).toContain('; fully validated');
    expect(output).toMatch(new RegExp(`\\sRRSIG\\s+${type} 13 `));
    const tcp = name.startsWith('big.') ? ['-t'] : [];
    expect(await drillChase(server.port, anchors.drillKey, ...tcp, name, type)).toContain('Chase successful');
  });

  it('proves a name does not exist: NOERROR with an NSEC at the name holding NXNAME (RFC 9824), validated', async () => {
    const name = `nobody.${ZONE}`;
    const output = await delv(server.port, anchors.delvAnchor, name, 'TXT');
    expect(output).toContain('; negative response, fully validated');
    const chased = await drillChase(server.port, anchors.drillKey, name, 'TXT');
    expect(chased).toContain(`Existence is denied by:`);
    expect(chased).toContain(`${name}. (NSEC \\000.${name}. RRSIG NSEC TYPE128 )`);
    expect(chased).toContain('Chase successful');
    const signed = await dig(server.port, name, 'TXT', '+dnssec');
    expect(status(signed)).toBe('NOERROR');
    expect(signed).toMatch(new RegExp(`${name.replace(/\./g, '\\.')}\\.\\s+60\\s+IN\\s+NSEC\\s+\\\\000\\.${name.replace(/\./g, '\\.')}\\. RRSIG NSEC TYPE128`));
    expect(signed).toMatch(/\sRRSIG\s+NSEC 13 /);
    expect(signed).toMatch(/\sRRSIG\s+SOA 13 /);
    // Without DO there is no proof to keep consistent with, so the rcode says NXDOMAIN.
    expect(status(await dig(server.port, name, 'TXT'))).toBe('NXDOMAIN');
  });

  it('gives NXDOMAIN with the proof to a client that sets Compact Answer OK (RFC 9824 section 4)', async () => {
    const answer = await udpExchange(server.port, queryMessage(`nobody.${ZONE}`, 'TXT', { dnssecOk: true, ednsFlags: 0x4000 }));
    const packet = dnsPacket.decode(answer!) as dnsPacket.DecodedPacket & { rcode: string };
    expect(packet.rcode).toBe('NXDOMAIN');
    expect(packet.authorities?.map((a) => a.type)).toEqual(['SOA', 'RRSIG', 'NSEC', 'RRSIG']);
    const opt = packet.additionals?.find((a): a is dnsPacket.OptAnswer => a.type === 'OPT');
    expect((opt?.flags ?? 0) & 0xc000).toBe(0xc000);
  });

  it('proves NODATA at an empty non-terminal and at a name lacking the type, validated', async () => {
    for (const [name, type] of [[`a.${ZONE}`, 'TXT'], [`_atr.a.${ZONE}`, 'SRV'], [ZONE, 'TXT']] as const) {
      expect(await delv(server.port, anchors.delvAnchor, name, type)).toContain('; negative response, fully validated');
      expect(await drillChase(server.port, anchors.drillKey, name, type)).toContain('Chase successful');
    }
    expect(await dig(server.port, `_atr.a.${ZONE}`, 'SRV', '+dnssec')).toMatch(/\sNSEC\s+\\000\._atr\.a\.agents\.example\.com\. TXT RRSIG NSEC/);
  });

  it('serves RRSIGs only to clients that set DO, and signs with inception before now and expiry days ahead', async () => {
    expect(await dig(server.port, `_atr.a.${ZONE}`, 'TXT')).not.toContain('RRSIG');
    const answer = await udpExchange(server.port, queryMessage(`_atr.a.${ZONE}`, 'TXT', { dnssecOk: true }));
    const rrsig = dnsPacket.decode(answer!).answers?.find((a): a is dnsPacket.RrsigAnswer => a.type === 'RRSIG');
    const now = Date.now() / 1000;
    expect(rrsig?.data).toMatchObject({ typeCovered: 'TXT', algorithm: 13, labels: 5, originalTTL: 60, signersName: ZONE });
    expect(rrsig!.data.signature.length).toBe(64);
    expect(rrsig!.data.inception).toBeLessThan(now);
    expect(rrsig!.data.expiration).toBeGreaterThan(now + 2 * 86_400);
  });

  it('re-signs a changed RRset: the new answer validates', async () => {
    const name = `_atr.a.${ZONE}`;
    await delv(server.port, anchors.delvAnchor, name, 'TXT'); // signed and cached before the change
    server.table.apply({ zone: ZONE, upsert: [{ name, type: 'TXT', ttl: 60, records: [{ strings: ['v=atr1; status=revoked'] }] }], remove: [] }, 2);
    const output = await delv(server.port, anchors.delvAnchor, name, 'TXT');
    expect(output).toContain('; fully validated');
    expect(output).toContain('"v=atr1; status=revoked"');
  });
});

describe('the zone key', () => {
  it('is kept as PEM, mode 0600, and reused by the next signer on the same directory', () => {
    const path = join(server.keyDir, `${ZONE}.key`);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const again = new ZoneSigner({ keyDir: server.keyDir });
    expect(again.dnskeys(ZONE)).toEqual(signer.dnskeys(ZONE));
  });

  it("has the DS record BIND's dnssec-dsfromkey computes", async () => {
    const file = join(dir, 'dnskey.zone');
    writeFileSync(file, readFileSync(anchors.drillKey));
    const { stdout } = await run('dnssec-dsfromkey', ['-2', '-f', file, ZONE]);
    expect(signer.ds(ZONE).split(/\s+/)).toEqual(stdout.trim().split(/\s+/));
  });

  it('refuses a key file that is not an ECDSA P-256 key, naming the rule', () => {
    const keyDir = mkdtempSync(join(tmpdir(), 'atr-dnssec-bad-'));
    try {
      writeFileSync(join(keyDir, `${ZONE}.key`), 'not a key');
      expect(() => new ZoneSigner({ keyDir }).dnskeys(ZONE)).toThrow(/not a PKCS#8 PEM private key/);
    } finally {
      rmSync(keyDir, { recursive: true, force: true });
    }
  });
});

describe('answers a validator refuses', () => {
  it('a TXT answer with one byte changed on the way', async () => {
    const proxy = await flippingProxy(server.port, Buffer.from('v=atr1'));
    try {
      const plain = await dig(proxy.port, `_atr.a.${ZONE}`, 'TXT', '+short', '+notcp');
      expect(plain).toContain('"w=atr1'); // the proxy did change the answer
      const output = await delv(proxy.port, anchors.delvAnchor, `_atr.a.${ZONE}`, 'TXT');
      expect(output).not.toContain('fully validated');
      expect(output).toMatch(/resolution failed|verify failed|no valid signature/);
    } finally {
      proxy.close();
    }
  });

  it('changed data served with the signature made before the change', async () => {
    // A signer that keeps each RRset's first signature whatever the records become: what a cache keyed by name
    // alone would do. The real signer keys its cache by the records themselves.
    const stale = new StaleSigner(signer);
    const zone = await startZoneServer({ signed: true, responder: { signer: stale } });
    const keys = writeTrustAnchors(mkdtempSync(join(tmpdir(), 'atr-dnssec-stale-')), stale.inner);
    try {
      const name = `_443._tcp.a.${ZONE}`;
      expect(await delv(zone.port, keys.delvAnchor, name, 'TLSA')).toContain('; fully validated');
      zone.table.apply({ zone: ZONE, upsert: [{ name, type: 'TLSA', ttl: 60, records: [{ usage: 3, selector: 1, matchingType: 1, data: 'ef'.repeat(32) }] }], remove: [] }, 2);
      const output = await delv(zone.port, keys.delvAnchor, name, 'TLSA');
      expect(output).not.toContain('fully validated');
    } finally {
      await zone.close();
    }
  });
});

class StaleSigner implements RRsetSigner {
  readonly #first = new Map<string, dnsPacket.Answer>();
  constructor(readonly inner: ZoneSigner) {}
  dnskeys(zone: string): dnsPacket.Answer[] {
    return this.inner.dnskeys(zone);
  }
  sign(zone: string, rrset: readonly dnsPacket.Answer[]): dnsPacket.Answer {
    const key = `${rrset[0]!.name} ${rrset[0]!.type}`;
    const rrsig = this.#first.get(key) ?? this.inner.sign(zone, rrset);
    this.#first.set(key, rrsig);
    return rrsig;
  }
}

/** A UDP proxy on loopback that replaces the first byte of `pattern` in every answer (a on-path attacker). */
async function flippingProxy(serverPort: number, pattern: Buffer): Promise<{ port: number; close: () => void }> {
  const front = createSocket('udp4');
  const clients = new Map<number, { port: number; address: string }>();
  const back: Socket = createSocket('udp4');
  front.on('message', (message, peer) => {
    clients.set(message.readUInt16BE(0), peer);
    back.send(message, serverPort, '127.0.0.1');
  });
  back.on('message', (answer) => {
    const at = answer.indexOf(pattern);
    if (at >= 0) answer[at] = answer[at]! + 1;
    const peer = clients.get(answer.readUInt16BE(0));
    if (peer !== undefined) front.send(answer, peer.port, peer.address);
  });
  await new Promise<void>((resolve) => back.bind(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => front.bind(0, '127.0.0.1', resolve));
  return {
    port: front.address().port,
    close: () => {
      front.close();
      back.close();
    },
  };
}
