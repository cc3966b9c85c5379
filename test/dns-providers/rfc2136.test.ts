// The RFC 2136 provider against real authoritative servers, BIND 9 and Knot DNS from Debian, each on a loopback port
// with a throwaway zone that takes updates signed with a tsig-keygen key; what they hold is read back with dig.
import { createServer, connect, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rfc2136Provider } from '../../src/dns-providers/rfc2136.ts';
import { parseRdata } from '../../src/dns/presentation.ts';
import type { PublishedType, RRset, ZoneChange } from '../../src/dns/rrset.ts';
import { startAuthoritative, type AuthoritativeServer, type ServerKind } from '../support/authoritative-servers.ts';
import { refusal } from '../support/provider-fixtures.ts';

const once = { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 };

function sets(zone: string) {
  const agent = `billing.agents.${zone}`;
  const txt: RRset<'TXT'> = {
    name: `_atr.${agent}`,
    type: 'TXT',
    ttl: 60,
    records: [{ strings: ['v=atr1; status=active; fp=sha256:ab12', 'say "hi"\\now', 'é and 😀', 'x'.repeat(255), ''] }],
  };
  const tlsa: RRset<'TLSA'> = { name: `_443._tcp.${agent}`, type: 'TLSA', ttl: 60, records: [{ usage: 3, selector: 1, matchingType: 1, data: 'ab'.repeat(32) }] };
  const srv: RRset<'SRV'> = {
    name: `_atr._tcp.${agent}`,
    type: 'SRV',
    ttl: 60,
    records: [
      { priority: 10, weight: 5, port: 8443, target: agent },
      { priority: 20, weight: 0, port: 9443, target: `backup.agents.${zone}` },
    ],
  };
  const svcb: RRset<'SVCB'> = {
    name: `_billing._agents.${zone}`,
    type: 'SVCB',
    ttl: 60,
    records: [
      {
        priority: 1,
        target: agent,
        params: [
          { key: 'alpn', value: 'h2,http/1.1' },
          { key: 'port', value: '8443' },
          { key: 'key65400', value: 'atr v1' },
        ],
      },
    ],
  };
  return { txt, tlsa, srv, svcb };
}

/** What the server holds for the set's name and type, as data, in a stable order. */
function held(server: AuthoritativeServer, rrset: Pick<RRset, 'name' | 'type'>): unknown[] {
  return server
    .dig(rrset.name, rrset.type)
    .map((line) => parseRdata(rrset.type as PublishedType, line))
    .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}
const wanted = (rrset: RRset) => [...rrset.records].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

