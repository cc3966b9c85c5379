import { describe, expect, it } from 'vitest';
import { DomainError, quoted } from '../../src/errors.ts';
import { jsonDepth } from '../../src/json-depth.ts';
import { parseCsr } from '../../src/pki/csr.ts';
import { derProblemOf } from '../../src/pki/der-structure.ts';
import { decodeOnePem } from '../../src/pki/pem.ts';
import {
  checkAgentFilter,
  checkAuditFilter,
  checkCapabilities,
  checkDescription,
  checkEndpoints,
  checkOwner,
} from '../../src/registry/fields.ts';
import { brokenNameRule, validateAgentName } from '../../src/registry/names.ts';
import { jsonTextOf } from '../../src/server/input-limits.ts';
import { decodePageToken, encodePageToken } from '../../src/services/pagination.ts';
import { JwsError, parseToken } from '../../src/verify/jws.ts';
import { derNestingBomb, pemOf } from '../fuzz/hostile.ts';
import { keyAndCsr } from '../support/keys.ts';

/** The DomainError a call throws, as code and message. */
function refusal(call: () => unknown): { code: string; message: string } {
  try {
    call();
  } catch (error) {
    if (error instanceof DomainError) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('agent names refuse look-alikes and invisible characters, naming the character', () => {
  it.each([
    ['раураl.example', 'must be ASCII (write internationalised labels as xn--); "р" (U+0440) is not'],
    ['ｐａｙｐａｌ.example', '"ｐ" (U+FF50) is not'],
    ['ＰＡＹＰＡＬ.example', '"Ｐ" (U+FF30) is not'],
    ['pay\u200dpal.example', 'must not contain control or format characters'],
    ['pay\u202epal.example', 'must not contain control or format characters'],
    ['pay\ud800pal.example', 'must not contain control or format characters'],
    ['pay\u00a0pal.example', 'must not contain whitespace'],
    ['pay\u3000pal.example', 'must not contain whitespace'],
    ['İstanbul.example', '"İ" (U+0130) is not'],
  ])('%j', (name, rule) => {
    expect(brokenNameRule(name)).toContain(rule);
  });

  it('accepts valid punycode and refuses xn-- labels that do not decode', () => {
    expect(brokenNameRule('xn--80ak6aa92e.example')).toBeUndefined();
    for (const name of ['xn--a', 'xn--zz.example', 'xn--abc.example']) expect(brokenNameRule(name)).toContain('punycode');
  });

  it('says "agent_name: <rule>" and quotes at most 64 characters of the name', () => {
    const { code, message } = refusal(() => validateAgentName('a'.repeat(5000)));
    expect(code).toBe('invalid_name');
    expect(message).toBe(`agent_name: must be at most 253 characters ("${'a'.repeat(64)}"…)`);
    expect(refusal(() => validateAgentName("x' OR 1=1 --")).message).toBe(`agent_name: must not contain whitespace ("x' OR 1=1 --")`);
  });
});

describe('owners are ASCII words with single spaces', () => {
  it.each(['team-a', 'Payments Team', 'ops@example.com', 'org/unit:42', 'a+b'])('accepts %j', (owner) => {
    expect(checkOwner(owner)).toBe(owner);
  });

  it.each([
    ['', 'owner: must not be empty'],
    ['tеam', 'owner: may contain only ASCII letters, digits, single spaces and ._@:/+-; "е" (U+0435) is not'],
    ['ｔｅａｍ', '"ｔ" (U+FF54) is not'],
    ['te\u200bam', 'U+200B is not'],
    ['team\u0000', 'U+0000 is not'],
    ['team\ta', 'U+0009 is not'],
    ["x' OR 1=1 --", `"'" (U+0027) is not`],
    [' team', 'owner: must start with a letter or digit'],
    ['team ', 'owner: must not end with a space or contain two spaces in a row'],
    ['team  a', 'owner: must not end with a space or contain two spaces in a row'],
    ['a'.repeat(256), 'owner: must be at most 255 characters'],
  ])('refuses %j', (owner, rule) => {
    expect(refusal(() => checkOwner(owner))).toEqual({ code: 'invalid_argument', message: expect.stringContaining(rule) });
  });
});

describe('capabilities, descriptions and endpoints', () => {
  it('allows 64 capabilities of 64 characters and refuses one more of either', () => {
    const sixtyFour = Array.from({ length: 64 }, (_, i) => `${i}`.padEnd(64, 'x'));
    expect(checkCapabilities(sixtyFour)).toEqual(sixtyFour);
    expect(refusal(() => checkCapabilities([...sixtyFour, 'extra'])).message).toBe('capabilities: at most 64 capabilities');
    expect(refusal(() => checkCapabilities(['x'.repeat(65)])).message).toBe('capabilities: each capability must be 1 to 64 characters');
    expect(refusal(() => checkCapabilities(['séarch'])).message).toContain('only ASCII letters');
  });

  it('refuses unpaired surrogates, which UTF-8 cannot store', () => {
    expect(refusal(() => checkDescription('half \ud800 a pair')).message).toBe('description: must be well-formed Unicode (no unpaired surrogates)');
    expect(checkDescription('a whole pair: \u{1f600}')).toBe('a whole pair: \u{1f600}');
    expect(refusal(() => checkEndpoints(['https://example.com/\udfff'])).message).toContain('must be an absolute URI');
  });
});

describe('list filters obey the rules of the fields they filter', () => {
  it.each([
    [{ owner: "x' OR 1=1 --" }, 'owner: may contain only'],
    [{ owner: 'team\u0000' }, 'owner: may contain only'],
    [{ capability: "search' OR '1'='1" }, 'capability: "search\' OR \'1\'=\'1" must start with a letter or digit'],
    [{ capability: 'x'.repeat(65) }, 'capability: each capability must be 1 to 64 characters'],
  ])('ListAgents %j', (filter, rule) => {
    expect(refusal(() => checkAgentFilter(filter)).message).toContain(rule);
  });

  it.each([
    [{ agentName: "x' OR 1=1 --" }, 'agent_name: must not contain whitespace'],
    [{ agentName: 'a%' }, 'agent_name: label "a%" may contain only a-z, 0-9 and hyphens'],
    [{ eventType: "agent.registered' --" }, 'event_type: "agent.registered\' --" is not one of agent.registered, agent.rotated'],
    [{ eventType: 'agent.%' }, 'event_type: "agent.%" is not one of'],
  ])('ListAuditEvents and ListEntries %j', (filter, rule) => {
    expect(refusal(() => checkAuditFilter(filter)).message).toContain(rule);
  });

  it('lets valid filters through unchanged', () => {
    expect(checkAgentFilter({ owner: 'team-a', capability: 'billing:read', status: 'active' })).toEqual({
      owner: 'team-a',
      capability: 'billing:read',
      status: 'active',
    });
    expect(checkAuditFilter({ agentName: 'a.example', eventType: 'cert.verified' })).toEqual({ agentName: 'a.example', eventType: 'cert.verified' });
    expect(checkAuditFilter({})).toEqual({});
  });
});

describe('PEM: exactly one block, nothing around it, decoded in linear time', () => {
  const rules = { field: 'cert_pem', labels: ['CERTIFICATE'], maxBytes: 64 * 1024, code: 'invalid_certificate' as const };
  const block = pemOf(Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x01), 'CERTIFICATE');
  const decode = (text: string) => refusal(() => decodeOnePem(text, rules));

  it.each([
    [`${block}trailing garbage`, 'cert_pem: must contain nothing but whitespace around the PEM block'],
    [`${block}\u0000`, 'cert_pem: must contain nothing but whitespace around the PEM block'],
    [`junk ${block}`, 'cert_pem: must contain nothing but whitespace around the PEM block'],
    [block + block, 'cert_pem: must be exactly one PEM block, found 2'],
    [block.replace('-----END CERTIFICATE-----\n', ''), 'cert_pem: PEM block has no -----END CERTIFICATE----- line'],
    [block.replace('END CERTIFICATE', 'END X509 CRL'), 'cert_pem: PEM END label "X509 CRL" does not match BEGIN label CERTIFICATE'],
    [block.replace(/CERTIFICATE/g, 'A'.repeat(100)), `cert_pem: PEM label must be CERTIFICATE, not ${'A'.repeat(64)}…`],
    [block.replace('-----\n', '-----\nProc-Type: 4,ENCRYPTED\n\n'), 'cert_pem: PEM body is not base64'],
    // Each of these took seconds with the earlier regular expressions.
    [`-----BEGIN CERTIFICATE-----\n${' '.repeat(60_000)}!\n-----END CERTIFICATE-----\n`, 'cert_pem: PEM body is not base64'],
    ['-----BEGIN A-----'.repeat(3_000), 'cert_pem: must be exactly one PEM block, found 3000'],
  ])('refuses %#', (text, rule) => {
    expect(decode(text)).toEqual({ code: 'invalid_certificate', message: expect.stringContaining(rule) });
  });

  it('accepts CRLF lines and surrounding whitespace', () => {
    expect(decodeOnePem(`\r\n ${block.replace(/\n/g, '\r\n')}\n\n`, rules)).toEqual(Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]));
  });
});

