import { DomainError, type ErrorCode } from '../errors.ts';

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

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;
const BASE64_BODY = /^[A-Za-z0-9+/\s]*={0,2}\s*$/;

/** Decodes text that must be exactly one PEM block with an accepted label and nothing but whitespace around it. */
export function decodeOnePem(text: string, rules: PemRules): Buffer {
  const refuse = (rule: string) => new DomainError(rules.code, `${rules.field}: ${rule}`);
  if (Buffer.byteLength(text, 'utf8') > rules.maxBytes) {
    throw new DomainError('input_too_large', `${rules.field}: must be at most ${rules.maxBytes} bytes`);
  }
  const blocks = [...text.matchAll(BLOCK)];
  const [block] = blocks;
  const expected = rules.labels.join(' or ');
  if (!block) throw refuse(`must be a PEM block labelled ${expected}`);
  if (blocks.length > 1) throw refuse(`must be exactly one PEM block, found ${blocks.length}`);
  const [whole, label = '', body = '', endLabel] = block;
  if (!rules.labels.includes(label)) throw refuse(`PEM label must be ${expected}, not ${label}`);
  if (endLabel !== label) throw refuse(`PEM END label ${endLabel} does not match BEGIN label ${label}`);
  if (text.slice(0, block.index).trim() !== '' || text.slice(block.index + whole.length).trim() !== '') {
    throw refuse('must contain nothing but whitespace around the PEM block');
  }
  const base64 = body.replace(/\s/g, '');
  if (!BASE64_BODY.test(body) || base64.length % 4 !== 0) {
    throw refuse('PEM body is not base64 (PEM headers are not accepted)');
  }
  const der = Buffer.from(base64, 'base64');
  if (der.length === 0) throw refuse('PEM body is empty');
  return der;
}
