import { readElement } from './der.ts';

/**
 * How deep constructed DER elements may nest. Certificates and CSRs need about ten levels; OpenSSL stops at 30
 * (ASN1_MAX_CONSTRUCTED_NEST). Past this a parser only spends stack on an attacker's behalf.
 */
export const MAX_DER_DEPTH = 32;

/** What is wrong with bytes that should be one DER value. */
export type DerProblem = 'not_der' | 'trailing_data' | 'too_deep';

/**
 * Whether `der` is exactly one well-formed DER element (definite lengths, every child inside its parent, nesting
 * at most MAX_DER_DEPTH deep); undefined when it is. An iterative walk, so no input can exhaust the stack, run
 * before any ASN.1 library sees the bytes.
 */
export function derProblemOf(der: Uint8Array): DerProblem | undefined {
  try {
    if (der.length === 0) return 'not_der';
    if (readElement(der).end !== der.length) return 'trailing_data';
    // The ends of the constructed elements around `offset`, outermost first; der.length stands for the input.
    const ends = [der.length];
    for (let offset = 0; offset < der.length; ) {
      while (offset === ends.at(-1)) ends.pop();
      const element = readElement(der, offset);
      if (element.end > (ends.at(-1) ?? der.length)) return 'not_der';
      if ((element.tag & 0x20) === 0) {
        offset = element.end;
        continue;
      }
      if (ends.length > MAX_DER_DEPTH) return 'too_deep';
      ends.push(element.end);
      offset = element.contentStart;
    }
    return undefined;
  } catch {
    return 'not_der';
  }
}

/** The rule a DER problem breaks, for a message about a `what` (e.g. "PKCS#10 certificate request"). */
export function derRule(problem: DerProblem, what: string, short: string): string {
  switch (problem) {
    case 'not_der':
      return `is not a DER-encoded ${what}`;
    case 'trailing_data':
      return `has data after the DER-encoded ${short}`;
    case 'too_deep':
      return `nests DER elements deeper than ${MAX_DER_DEPTH} levels`;
  }
}
