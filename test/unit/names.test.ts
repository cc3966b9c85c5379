import { domainToASCII } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DomainError } from '../../src/errors.ts';
import { REGISTERED_NAME, brokenNameRule, validateAgentName } from '../../src/registry/names.ts';
import { KNOWN_SCRIPTS, NEWER_SCRIPTS, isKnownScript } from '../../src/registry/unicode-scripts.ts';

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

// Labels are written in Unicode and encoded here, so no test depends on hand-typed punycode.
const xn = (unicode: string) => domainToASCII(unicode);

describe('mixed-script labels (UTS #39)', () => {
  it('refuses "pаypal" with a Cyrillic а, naming the label, its Unicode form, the scripts and the setting', () => {
    expect(xn('pаypal')).toBe('xn--pypal-4ve');
    expect(brokenNameRule('xn--pypal-4ve.example.com')).toBe(
      'label "xn--pypal-4ve" ("pаypal") mixes the Latin and Cyrillic scripts (UTS #39); set ALLOW_MIXED_SCRIPT_NAMES=true to allow it',
    );
    try {
      validateAgentName('xn--pypal-4ve.example.com');
      expect.unreachable();
    } catch (error) {
      expect((error as DomainError).code).toBe('invalid_name');
      expect((error as DomainError).message).toMatch(/^agent_name: label "xn--pypal-4ve" \("pаypal"\) mixes the Latin and Cyrillic scripts .* \("xn--pypal-4ve\.example\.com"\)$/);
    }
  });

  it.each([
    ['Latin with a diacritic', 'münchen'],
    ['Cyrillic only', 'москва'],
    ['Greek only', 'αθήνα'],
    ['Japanese: Han, Hiragana, Katakana and Latin', '東京のカタカナabc'],
    ['Chinese: Han and Latin', '中文abc'],
    ['Chinese: Han and Bopomofo', 'ㄅㄆ中文'],
    ['Korean: Hangul and Han', '한국어漢字'],
    ['Korean: Hangul, Han and Latin', '한국abc'],
    ['Cyrillic with digits and hyphens', 'москва-24-7'],
    ['Greek with digits', 'αβγ-2'],
    ['Han with digits', '日本-1'],
    ['a symbol of no script (Common)', '☃'],
  ])('accepts %s: %s', (_, unicode) => {
    const name = `${xn(unicode)}.example`;
    expect(name).toMatch(/^xn--/);
    expect(brokenNameRule(name)).toBeUndefined();
  });

  it.each([
    ['Latin and Greek', 'aβc', 'Latin and Greek'],
    ['Cyrillic and Greek', 'мαρ', 'Cyrillic and Greek'],
    ['Latin, Greek and Cyrillic', 'aβм', 'Latin, Greek and Cyrillic'],
    ['Cyrillic and Katakana (not a writing system Highly Restrictive allows)', 'мカ', 'Cyrillic and Katakana'],
    ['Hangul and Hiragana (two CJK writing systems)', '한の', 'Hangul and Hiragana'],
    ['Bopomofo and Hangul', 'ㄅ한', 'Bopomofo and Hangul'],
  ])('refuses %s', (_, unicode, scripts) => {
    expect(brokenNameRule(`${xn(unicode)}.example`)).toContain(`mixes the ${scripts} scripts (UTS #39)`);
  });

  it('checks every xn-- label on its own: a Cyrillic label next to a Latin one is fine', () => {
    expect(brokenNameRule(`${xn('москва')}.example.com`)).toBeUndefined();
    expect(brokenNameRule(`${xn('москва')}.${xn('pаypal')}.com`)).toContain('label "xn--pypal-4ve"');
  });

  it('accepts mixed-script names that may already be registered', () => {
    expect(brokenNameRule('xn--pypal-4ve.example.com', REGISTERED_NAME)).toBeUndefined();
    expect(() => validateAgentName('xn--pypal-4ve.example.com', REGISTERED_NAME)).not.toThrow();
    expect(brokenNameRule('xn--zz.example', REGISTERED_NAME)).toContain('not valid punycode');
  });
});

describe('the script list', () => {
  // The older scripts are compiled when the module loads; the newer ones only where the engine knows them.
  it('spells the newer scripts as this engine does, up to its Unicode version', () => {
    const unicode = Number.parseFloat(process.versions.unicode ?? '0');
    const expected = Object.entries(NEWER_SCRIPTS)
      .filter(([version]) => Number.parseFloat(version) <= unicode)
      .flatMap(([, scripts]) => scripts);
    expect(expected.filter((script) => !isKnownScript(script) || !KNOWN_SCRIPTS.has(script))).toEqual([]);
  });

  it('misses no script: every assigned code point is in a listed script, Common or Inherited', () => {
    const listed = [...KNOWN_SCRIPTS.keys()].map((script) => `\\p{scx=${script}}`).join('');
    const covered = new RegExp(`^[${listed}\\p{scx=Common}\\p{scx=Inherited}\\p{sc=Unknown}]$`, 'u');
    const missed: string[] = [];
    for (let codePoint = 0; codePoint <= 0x10ffff; codePoint++) {
      if (!covered.test(String.fromCodePoint(codePoint))) missed.push(`U+${codePoint.toString(16).toUpperCase()}`);
    }
    expect(missed.slice(0, 10)).toEqual([]);
  });
});
