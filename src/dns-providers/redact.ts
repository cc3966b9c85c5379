// Provider errors carry the provider's own words, which may echo a request: every message a provider puts in a
// DnsProviderError goes through here first, so no credential reaches a log line, an audit record or dns_status.

/** `text` with every occurrence of each secret (ignoring empty ones) replaced by `[redacted]`. */
export function redact(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret !== undefined && secret.length > 0) out = out.split(secret).join('[redacted]');
  }
  return out;
}
