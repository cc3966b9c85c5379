import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeAgent, decodeCertificateWithAgent, encodeAgent, encodeCertificateWithAgent } from '../../src/cache/record-codec.ts';
import type { AgentRecord, CertificateRecord } from '../../src/registry/records.ts';

const date = fc.date({ min: new Date(0), max: new Date('2200-01-01T00:00:00Z'), noInvalidDate: true });

const certificate: fc.Arbitrary<CertificateRecord> = fc.record({
  id: fc.nat(),
  agentId: fc.nat(),
  serial: fc.stringMatching(/^[0-9a-f]{1,40}$/),
  fingerprint: fc.stringMatching(/^[0-9a-f]{64}$/),
  pem: fc.string(),
  notBefore: date,
  notAfter: date,
  revokedAt: fc.option(date, { nil: null }),
  revocationReason: fc.option(fc.string(), { nil: null }),
}, { noNullPrototype: true });

const agent: fc.Arbitrary<AgentRecord> = fc.record({
  id: fc.nat(),
  name: fc.domain(),
  owner: fc.string(),
  capabilities: fc.array(fc.string()),
  description: fc.string({ unit: 'binary' }),
  endpoints: fc.array(fc.webUrl()),
  state: fc.constantFrom('active' as const, 'revoked' as const),
  revokedAt: fc.option(date, { nil: null }),
  revocationReason: fc.option(fc.string(), { nil: null }),
  version: fc.nat(),
  createdAt: date,
  updatedAt: date,
  certificate: fc.option(certificate, { nil: null }),
}, { noNullPrototype: true });

describe('the records the Redis cache stores', () => {
  it('read back equal to what was written, dates as Dates to the millisecond and nulls as nulls', () => {
    fc.assert(
      fc.property(agent, (record) => {
        const decoded = decodeAgent(encodeAgent(record));
        expect(decoded).toStrictEqual(record);
        expect(decoded.createdAt).toBeInstanceOf(Date);
      }),
    );
    fc.assert(
      fc.property(certificate, agent, (presented, owner) => {
        expect(decodeCertificateWithAgent(encodeCertificateWithAgent({ certificate: presented, agent: owner }))).toStrictEqual({
          certificate: presented,
          agent: owner,
        });
      }),
    );
  });

  it('are refused when they do not have the shape (another version wrote them, or they are damaged)', () => {
    const [sample] = fc.sample(agent, { numRuns: 1, seed: 1 });
    const json = JSON.parse(encodeAgent(sample!)) as Record<string, unknown>;
    for (const damaged of [
      { ...json, createdAt: '2024-01-01T00:00:00Z' },
      { ...json, state: 'expired' },
      { ...json, capabilities: 'a,b' },
      { ...json, certificate: { serial: 'x' } },
    ]) {
      expect(() => decodeAgent(JSON.stringify(damaged))).toThrow(TypeError);
    }
    expect(() => decodeAgent('[]')).toThrow(TypeError);
    expect(() => decodeCertificateWithAgent(JSON.stringify({ agent: json }))).toThrow(TypeError);
  });
});