describe.each<ServerKind>(['bind', 'knot'])('RFC 2136 provider against %s', (kind) => {
  let server: AuthoritativeServer;
  let records: ReturnType<typeof sets>;
  const provider = (overrides: { secret?: string; keyName?: string; port?: number } = {}) =>
    new Rfc2136Provider({
      host: '127.0.0.1',
      port: overrides.port ?? server.port,
      keyName: overrides.keyName ?? server.keyName,
      secret: overrides.secret ?? server.secret,
      timeoutMs: 5_000,
      retry: once,
    });
  const change = (upsert: RRset[], remove: RRset[] = [], zone = server.zone): ZoneChange => ({ zone, upsert, remove });

  beforeAll(async () => {
    server = await startAuthoritative(kind);
    records = sets(server.zone);
  });
  afterAll(() => server.stop());

  it('publishes TXT with many strings, TLSA, SRV and SVCB in one signed update', async () => {
    const { txt, tlsa, srv, svcb } = records;
    await provider().apply(change([txt, tlsa, srv, svcb]));
    for (const rrset of [txt, tlsa, srv, svcb]) expect(held(server, rrset), `${rrset.type}\n${server.log()}`).toEqual(wanted(rrset));
  });

  it('finds the server\'s zone when the published zone lies inside it (DNS_ZONES agents.<zone> on a server holding <zone>)', async () => {
    const inner = `agents.${server.zone}`;
    const txt: RRset<'TXT'> = { name: `_atr.inner.${inner}`, type: 'TXT', ttl: 60, records: [{ strings: ['v=atr1; status=active'] }] };
    await provider().apply(change([txt], [], inner));
    expect(held(server, txt), server.log()).toEqual(wanted(txt));
    await provider().apply(change([], [txt], inner));
    expect(held(server, txt)).toEqual([]);
  });

  it('is idempotent, and an upsert replaces the whole set', async () => {
    const { txt, srv } = records;
    const dns = provider();
    await dns.apply(change([txt, srv]));
    await dns.apply(change([txt, srv]));
    expect(held(server, txt)).toEqual(wanted(txt));

    const revoked: RRset<'TXT'> = { ...txt, records: [{ strings: ['v=atr1; status=revoked'] }] };
    const fewer: RRset<'SRV'> = { ...srv, records: srv.records.slice(0, 1) };
    await dns.apply(change([revoked, fewer]));
    expect(held(server, txt)).toEqual(wanted(revoked));
    expect(held(server, srv)).toEqual(wanted(fewer));
  });

  it('removes sets, and removing them again succeeds', async () => {
    const { txt, tlsa, srv, svcb } = records;
    const dns = provider();
    await dns.apply(change([txt, tlsa, srv, svcb]));
    await dns.apply(change([], [tlsa, svcb]));
    expect(held(server, tlsa)).toEqual([]);
    expect(held(server, svcb)).toEqual([]);
    expect(held(server, srv)).toEqual(wanted(srv));
    await dns.apply(change([], [tlsa, svcb]));
    expect(held(server, tlsa)).toEqual([]);
  });

  it('is refused, not retryably and changing nothing, when signed with a wrong secret', async () => {
    const { txt } = records;
    await provider().apply(change([txt]));
    const wrong = Buffer.alloc(32, 7).toString('base64');
    const refused = await refusal(provider({ secret: wrong }).apply(change([{ ...txt, records: [{ strings: ['forged'] }] }])));
    expect(refused.retryable).toBe(false);
    expect(refused.message).toContain('NOTAUTH (TSIG BADSIG for key atr-test)');
    for (const secret of [wrong, server.secret]) expect(refused.message).not.toContain(secret);
    expect(held(server, txt)).toEqual(wanted(txt));
  });

  it('is refused, not retryably, for a key the server does not know', async () => {
    const refused = await refusal(provider({ keyName: 'no-such-key' }).apply(change([records.txt])));
    expect(refused.retryable).toBe(false);
    expect(refused.message).toContain('NOTAUTH (TSIG BADKEY for key no-such-key)');
  });

  it('names NOTZONE when a record lies outside the zone, and retries nothing', async () => {
    const outside: RRset<'TXT'> = { name: `_atr.billing.${server.lockedZone}`, type: 'TXT', ttl: 60, records: [{ strings: ['x'] }] };
    const refused = await refusal(provider().apply(change([outside])));
    expect(refused.retryable).toBe(false);
    expect(refused.message).toMatch(/refused the update of zone example\.test: NOTZONE$/);
    expect(server.dig(outside.name, 'TXT')).toEqual([]);
  });

  it('is refused, not retryably, in a zone that takes no updates from the key', async () => {
    const locked: RRset<'TXT'> = { name: `_atr.billing.${server.lockedZone}`, type: 'TXT', ttl: 60, records: [{ strings: ['x'] }] };
    const refused = await refusal(provider().apply(change([locked], [], server.lockedZone)));
    expect(refused.retryable).toBe(false);
    // BIND refuses by policy (REFUSED); Knot's ACL does not accept the key for that zone (NOTAUTH, BADKEY).
    expect(refused.message).toMatch(kind === 'bind' ? /: REFUSED$/ : /NOTAUTH \(TSIG BADKEY/);
    expect(server.dig(locked.name, 'TXT')).toEqual([]);
  });

  it('rejects an answer altered on the way: its TSIG does not verify', async () => {
    // A TCP relay that sets the RA bit in the server's answer (after the 2-byte length): one bit the MAC covers.
    const relay: Server = createServer((client) => {
      const upstream = connect({ host: '127.0.0.1', port: server.port });
      client.pipe(upstream);
      let first = true;
      upstream.on('data', (chunk: Buffer) => {
        if (first && chunk.length > 5) chunk[5] = (chunk[5] ?? 0) | 0x80;
        first = false;
        client.write(chunk);
      });
      upstream.on('end', () => client.end());
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const address = relay.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    try {
      const refused = await refusal(provider({ port }).apply(change([records.txt])));
      expect(refused.message).toContain('answer fails TSIG verification: a MAC that does not verify');
      expect(refused.retryable).toBe(false);
    } finally {
      await new Promise((resolve) => relay.close(resolve));
    }
  });

  it('reports a server that does not answer as retryable', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const address = closed.address();
    await new Promise((resolve) => closed.close(resolve));
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const refused = await refusal(provider({ port }).apply(change([records.txt])));
    expect(refused.retryable).toBe(true);
    expect(refused.message).toBe(`the DNS server 127.0.0.1:${port} is unreachable: ECONNREFUSED`);
  });
});
