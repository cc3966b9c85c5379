import { DomainError, type ErrorCode, quoted } from '../errors.ts';

/** PEM text for DER bytes: RFC 7468 strict form, 64-character lines. */
export function toPem(der: Uint8Array, label: string): string {
  const lines = Buffer.from(der).toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

export interface PemRules {
  /** The request field, named in every message. */
  readonly field: string;
  /** Labels accepted, e.g. CERTIFICATE REQUEST and NEW CERTIFICATE REQUEST. */
  readonly labels: readonly string[];
  readonly maxBytes: number;
  /** Code for malformed input; oversized input is always input_too_large. */
  readonly code: ErrorCode;
}

const BEGIN = '-----BEGIN ';
const END = '-----END ';
const DASHES = '-----';
const LABEL = /^[A-Z0-9]+( [A-Z0-9]+)*$/;
const SPACE = /^[ \t\r\n]*$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Decodes text that must be exactly one PEM block with an accepted label and nothing but whitespace around it.
 * Every step is a linear scan: a 64 KiB input of crafted whitespace must not cost more than a 64 KiB certificate.
 */
export function decodeOnePem(text: string, rules: PemRules): Buffer {
  const refuse = (rule: string) => new DomainError(rules.code, `${rules.field}: ${rule}`);
  if (Buffer.byteLength(text, 'utf8') > rules.maxBytes) {
    throw new DomainError('input_too_large', `${rules.field}: must be at most ${rules.maxBytes} bytes`);
  }
  const expected = rules.labels.join(' or ');
  const begin = text.indexOf(BEGIN);
  if (begin < 0) throw refuse(`must be a PEM block labelled ${expected}`);
  const blocks = countOf(text, BEGIN);
  if (blocks > 1) throw refuse(`must be exactly one PEM block, found ${blocks}`);
  if (!SPACE.test(text.slice(0, begin))) throw refuse('must contain nothing but whitespace around the PEM block');
  const labelEnd = text.indexOf(DASHES, begin + BEGIN.length);
  const label = labelEnd < 0 ? '' : text.slice(begin + BEGIN.length, labelEnd);
  if (!LABEL.test(label)) throw refuse(`must be a PEM block labelled ${expected}`);
  // LABEL lets only capitals, digits and spaces through: shown as they are, cut short.
  if (!rules.labels.includes(label)) throw refuse(`PEM label must be ${expected}, not ${label.length > 64 ? `${label.slice(0, 64)}…` : label}`);
  const bodyStart = labelEnd + DASHES.length;
  const end = text.indexOf(END, bodyStart);
  const endLabelEnd = end < 0 ? -1 : text.indexOf(DASHES, end + END.length);
  if (endLabelEnd < 0) throw refuse(`PEM block has no -----END ${label}----- line`);
  const endLabel = text.slice(end + END.length, endLabelEnd);
  if (endLabel !== label) throw refuse(`PEM END label ${quoted(endLabel)} does not match BEGIN label ${label}`);
  if (!SPACE.test(text.slice(endLabelEnd + DASHES.length))) {
    throw refuse('must contain nothing but whitespace around the PEM block');
  }
  const base64 = text.slice(bodyStart, end).replace(/[ \t\r\n]/g, '');
  if (!BASE64.test(base64) || base64.length % 4 !== 0) {
    throw refuse('PEM body is not base64 (PEM headers are not accepted)');
  }
  const der = Buffer.from(base64, 'base64');
  if (der.length === 0) throw refuse('PEM body is empty');
  return der;
}

function countOf(text: string, marker: string): number {
  let count = 0;
  for (let at = text.indexOf(marker); at >= 0; at = text.indexOf(marker, at + marker.length)) count++;
  return count;
}
