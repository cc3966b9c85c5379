import { domainToASCII, domainToUnicode } from 'node:url';
import { DomainError, quoted } from '../errors.ts';
import { confusableScriptMix } from './mixed-script.ts';

const MAX_NAME_LENGTH = 253;
const MAX_LABEL_LENGTH = 63;
const LDH_LABEL = /^[a-z0-9-]+$/;
const NOT_ASCII = /[^\x20-\x7e]/u;

/** The rules a name is held to differ only for a name not yet registered. */
export interface NameRules {
  /** Accept xn-- labels that mix scripts in a way UTS #39 flags as confusable (ALLOW_MIXED_SCRIPT_NAMES). */
  readonly allowMixedScripts: boolean;
}

/** A name about to be registered, on a registry that refuses confusable mixed-script names. */
export const NEW_NAME: NameRules = { allowMixedScripts: false };

/**
 * A name that may already be registered (reads, changes, filters): mixed scripts are accepted, so an agent
 * registered while ALLOW_MIXED_SCRIPT_NAMES was on stays manageable after it is turned off.
 */
export const REGISTERED_NAME: NameRules = { allowMixedScripts: true };

/** Checks an agent name against the DNS name rules and throws the first rule it breaks. */
export function validateAgentName(name: string, rules: NameRules = NEW_NAME): void {
  const broken = brokenNameRule(name, rules);
  if (broken) throw new DomainError('invalid_name', `agent_name: ${broken} (${quoted(name)})`);
}

/** The first DNS name rule that the name breaks, or undefined when it is a valid agent name. */
export function brokenNameRule(name: string, rules: NameRules = NEW_NAME): string | undefined {
  if (name.length === 0) return 'must not be empty';
  // Checked before anything else so that the message names the real problem, not a symptom of it.
  if (/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u.test(name)) return 'must not contain control or format characters';
  if (/\s/u.test(name)) return 'must not contain whitespace';
  if (name.length > MAX_NAME_LENGTH) return `must be at most ${MAX_NAME_LENGTH} characters`;
  // Look-alikes (Cyrillic а, fullwidth ａ, ...) are refused here, before case folding could make them pass for
  // something else; internationalised names are written in their xn-- form.
  const foreign = NOT_ASCII.exec(name)?.[0];
  if (foreign !== undefined) return `must be ASCII (write internationalised labels as xn--); ${codePoint(foreign)} is not`;
  if (name !== name.toLowerCase()) return 'must be lowercase';
  const labels = name.split('.');
  for (const label of labels) {
    const broken = brokenLabelRule(label, rules);
    if (broken) return broken;
  }
  return undefined;
}

function brokenLabelRule(label: string, rules: NameRules): string | undefined {
  if (label.length === 0) return 'labels must not be empty (no leading, trailing or double dots)';
  if (label.length > MAX_LABEL_LENGTH) return `label ${quoted(label)} is longer than ${MAX_LABEL_LENGTH} characters`;
  if (!LDH_LABEL.test(label)) return `label "${label}" may contain only a-z, 0-9 and hyphens`;
  if (label.startsWith('-') || label.endsWith('-')) return `label "${label}" must not start or end with a hyphen`;
  if (label.slice(2, 4) === '--') {
    if (!label.startsWith('xn--')) return `label "${label}" has hyphens in positions 3-4, reserved for xn-- labels`;
    const decoded = decodedLabel(label);
    if (decoded === undefined) return `label "${label}" is not valid punycode`;
    // Only xn-- labels can mix scripts: an LDH label is Latin, digits and hyphens.
    if (!rules.allowMixedScripts) return brokenScriptRule(label, decoded);
  }
  return undefined;
}

/** The Unicode form of an xn-- label, or undefined when the label is not the canonical encoding of one. */
function decodedLabel(label: string): string | undefined {
  const unicode = domainToUnicode(label);
  return unicode !== '' && unicode !== label && domainToASCII(unicode) === label ? unicode : undefined;
}

function brokenScriptRule(label: string, decoded: string): string | undefined {
  const scripts = confusableScriptMix(decoded);
  if (scripts === undefined) return undefined;
  const mixed = scripts.length > 1 ? `${scripts.slice(0, -1).join(', ')} and ${scripts.slice(-1).join('')}` : scripts.join('');
  return `label "${label}" (${quoted(decoded)}) mixes the ${mixed} scripts (UTS #39); set ALLOW_MIXED_SCRIPT_NAMES=true to allow it`;
}

/** "а" (U+0430): the character and its code point, so an invisible or look-alike character can be found. */
export function codePoint(character: string): string {
  const hex = (character.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0');
  return /[\p{L}\p{N}\p{P}\p{S}]/u.test(character) ? `${JSON.stringify(character)} (U+${hex})` : `U+${hex}`;
}