describe('DER: one value, definite lengths, at most 32 levels deep', () => {
  it.each([
    ['a nesting bomb', derNestingBomb(20_000), 'too_deep'],
    ['33 levels', derNestingBomb(33), 'too_deep'],
    ['bytes after the value', Uint8Array.of(0x30, 0x00, 0x00), 'trailing_data'],
    ['an indefinite length', Uint8Array.of(0x30, 0x80, 0x00, 0x00), 'not_der'],
    ['a length past the input', Uint8Array.of(0x30, 0x05, 0x02, 0x01, 0x01), 'not_der'],
    ['a child past its parent', Uint8Array.of(0x30, 0x06, 0x30, 0x02, 0x02, 0x02, 0x01, 0x00), 'not_der'],
    ['nothing', new Uint8Array(), 'not_der'],
  ])('refuses %s', (_label, der, problem) => {
    expect(derProblemOf(der)).toBe(problem);
  });

  it('accepts 32 levels and primitive contents that only look like DER', () => {
    expect(derProblemOf(derNestingBomb(32))).toBeUndefined();
    expect(derProblemOf(Uint8Array.of(0x04, 0x02, 0x30, 0x80))).toBeUndefined();
  });

  it('refuses a CSR nesting bomb as invalid_csr, before any ASN.1 library parses it', async () => {
    await expect(parseCsr(pemOf(derNestingBomb(10_000), 'CERTIFICATE REQUEST'))).rejects.toMatchObject({
      code: 'invalid_csr',
      message: 'csr_pem: nests DER elements deeper than 32 levels',
    });
    const { csrPem } = await keyAndCsr();
    const der = Buffer.from(csrPem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
    await expect(parseCsr(pemOf(der.subarray(0, der.length - 1), 'CERTIFICATE REQUEST'))).rejects.toMatchObject({
      message: 'csr_pem: is not a DER-encoded PKCS#10 certificate request',
    });
  });
});

describe('page tokens are only the exact form the server writes', () => {
  it('reads its own tokens and refuses anything else', () => {
    expect(decodePageToken(encodePageToken(42))).toBe(42);
    for (const token of [`${encodePageToken(42)}!!`, `${encodePageToken(42)}=`, Buffer.from('after:042').toString('base64url'), Buffer.from('after:1 OR 1=1').toString('base64url'), 'x'.repeat(10_000)]) {
      expect(refusal(() => decodePageToken(token)).message, token).toBe('page_token: is not a token this server issued');
    }
  });
});

describe('tokens', () => {
  const part = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
  const header = part({ alg: 'ES256', 'x5t#S256': Buffer.alloc(32).toString('base64url') });
  const claims = { iss: 'a.example', sub: 'a.example', aud: 'x', iat: 1, exp: 2, jti: 'id' };

  it('refuses JSON nested deeper than 32 levels before parsing it', () => {
    expect(() => parseToken(`${header}.${part(`{"a":${'['.repeat(5000)}${']'.repeat(5000)}}`)}.AA`)).toThrow(new JwsError('payload nests deeper than 32 levels'));
  });

  it('refuses claims with control characters or over 256 characters', () => {
    expect(() => parseToken(`${header}.${part({ ...claims, jti: 'a\u0000' })}.AA`)).toThrow(JwsError);
    expect(() => parseToken(`${header}.${part({ ...claims, iss: 'a'.repeat(257) })}.AA`)).toThrow(JwsError);
    expect(parseToken(`${header}.${part(claims)}.AA`).claims.jti).toBe('id');
  });
});

describe('request bodies and messages', () => {
  it('takes JSON text only as UTF-8 nesting at most 32 levels', () => {
    expect(jsonTextOf(Buffer.from('{"a":[[1]]}'))).toBe('{"a":[[1]]}');
    expect(refusal(() => jsonTextOf(Uint8Array.of(0x7b, 0xff, 0x7d))).message).toBe('request: is not valid UTF-8');
    expect(refusal(() => jsonTextOf(Buffer.from('['.repeat(33)))).message).toBe('request: nests deeper than 32 levels');
    expect(jsonDepth('{"a":"[[[[["}')).toBe(1);
  });

  it('quotes a refused value short enough for any message', () => {
    expect(quoted('a\u0000b')).toBe('"a\\u0000b"');
    expect(quoted('x'.repeat(100))).toBe(`"${'x'.repeat(64)}"…`);
  });
});
