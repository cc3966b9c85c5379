import { describe, expect, it } from 'vitest';
import { DomainError } from '../../src/errors.ts';
import { brokenNameRule, validateAgentName } from '../../src/registry/names.ts';

describe('agent names', () => {
  it.each([
    'a',
    'billing-agent',
    'billing.agents.example.com',
    'x1.y2.z3',
    'xn--bcher-kva.example',
    `${'a'.repeat(63)}.example`,
    [...Array(4)].map(() => 'a'.repeat(63)).join('.').slice(0, 253),
  ])('accepts %s', (name) => {
    expect(brokenNameRule(name)).toBeUndefined();
  });

  it.each([
    ['', 'must not be empty'],
    ['Billing', 'must be lowercase'],
    ['bill ing', 'whitespace'],
    ['bill\u0000ing', 'control'],
    ['bill\u200bing', 'control or format'],
    ['bill\ning', 'control'],
    ['.billing', 'labels must not be empty'],
    ['billing.', 'labels must not be empty'],
    ['a..b', 'labels must not be empty'],
    ['-billing', 'must not start or end with a hyphen'],
    ['billing-', 'must not start or end with a hyphen'],
    ['a.-b.c', 'must not start or end with a hyphen'],
    ['bill_ing', 'may contain only a-z, 0-9 and hyphens'],
    ['bіlling', 'must be ASCII'], // Cyrillic і: a look-alike is not an LDH character
    ['ab--cd', 'reserved for xn-- labels'],
    ['xn--zz', 'not valid punycode'],
    ['xn--abc-', 'must not start or end with a hyphen'],
    [`${'a'.repeat(64)}.example`, 'longer than 63 characters'],
    [`${'a.'.repeat(127)}ab`, 'at most 253 characters'],
  ])('refuses %j: %s', (name, rule) => {
    expect(brokenNameRule(name)).toContain(rule);
    expect(() => validateAgentName(name)).toThrow(DomainError);
    try {
      validateAgentName(name);
    } catch (error) {
      expect((error as DomainError).code).toBe('invalid_name');
      expect((error as DomainError).message).toContain(rule);
    }
  });

  it('refuses an xn-- label that is valid punycode only after normalisation', () => {
    expect(brokenNameRule('xn--abc')).toContain('not valid punycode');
  });
});
