import { domainToASCII, domainToUnicode } from 'node:url';
import { DomainError } from '../errors.ts';

const MAX_NAME_LENGTH = 253;
const MAX_LABEL_LENGTH = 63;
const LDH_LABEL = /^[a-z0-9-]+$/;

/** Checks an agent name against the DNS name rules and throws the first rule it breaks. */
export function validateAgentName(name: string): void {
  const broken = brokenNameRule(name);
  if (broken) throw new DomainError('invalid_name', `agent_name ${JSON.stringify(name)}: ${broken}`);
}

/** The first DNS name rule that the name breaks, or undefined when it is a valid agent name. */
export function brokenNameRule(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  // Checked before anything else so that the message names the real problem, not a symptom of it.
  if (/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(name)) return 'must not contain control or format characters';
  if (/\s/u.test(name)) return 'must not contain whitespace';
  if (name.length > MAX_NAME_LENGTH) return `must be at most ${MAX_NAME_LENGTH} characters`;
  if (name !== name.toLowerCase()) return 'must be lowercase';
  const labels = name.split('.');
  for (const label of labels) {
    const broken = brokenLabelRule(label);
    if (broken) return broken;
  }
  return undefined;
}

function brokenLabelRule(label: string): string | undefined {
  if (label.length === 0) return 'labels must not be empty (no leading, trailing or double dots)';
  if (label.length > MAX_LABEL_LENGTH) return `label "${label}" is longer than ${MAX_LABEL_LENGTH} characters`;
  if (!LDH_LABEL.test(label)) return `label "${label}" may contain only a-z, 0-9 and hyphens`;
  if (label.startsWith('-') || label.endsWith('-')) return `label "${label}" must not start or end with a hyphen`;
  if (label.slice(2, 4) === '--') {
    if (!label.startsWith('xn--')) return `label "${label}" has hyphens in positions 3-4, reserved for xn-- labels`;
    if (!isValidPunycode(label)) return `label "${label}" is not valid punycode`;
  }
  return undefined;
}

function isValidPunycode(label: string): boolean {
  const unicode = domainToUnicode(label);
  return unicode !== '' && unicode !== label && domainToASCII(unicode) === label;
}
