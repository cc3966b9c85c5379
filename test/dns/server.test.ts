// The built-in DNS server on a loopback port, asked by real clients: dig (UDP and TCP) and Node's dns.Resolver
// (c-ares), for every published type, negative answers, refusal outside the zone, case, truncation with TCP
// fallback, a change showing up with a new SOA serial, and the protocol's edges sent as raw messages.
import { Resolver } from 'node:dns/promises';
import dnsPacket from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dig, queryMessage, startZoneServer, status, udpExchange, ZONE, type ZoneServer } from './fixture.ts';

let server: ZoneServer;
let resolver: Resolver;

beforeAll(async () => {
  server = await startZoneServer();
  resolver = new Resolver({ timeout: 3000, tries: 1 });
  resolver.setServers([`127.0.0.1:${server.port}`]);
});
afterAll(() => server.close());

describe('published records, asked by dig over UDP and TCP', () => {
  it.each([
    ['TXT', `_atr.a.${ZONE}`, `"v=atr1; status=active; fp=sha256:${'ab'.repeat(32)}" "caps=chat,search"`],
    ['TLSA', `_443._tcp.a.${ZONE}`, `3 1 1 ${'CD'.repeat(28)} ${'CD'.repeat(4)}`],
    ['SRV', `_a2a._tcp.a.${ZONE}`, '10 5 8443 host.example.net.'],
    ['SVCB', `a._agents.${ZONE}`, '1 host.example.net. alpn="h2,h3" port=8443 ipv4hint=192.0.2.7 key65400="a2a"'],
    ['SOA', ZONE, `ns1.${ZONE}. hostmaster.${ZONE}. 1 3600 600 1209600 60`],
    ['NS', ZONE, `ns1.${ZONE}.`],
  ])('%s', async (type, name, expected) => {
    for (const transport of ['+notcp', '+tcp']) {
      const output = await dig(server.port, name, type, transport);
      expect(status(output)).toBe('NOERROR');
      expect(output).toMatch(/flags: qr aa;/); // authoritative, no recursion available
      expect(await dig(server.port, name, type, transport, '+short')).toBe(`${expected}\n`);
    }
  });

  it('answers NXDOMAIN for a name that does not exist and NODATA for an empty non-terminal, both with the SOA', async () => {
    const missing = await dig(server.port, `nobody.${ZONE}`, 'TXT');
    expect(status(missing)).toBe('NXDOMAIN');
    expect(missing).toMatch(/AUTHORITY SECTION:\n.*\tSOA\t/);
    // a.agents.example.com owns nothing but exists: _atr.a... and _tcp.a... lie below it.
    for (const name of [`a.${ZONE}`, `_tcp.a.${ZONE}`]) {
      const empty = await dig(server.port, name, 'TXT');
      expect(status(empty)).toBe('NOERROR');
      expect(empty).toMatch(/ANSWER: 0, AUTHORITY: 1/);
      expect(empty).toMatch(/AUTHORITY SECTION:\n.*60\tIN\tSOA\t/);
    }
    // A name that exists, asked for a type it lacks: NODATA too.
    expect(status(await dig(server.port, `_atr.a.${ZONE}`, 'SRV'))).toBe('NOERROR');
  });

  it('refuses names outside its zones and the root', async () => {
    for (const name of ['example.com', 'example.org', 'agents.example.com.evil.test', '.']) {
      const output = await dig(server.port, name, 'TXT');
      expect(status(output)).toBe('REFUSED');
      expect(output).toMatch(/ANSWER: 0, AUTHORITY: 0/);
    }
  });

  it('matches names without regard to case and answers with the question as asked', async () => {
    const output = await dig(server.port, `_ATR.A.Agents.Example.COM`, 'TXT');
    expect(status(output)).toBe('NOERROR');
    expect(output).toContain(';_ATR.A.Agents.Example.COM.\tIN\tTXT');
    expect(output).toMatch(/ANSWER SECTION:\n_atr\.a\.agents\.example\.com\.\s+60\s+IN\s+TXT\s+"v=atr1/);
    // The same name in another case right after (the encoded answer is reused): the question follows the query.
    expect(await dig(server.port, `_atr.A.agents.example.com`, 'TXT')).toContain(';_atr.A.agents.example.com.\tIN\tTXT');
  });

  it('truncates an answer too large for UDP, and dig gets it whole over TCP', async () => {
    const udpOnly = await dig(server.port, `big.${ZONE}`, 'TXT', '+ignore');
    expect(udpOnly).toMatch(/flags: qr aa tc;/);
    expect(udpOnly).toMatch(/ANSWER: 0,/);
    const classic = await dig(server.port, `big.${ZONE}`, 'TXT', '+ignore', '+noedns');
    expect(classic).toMatch(/flags: qr aa tc;/);
    const retried = await dig(server.port, `big.${ZONE}`, 'TXT');
    expect(retried).toContain('Truncated, retrying in TCP mode');
    expect(retried).toMatch(/ANSWER: 6,/);
    expect(retried).toContain('(TCP)');
    // A client taking more than 1232 bytes still gets at most what the server advertises.
    expect(await dig(server.port, `big.${ZONE}`, 'TXT', '+ignore', '+bufsize=4096')).toMatch(/flags: qr aa tc;/);
  });

  it('shows a change to the zone table in the next answer, with a new SOA serial', async () => {
    const name = `_atr.a.${ZONE}`;
    expect(await dig(server.port, name, 'TXT', '+short')).toContain('status=active');
    server.table.apply({ zone: ZONE, upsert: [{ name, type: 'TXT', ttl: 60, records: [{ strings: ['v=atr1; status=revoked'] }] }], remove: [] }, 2);
    expect(await dig(server.port, name, 'TXT', '+short')).toBe('"v=atr1; status=revoked"\n');
    expect(await dig(server.port, ZONE, 'SOA', '+short')).toMatch(/ 2 3600 600 1209600 60\n$/);
    server.table.apply({ zone: ZONE, upsert: [], remove: [{ name, type: 'TXT', ttl: 60, records: [] }] }, 3);
    // Gone, and its parent with it: nothing else lies below _atr.a, but a.agents.example.com still has _tcp.a below.
    expect(status(await dig(server.port, name, 'TXT'))).toBe('NXDOMAIN');
    expect(status(await dig(server.port, `a.${ZONE}`, 'TXT'))).toBe('NOERROR');
    server.table.apply({ zone: ZONE, upsert: [{ name, type: 'TXT', ttl: 60, records: [{ strings: ['v=atr1; status=active; fp=sha256:' + 'ab'.repeat(32), 'caps=chat,search'] }] }], remove: [] }, 4);
  });
});

describe("Node's dns.Resolver (c-ares)", () => {
  it('resolves TXT, SRV, SOA and NS', async () => {
    expect(await resolver.resolveTxt(`_atr.a.${ZONE}`)).toEqual([[`v=atr1; status=active; fp=sha256:${'ab'.repeat(32)}`, 'caps=chat,search']]);
    // Node 24's c-ares answers carry `type: 'SRV'` as well; the record is what matters.
    expect(await resolver.resolveSrv(`_a2a._tcp.a.${ZONE}`)).toEqual([expect.objectContaining({ priority: 10, weight: 5, port: 8443, name: 'host.example.net' })]);
    expect(await resolver.resolveSoa(ZONE)).toMatchObject({ nsname: `ns1.${ZONE}`, hostmaster: `hostmaster.${ZONE}`, minttl: 60 });
    expect(await resolver.resolveNs(ZONE)).toEqual([`ns1.${ZONE}`]);
  });

  it('gets the large TXT set whole (over TCP after the truncated UDP answer)', async () => {
    const records = await resolver.resolveTxt(`big.${ZONE}`);
    expect(records.map((r) => r.join('')).sort()).toEqual(Array.from({ length: 6 }, (_, i) => `${i}:${'x'.repeat(250)}`));
  });

  it('tells a missing name, an empty name and a refusal apart', async () => {
    await expect(resolver.resolveTxt(`nobody.${ZONE}`)).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(resolver.resolveTxt(`a.${ZONE}`)).rejects.toMatchObject({ code: 'ENODATA' });
    await expect(resolver.resolveTxt('example.org')).rejects.toMatchObject({ code: 'EREFUSED' });
  });
});

describe('protocol edges, as raw messages', () => {
  const exchange = async (message: Buffer) => {
    const answer = await udpExchange(server.port, message);
    if (answer === undefined) throw new Error('no answer');
    return dnsPacket.decode(answer) as dnsPacket.DecodedPacket & { rcode: string };
  };

  it('echoes EDNS with a UDP size of 1232 and the DO bit, and answers without EDNS when asked without', async () => {
    const withEdns = await exchange(queryMessage(`_atr.a.${ZONE}`, 'TXT', { dnssecOk: true }));
    const opt = withEdns.additionals?.find((a): a is dnsPacket.OptAnswer => a.type === 'OPT');
    expect(opt).toMatchObject({ udpPayloadSize: 1232, flag_do: true });
    // Unsigned zone: DO or not, no RRSIG.
    expect(withEdns.answers?.map((a) => a.type)).toEqual(['TXT']);
    const classic = await exchange(queryMessage(`_atr.a.${ZONE}`, 'TXT'));
    expect(classic.additionals).toEqual([]);
  });

  it('answers FORMERR for two questions, NOTIMP for other opcodes, BADVERS for EDNS version 1', async () => {
    const two = dnsPacket.encode({ type: 'query', id: 9, questions: [{ type: 'TXT', name: `_atr.a.${ZONE}` }, { type: 'TXT', name: `big.${ZONE}` }] });
    expect(await exchange(two)).toMatchObject({ id: 9, rcode: 'FORMERR', flag_aa: false });
    const notify = await dig(server.port, ZONE, 'SOA', '+opcode=notify');
    expect(status(notify)).toBe('NOTIMP');
    const badvers = await dig(server.port, ZONE, 'SOA', '+edns=1', '+noednsneg');
    expect(status(badvers)).toBe('BADVERS');
  });

  it('answers ANY with one RRset (RFC 8482) and refuses zone transfers', async () => {
    const any = await exchange(queryMessage(ZONE, 'ANY'));
    expect(any.answers?.map((a) => a.type)).toEqual(['SOA']);
    const anyBelow = await exchange(queryMessage(`_atr.a.${ZONE}`, 'ANY'));
    expect(anyBelow.answers?.map((a) => a.type)).toEqual(['TXT']);
    expect(await dig(server.port, ZONE, 'AXFR')).toMatch(/Transfer failed|REFUSED/);
  });

  it('never answers a response, and copies the id and RD bit', async () => {
    const response = dnsPacket.encode({ type: 'response', id: 3, questions: [{ type: 'TXT', name: `_atr.a.${ZONE}` }] });
    expect(await udpExchange(server.port, response, 300)).toBeUndefined();
    const rd = await exchange(dnsPacket.encode({ type: 'query', id: 4242, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'TXT', name: `_atr.a.${ZONE}` }] }));
    expect(rd).toMatchObject({ id: 4242, flag_rd: true, flag_ra: false, flag_aa: true });
  });
});
