import { isIP } from 'node:net';
import { invalidArgument, quoted } from '../errors.ts';
import { brokenNameRule } from '../registry/names.ts';

// Second-level labels that registries hand out under country-code TLDs (co.uk, com.au, ac.jp, ...). Without the
// Public Suffix List at hand, a name of this shape with nothing in front is taken for a registry suffix: nobody
// proves control of one, so nobody may claim it.
const REGISTRY_SECOND_LEVELS = new Set(['ac', 'co', 'com', 'edu', 'go', 'gob', 'gov', 'ltd', 'me', 'mil', 'ne', 'net', 'nic', 'or', 'org', 'plc', 'sch']);

/**
 * The one spelling of a domain the registry stores and compares: one trailing dot dropped, lowercase. Throws
 * InvalidArgument `domain: <rule>` for an IP literal, a single label (a TLD), a registry suffix such as co.uk, and
 * anything the agent name rules refuse (empty labels, non-LDH characters, hyphens at the ends, overlong labels).
 */
export function canonicalDomain(raw: string): string {
  const name = (raw.endsWith('.') ? raw.slice(0, -1) : raw).toLowerCase();
  if (name === '') throw invalidArgument('domain', 'must not be empty');
  if (isIP(name) !== 0 || isIP(name.replace(/^\[(.*)\]$/, '$1')) !== 0) {
    throw invalidArgument('domain', `must be a DNS name, not an IP address (${quoted(raw)})`);
  }
  const broken = brokenNameRule(name);
  if (broken !== undefined) throw invalidArgument('domain', `${broken} (${quoted(raw)})`);
  const labels = name.split('.');
  if (labels.length < 2) throw invalidArgument('domain', `must have at least two labels: ${quoted(name)} is a top-level domain`);
  const [second, top] = labels;
  if (labels.length === 2 && second !== undefined && top?.length === 2 && REGISTRY_SECOND_LEVELS.has(second)) {
    throw invalidArgument('domain', `${quoted(name)} is a public suffix (a registry's, not a registrant's domain)`);
  }
  if (/^\d+$/.test(labels.at(-1) ?? '')) throw invalidArgument('domain', `must be a DNS name: the last label of ${quoted(name)} is all digits`);
  return name;
}

/**
 * Every domain a name lies in, longest first, down to two labels: a.b.example.com, b.example.com, example.com.
 * Whole labels only, so a.notexample.com lies in notexample.com, never in example.com.
 */
export function enclosingDomains(name: string): string[] {
  const labels = name.split('.');
  const domains: string[] = [];
  for (let i = 0; i <= labels.length - 2; i++) domains.push(labels.slice(i).join('.'));
  return domains;
}
