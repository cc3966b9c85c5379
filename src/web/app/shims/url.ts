// node:url's IDNA helpers for the shared name rules in the browser. Punycode alone (no UTS #46 mapping) is
// enough there: the rules already refuse anything that is not lowercase ASCII before they decode an xn-- label,
// and the server checks every name again.
import punycode from 'punycode';

export function domainToUnicode(domain: string): string {
  try {
    return punycode.toUnicode(domain);
  } catch {
    return '';
  }
}

export function domainToASCII(domain: string): string {
  try {
    return punycode.toASCII(domain.normalize('NFC').toLowerCase());
  } catch {
    return '';
  }
}
