// Every setting the server and CLI read, in one place: environment name, default, meaning and how it is
// parsed. The README's configuration table is rendered from this list (test/unit/config.test.ts keeps it so).

import { isIP } from 'node:net';
import { parseDatabaseUrl } from './database-url.ts';

export interface Setting<T> {
  readonly env: string;
  readonly default: string | undefined;
  readonly doc: string;
  readonly secret?: boolean;
  /** Returns the value, or throws an Error whose message is the rule the raw value broke. */
  readonly parse: (raw: string) => T;
}

// A text setting without a default may be unset: its value is then undefined, and the type says so.
function text(env: string, dflt: string, doc: string, secret?: boolean): Setting<string>;
function text(env: string, dflt: undefined, doc: string, secret?: boolean): Setting<string | undefined>;
function text(env: string, dflt: string | undefined, doc: string, secret = false): Setting<string | undefined> {
  return { env, default: dflt, doc, secret, parse: (raw) => raw };
}

const integer = (env: string, dflt: number, min: number, max: number, doc: string): Setting<number> => ({
  env,
  default: String(dflt),
  doc,
  parse: (raw) => {
    const value = Number(raw);
    if (!/^\d+$/.test(raw.trim()) || value < min || value > max) {
      throw new Error(`must be a whole number from ${min} to ${max}`);
    }
    return value;
  },
});

const flag = (env: string, dflt: boolean, doc: string): Setting<boolean> => ({
  env,
  default: String(dflt),
  doc,
  parse: (raw) => {
    const value = raw.trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(value)) return true;
    if (['false', '0', 'no', 'off'].includes(value)) return false;
    throw new Error('must be true or false');
  },
});

const origin: Setting<string | undefined> = {
  env: 'TRANSPARENCY_LOG_ORIGIN',
  default: undefined,
  doc: 'Origin line of the log\'s checkpoints, e.g. registry.example.com/log (default <TRUST_DOMAIN>/log)',
  parse: (raw) => {
    if (!/^[\x21-\x7e]+$/.test(raw)) throw new Error('must be printable ASCII without spaces');
    return raw;
  },
};

const databaseUrl: Setting<string> = {
  env: 'DATABASE_URL',
  default: 'sqlite:///./var/atr.db',
  doc: 'sqlite:///relative/path.db, sqlite:////absolute/path.db, sqlite::memory: or postgresql://user@host:port/db',
  parse: (raw) => {
    parseDatabaseUrl(raw);
    return raw;
  },
};

const trustDomain: Setting<string> = {
  env: 'TRUST_DOMAIN',
  default: 'atr.local',
  doc: 'SPIFFE trust domain in the URI SAN spiffe://<TRUST_DOMAIN>/agent/<name>',
  parse: (raw) => {
    if (!/^[a-z0-9]([a-z0-9.-]{0,253}[a-z0-9])?$/.test(raw)) {
      throw new Error('must be a lowercase trust domain name (a-z, 0-9, dots and hyphens)');
    }
    return raw;
  },
};

const url = (env: string, doc: string): Setting<string | undefined> => ({
  env,
  default: undefined,
  doc,
  parse: (raw) => {
    if (!URL.canParse(raw) || !/^https?:$/.test(new URL(raw).protocol)) throw new Error('must be an http(s) URL');
    return raw.replace(/\/+$/, '');
  },
});

const environment: Setting<'development' | 'production'> = {
  env: 'ATR_ENV',
  default: 'development',
  doc: 'development or production; production refuses to start unless API_KEY_ENABLED=true',
  parse: (raw) => {
    const value = raw.trim().toLowerCase();
    if (value !== 'development' && value !== 'production') throw new Error('must be development or production');
    return value;
  },
};

const logLevel: Setting<'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'> = {
  env: 'LOG_LEVEL',
  default: 'info',
  doc: 'Least severe log line written to stderr: fatal, error, warn, info (one access line per API request, start and stop), debug, trace, or silent',
  parse: (raw) => {
    const value = raw.trim().toLowerCase();
    if (value !== 'fatal' && value !== 'error' && value !== 'warn' && value !== 'info' && value !== 'debug' && value !== 'trace' && value !== 'silent') {
      throw new Error('must be fatal, error, warn, info, debug, trace or silent');
    }
    return value;
  },
};

const logFormat: Setting<'json' | 'pretty'> = {
  env: 'LOG_FORMAT',
  default: 'json',
  doc: 'json: one JSON object per line on stderr (level, time, msg and fields), for machines; pretty: coloured lines for a terminal',
  parse: (raw) => {
    const value = raw.trim().toLowerCase();
    if (value !== 'json' && value !== 'pretty') throw new Error('must be json or pretty');
    return value;
  },
};

const headerName: Setting<string> = {
  env: 'API_KEY_HEADER',
  default: 'X-API-Key',
  doc: 'Request header that carries an API key (`Authorization: Bearer <key>` is always accepted too)',
  parse: (raw) => {
    if (!/^[A-Za-z0-9][A-Za-z0-9-]*$/.test(raw.trim())) throw new Error('must be an HTTP header name (letters, digits, hyphens)');
    return raw.trim().toLowerCase();
  },
};

const redisUrl: Setting<string | undefined> = {
  env: 'REDIS_URL',
  default: undefined,
  doc: 'redis://[user:password@]host:port[/db] or rediss:// (TLS): the shared cache, rate limits and pub/sub between processes',
  secret: true,
  parse: (raw) => {
    if (!URL.canParse(raw)) throw new Error('must be a redis:// or rediss:// URL');
    const parsed = new URL(raw);
    if (!/^rediss?:$/.test(parsed.protocol) || parsed.hostname === '') throw new Error('must be a redis:// or rediss:// URL with a host');
    return raw;
  },
};

/** Comma-separated DNS names and IP addresses a server certificate is issued for, lowercased. */
const hostnames = (env: string, doc: string): Setting<readonly string[]> => ({
  env,
  default: 'localhost,127.0.0.1',
  doc,
  parse: (raw) => {
    const names = raw.split(',').map((name) => name.trim().toLowerCase()).filter((name) => name !== '');
    const valid = (name: string) => isIP(name) !== 0 || /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(name);
    const bad = names.find((name) => !valid(name));
    if (names.length === 0 || bad !== undefined) {
      throw new Error(`must be DNS names or IP addresses separated by commas${bad === undefined ? '' : ` (not ${JSON.stringify(bad)})`}`);
    }
    return names;
  },
});

/** Comma-separated IP addresses and CIDR ranges (10.0.0.0/8, fd00::/8), as address/prefix; empty means none. */
const addressRanges = (env: string, doc: string): Setting<readonly string[]> => ({
  env,
  default: '',
  doc,
  parse: (raw) =>
    raw.split(',').map((item) => item.trim()).filter((item) => item !== '').map((item) => {
      const [address = '', prefix, ...rest] = item.split('/');
      const bits = isIP(address) === 4 ? 32 : isIP(address) === 6 ? 128 : 0;
      const length = prefix === undefined ? bits : /^\d{1,3}$/.test(prefix) ? Number(prefix) : -1;
      if (bits === 0 || rest.length > 0 || length < 0 || length > bits) {
        throw new Error(`must be IP addresses or CIDR ranges such as 10.0.0.0/8 or fd00::/8, separated by commas (not ${JSON.stringify(item)})`);
      }
      return `${address.toLowerCase()}/${length}`;
    }),
});

/** A port that may be left unset. */
const optionalPort = (env: string, doc: string): Setting<number | undefined> => ({
  env,
  default: undefined,
  doc,
  parse: (raw) => {
    if (!/^\d{1,5}$/.test(raw.trim()) || Number(raw) > 65535) throw new Error('must be a whole number from 0 to 65535');
    return Number(raw);
  },
});

const auditVerifications: Setting<'all' | 'refusals' | 'none'> = {
  env: 'AUDIT_VERIFICATIONS',
  default: 'all',
  doc: 'Which certificate and token verifications get an audit event: all, refusals (only failed ones) or none; /metrics counts every one either way',
  parse: (raw) => {
    const value = raw.trim().toLowerCase();
    if (value !== 'all' && value !== 'refusals' && value !== 'none') throw new Error('must be all, refusals or none');
    return value;
  },
};

const DNS_NAME = /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Comma-separated DNS names, lowercased, a trailing dot dropped; empty means none. */
const dnsNames = (env: string, dflt: string, doc: string): Setting<readonly string[]> => ({
  env,
  default: dflt,
  doc,
  parse: (raw) => {
    const names = raw.split(',').map((name) => name.trim().toLowerCase().replace(/\.$/, '')).filter((name) => name !== '');
    const bad = names.find((name) => !DNS_NAME.test(name));
    if (bad !== undefined) throw new Error(`must be DNS names separated by commas (not ${JSON.stringify(bad)})`);
    return names;
  },
});

/** host:port, [v6]:port or a bare host (then `port`), separated by commas; empty means none. */
const endpoints = (env: string, dflt: string, port: number, doc: string): Setting<readonly string[]> => ({
  env,
  default: dflt,
  doc,
  parse: (raw) => {
    const items = raw.split(',').map((item) => item.trim()).filter((item) => item !== '');
    return items.map((item) => {
      const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+))(?::(\d{1,5}))?$/.exec(item) ?? /^([0-9a-fA-F:]+)$/.exec(item);
      const host = match?.[1] ?? match?.[2];
      const number = Number(match?.[3] ?? port);
      if (!match || host === undefined || number < 1 || number > 65535) throw new Error(`must be host:port entries separated by commas (not ${JSON.stringify(item)})`);
      return isIP(host) === 6 ? `[${host}]:${number}` : `${host}:${number}`;
    });
  },
});

const corsOrigins: Setting<readonly string[]> = {
  env: 'CORS_ALLOWED_ORIGINS',
  default: '',
  doc: 'Comma-separated origins (https://app.example.com) whose pages may call the API from a browser; * lets any page make anonymous calls (no API key header); empty: same origin only',
  parse: (raw) => {
    const origins = raw.split(',').map((origin) => origin.trim()).filter((origin) => origin !== '');
    for (const origin of origins) {
      const parsed = origin === '*' ? undefined : URL.parse(origin);
      if (origin !== '*' && (parsed === null || parsed === undefined || !/^https?:$/.test(parsed.protocol) || parsed.origin !== origin)) {
        throw new Error(`must be * or origins such as https://app.example.com (scheme, host, optional port; no path or trailing slash), not ${JSON.stringify(origin)}`);
      }
    }
    return origins;
  },
};

const choice = <T extends string>(env: string, dflt: T | undefined, values: readonly T[], doc: string): Setting<T | undefined> => ({
  env,
  default: dflt,
  doc,
  parse: (raw) => {
    const value = raw.trim().toLowerCase() as T;
    if (!values.includes(value)) throw new Error(`must be one of ${values.join(', ')}`);
    return value;
  },
});

export const settings = {
  host: text('HOST', '127.0.0.1', 'Address of the public listener'),
  port: integer('PORT', 8000, 0, 65535, 'Port of the public listener (HTTP/1.1 and h2c, or TLS with PUBLIC_TLS: gRPC, gRPC-Web, Connect, REST)'),
  publicTls: choice('PUBLIC_TLS', undefined, ['off', 'files', 'registry'] as const, 'TLS on the public listener (HTTP/2 by ALPN and HTTP/1.1 on the one port): files (TLS_CERT_FILE and TLS_KEY_FILE), registry (a certificate from the registry\'s intermediate for PUBLIC_HOSTNAMES, renewed at two thirds of its 7 days) or off; unset: files when TLS_CERT_FILE is set, else off'),
  tlsCertFile: text('TLS_CERT_FILE', undefined, 'PEM certificate chain (the server\'s first) of the public listener, with PUBLIC_TLS=files; re-read at start only'),
  tlsKeyFile: text('TLS_KEY_FILE', undefined, 'PEM private key of TLS_CERT_FILE (keep it mode 0600: a group- or world-readable key is warned about at start)'),
  publicHostnames: hostnames('PUBLIC_HOSTNAMES', 'Comma-separated DNS names and IP addresses the public listener\'s certificate is issued for, with PUBLIC_TLS=registry'),
  trustedProxies: addressRanges('TRUSTED_PROXIES', 'Comma-separated addresses and CIDR ranges of reverse proxies; only a request from one of them has its client address taken from TRUSTED_PROXY_HEADER (the right-most hop that is not a trusted proxy), for rate limits, the audit trail and the access log. Empty: the TCP peer always'),
  trustedProxyHeader: choice('TRUSTED_PROXY_HEADER', 'x-forwarded-for', ['x-forwarded-for', 'forwarded'] as const, 'Which header the trusted proxies append the client to: x-forwarded-for or forwarded (RFC 7239); only that one is read, so a client cannot slip in the other'),
  metricsPort: optionalPort('METRICS_PORT', 'When set, /metrics is served on this port of METRICS_HOST only (cleartext, no API key or read budget; anything else there is a 404) and the public listener answers 404 for it; unset: /metrics on the public listener'),
  metricsHost: text('METRICS_HOST', '127.0.0.1', 'Address of the METRICS_PORT listener'),
  mtlsEnabled: flag('MTLS_ENABLED', true, 'Serve the mTLS listener, where agents authenticate with their registry certificates'),
  mtlsHost: text('MTLS_HOST', undefined, 'Address of the mTLS listener (default HOST)'),
  mtlsPort: integer('MTLS_PORT', 8443, 0, 65535, 'Port of the mTLS listener (TLS with agent certificates: gRPC, gRPC-Web, Connect, REST)'),
  mtlsHostnames: hostnames('MTLS_HOSTNAMES', 'Comma-separated DNS names and IP addresses the mTLS listener\'s server certificate is issued for'),
  mtlsCrlCheck: flag('MTLS_CRL_CHECK', true, 'The mTLS listener also refuses certificates the registry\'s CRLs list (a serial on the intermediate\'s CRL, or all of them when root.crl lists the intermediate), checked after the handshake beside the registry-state check, which refuses retired certificates either way'),
  handshakeTimeoutSeconds: integer('HANDSHAKE_TIMEOUT_SECONDS', 10, 1, 300, 'How long a new connection may take to finish its TLS handshake (mTLS listener) or to open HTTP/2 with its preface and SETTINGS'),
  idleTimeoutSeconds: integer('IDLE_TIMEOUT_SECONDS', 60, 1, 86_400, 'An HTTP/2 connection with no open stream for this long is sent GOAWAY and closed (cleartext and TLS; HTTP/1.1 keep-alive stays 5 s)'),
  shutdownGraceSeconds: integer('SHUTDOWN_GRACE_SECONDS', 10, 1, 300, 'On SIGTERM or SIGINT the listeners stop accepting and answer the calls in flight for at most this long (HTTP/2 gets GOAWAY, an HTTP/1.1 answer closes its connection), then close what is left; the process exits 0 once the database is closed'),
  maxConnections: integer('MAX_CONNECTIONS', 0, 0, 1_000_000, 'Open connections the public and mTLS listeners accept together; 0: three quarters of the process\'s open-file limit'),
  maxConnectionsPerClient: integer('MAX_CONNECTIONS_PER_CLIENT', 256, 1, 1_000_000, 'Open connections accepted from one client address (the TCP peer), over both listeners; more are closed as soon as they are accepted. TRUSTED_PROXIES are exempt (they count in MAX_CONNECTIONS)'),
  databaseUrl,
  pkiRootDir: text('PKI_ROOT_DIR', './var/pki', 'Where the root and intermediate CA keys (mode 0600) and certificates live'),
  caKeyPassphrase: text('CA_KEY_PASSPHRASE', undefined, 'When set, CA private keys are stored encrypted with it', true),
  backupPassphrase: text('BACKUP_PASSPHRASE', undefined, 'Passphrase `atr backup` encrypts and `atr restore` decrypts archives with, when no --passphrase-file is given (unset: asked on the terminal)', true),
  caValidityDays: integer('CA_VALIDITY_DAYS', 3650, 1, 36500, 'Validity of the root CA; the intermediate gets half'),
  caExpiryWarningDays: integer('CA_EXPIRY_WARNING_DAYS', 90, 1, 36500, 'A warning is logged at start and daily while the current intermediate CA (or the root) has fewer days left than this (also the atr_ca_*_expiry_seconds metrics); rotate with `atr ca rotate-intermediate`'),
  certValidityDays: integer('CERT_VALIDITY_DAYS', 30, 1, 3650, 'Validity of agent certificates'),
  certValiditySeconds: integer('CERT_VALIDITY_SECONDS', 0, 0, 315_360_000, 'Validity of agent certificates in seconds, for short-lived certificates (and tests that watch renewal and expiry happen); 0: CERT_VALIDITY_DAYS'),
  serverWorkers: integer('SERVER_WORKERS', 0, 0, 256, 'Processes `atr serve` answers requests with, all on the same ports (`--workers N` overrides it); 0: one per core on PostgreSQL, one on SQLite. Not WORKERS_ENABLED, which is about background jobs'),
  workersEnabled: flag('WORKERS_ENABLED', true, 'Run background job workers (lifecycle sweeps, and what else is queued) in this process; `atr worker` runs them without the listeners'),
  jobsPollMs: integer('JOBS_POLL_MS', 1000, 50, 60_000, 'Without Redis: milliseconds between looks for due jobs in the database (enqueueing in the same process wakes its workers at once)'),
  jobsLeaseSeconds: integer('JOBS_LEASE_SECONDS', 30, 2, 3600, 'Without Redis: seconds a worker holds a job it took (renewed while it runs); a job whose worker died is taken again once this runs out'),
  asyncProcessingEnabled: flag('ASYNC_PROCESSING_ENABLED', false, 'RegisterAgent and RotateCertificate answer at once with an operation id (the agent pending) and a worker finishes them; a request with synchronous=true still waits'),
  lifecycleIntervalSeconds: integer('LIFECYCLE_INTERVAL_SECONDS', 60, 1, 86_400, 'Seconds between lifecycle sweeps: certificates that lapsed are recorded as expired, and agents past RENEWAL_REMINDER_PERCENT of their validity are reminded'),
  renewalReminderPercent: integer('RENEWAL_REMINDER_PERCENT', 67, 1, 99, 'At this percentage of a certificate\'s validity its agent gets an agent.expiring event (once per certificate)'),
  trustDomain,
  publicUrl: url('PUBLIC_URL', 'Base URL clients reach the server at, used in the CRL distribution point (default http://HOST:PORT, https:// with PUBLIC_TLS)'),
  transparencyLogEnabled: flag('TRANSPARENCY_LOG_ENABLED', true, 'Append every state change to the transparency log'),
  transparencyLogVerifyEvents: flag(
    'TRANSPARENCY_LOG_VERIFY_EVENTS',
    false,
    'Also log verifications (their audit events follow AUDIT_VERIFICATIONS)',
  ),
  transparencyLogOrigin: origin,
  checkpointInterval: integer('CHECKPOINT_INTERVAL', 10, 1, 86400, 'Seconds between signed checkpoints (published only when the log grew)'),
  auditVerifications,
  auditVerificationRetentionDays: integer('AUDIT_VERIFICATION_RETENTION_DAYS', 90, 0, 36_500, 'Verification audit events older than this many days are pruned (0: kept for ever); other audit events are never pruned'),
  auditPruneIntervalSeconds: integer('AUDIT_PRUNE_INTERVAL_SECONDS', 3600, 1, 604_800, 'Seconds between runs of the job that prunes verification audit events past their retention'),
  allowMixedScriptNames: flag('ALLOW_MIXED_SCRIPT_NAMES', false, 'Accept xn-- labels whose decoded characters mix scripts in a way UTS #39 flags as confusable (e.g. Latin with Cyrillic)'),
  keysRootDir: text('KEYS_ROOT_DIR', './var/keys', 'Where `atr agents register` writes agent keys on the client side (mode 0600)'),
  environment,
  apiKeyEnabled: flag('API_KEY_ENABLED', false, 'Require an API key for every call that is not a public read; off only for local development'),
  apiKeyHeader: headerName,
  adminKeyFile: text('ADMIN_KEY_FILE', './var/admin.key', 'Where a start with API keys on and no active admin key (the first, or after every admin key was revoked) writes a new bootstrap admin key (mode 0600); the CLI reads it when no key is given'),
  corsAllowedOrigins: corsOrigins,
  webUiEnabled: flag('WEB_UI_ENABLED', true, 'Serve the web UI at / on the public listener (it calls the API as the browser\'s user, with their key)'),
  webUiDir: text('WEB_UI_DIR', undefined, 'Where the built web UI is (index.html and assets/); unset: the one `npm run build` writes to dist/web'),
  publicReads: flag('PUBLIC_READS', true, 'With API keys on, let anonymous callers resolve, verify, read the log, the trust bundle and the CRL'),
  rateLimitEnabled: flag('RATE_LIMIT_ENABLED', false, 'Limit requests per client address and per API key or agent (health and metrics are exempt)'),
  rateLimitPerMinute: integer('RATE_LIMIT_PER_MINUTE', 600, 1, 10_000_000, 'Requests a client address, and a key or agent, may make per minute'),
  rateLimitPerHour: integer('RATE_LIMIT_PER_HOUR', 20_000, 1, 100_000_000, 'Requests a client address, and a key or agent, may make per hour'),
  rateLimitRegisterPerMinute: integer('RATE_LIMIT_REGISTER_PER_MINUTE', 30, 1, 10_000_000, 'Registrations, rotations and renewals per minute, per client address and per key or agent'),
  rateLimitRegisterPerHour: integer('RATE_LIMIT_REGISTER_PER_HOUR', 300, 1, 100_000_000, 'Registrations, rotations and renewals per hour, per client address and per key or agent'),
  rateLimitReadsPerMinute: integer('RATE_LIMIT_READS_PER_MINUTE', 3000, 1, 10_000_000, 'Plain HTTP reads (trust bundle, CRL, log tiles, /metrics) a client address may make per minute; a read that presents an API key spends the request budgets too'),
  rateLimitReadsPerHour: integer('RATE_LIMIT_READS_PER_HOUR', 100_000, 1, 100_000_000, 'Plain HTTP reads a client address may make per hour'),
  tokenVerifyPerAgentPerMinute: integer('TOKEN_VERIFY_PER_AGENT_PER_MINUTE', 1200, 1, 1_000_000, 'New tokens (distinct jti) one agent may have verified per minute; past it that agent\'s tokens are refused as rate_limited, and no other agent\'s'),
  redisEnabled: flag('REDIS_ENABLED', true, 'Use REDIS_URL when it is set; false ignores it (everything runs in process)'),
  redisUrl,
  cacheTtlSeconds: integer('CACHE_TTL_SECONDS', 300, 1, 86_400, 'How long resolve and verify lookups stay in the Redis cache (every change invalidates them at once)'),
  cacheLocalTtlMs: integer('CACHE_LOCAL_TTL_MS', 1000, 0, 60_000, 'How long a process keeps a lookup in memory; bounds how stale it can be when an invalidation message is lost (0: no in-process cache)'),
  revocationPollMs: integer(
    'REVOCATION_POLL_MS',
    250,
    50,
    60_000,
    'Milliseconds between reads of the database for revocations made by other processes (with REDIS_URL it can be high, e.g. 5000)',
  ),
  eventsPollMs: integer(
    'EVENTS_POLL_MS',
    250,
    50,
    60_000,
    'Milliseconds between reads of the audit trail for the event feed (WatchAgents, ListEvents): how soon changes made by other processes reach it; this process\'s own changes are read at once',
  ),
  webhookAllowPrivate: flag('WEBHOOK_ALLOW_PRIVATE', false, 'Let webhooks call loopback, private, link-local, CGNAT and other non-public addresses (development, tests, endpoints on a trusted network); off, such URLs are refused when created and when delivered to'),
  webhookDisableAfterFailures: integer('WEBHOOK_DISABLE_AFTER_FAILURES', 20, 1, 100_000, 'Failed delivery attempts in a row (any event) after which a webhook is disabled, with a webhook.disabled audit event; a successful attempt resets the count'),
  logLevel,
  logFormat,
  dnsZones: dnsNames('DNS_ZONES', '', 'Comma-separated zones the registry publishes agents in (e.g. agents.example.com); an agent named in none gets no records. Empty: no DNS'),
  dnsProvider: choice('DNS_PROVIDER', undefined, ['local', 'rfc2136', 'route53', 'cloudflare'] as const, 'Where records go: local (the built-in authoritative server; the default when DNS_ZONES is set), rfc2136, route53 or cloudflare'),
  dnsTtl: integer('DNS_TTL', 60, 1, 86_400, 'TTL in seconds of the records agents get (keep it short: a revocation is visible in DNS only once resolvers drop the old answer)'),
  dnsHost: text('DNS_HOST', '127.0.0.1', 'Address the built-in DNS server listens on (UDP and TCP)'),
  dnsPort: integer('DNS_PORT', 8053, 0, 65535, 'Port of the built-in DNS server (UDP and TCP)'),
  dnsNameservers: dnsNames('DNS_NAMESERVERS', '', 'Host names of the zones\' authoritative servers, for NS and SOA (default ns1.<zone>)'),
  dnsHostmaster: text('DNS_HOSTMASTER', undefined, 'Mailbox of the zones\' SOA, as a DNS name (default hostmaster.<zone>)'),
  dnssecEnabled: flag('DNSSEC_ENABLED', false, 'Sign the built-in server\'s zones online with ECDSA P-256 (algorithm 13); `atr dns ds` prints the DS record for the parent zone'),
  dnsResolver: endpoints('DNS_RESOLVER', '', 53, 'Resolvers (host:port, comma-separated) the registry asks when it reads DNS: resolution through DNS, domain validation; empty: the system\'s'),
  resolveSource: choice('RESOLVE_SOURCE', 'registry', ['registry', 'dns'] as const, 'Where ResolveAgent looks first: registry (the database) or dns (the agent\'s _atr TXT and TLSA records through DNS_RESOLVER, falling back to the database)'),
  rfc2136Server: endpoints('RFC2136_SERVER', '', 53, 'The primary server that takes dynamic updates (host:port), with DNS_PROVIDER=rfc2136'),
  rfc2136TsigKeyName: text('RFC2136_TSIG_KEY_NAME', undefined, 'Name of the TSIG key that signs dynamic updates'),
  rfc2136TsigSecret: text('RFC2136_TSIG_SECRET', undefined, 'The TSIG key (base64), HMAC-SHA256', true),
  route53HostedZoneId: text('ROUTE53_HOSTED_ZONE_ID', undefined, 'Route 53 hosted zone of DNS_ZONES (one zone), with DNS_PROVIDER=route53'),
  route53AccessKeyId: text('ROUTE53_AWS_ACCESS_KEY_ID', undefined, 'AWS access key id for Route 53 (default: the AWS SDK\'s credential chain)', true),
  route53SecretAccessKey: text('ROUTE53_AWS_SECRET_ACCESS_KEY', undefined, 'AWS secret access key for Route 53', true),
  route53Region: text('ROUTE53_REGION', 'us-east-1', 'AWS region the Route 53 client signs for'),
  route53Endpoint: url('ROUTE53_ENDPOINT', 'Route 53 API base URL (default AWS\'s); for a gateway or a test stand-in'),
  cloudflareApiToken: text('CLOUDFLARE_API_TOKEN', undefined, 'Cloudflare API token with DNS edit rights on the zone, with DNS_PROVIDER=cloudflare', true),
  cloudflareZoneId: text('CLOUDFLARE_ZONE_ID', undefined, 'Cloudflare zone id of DNS_ZONES (one zone)'),
  cloudflareApiUrl: url('CLOUDFLARE_API_URL', 'Cloudflare API base URL (default https://api.cloudflare.com/client/v4); for a gateway or a test stand-in'),
  domainValidationEnabled: flag('DOMAIN_VALIDATION_ENABLED', false, 'Owner keys register <name>.<domain> only under a domain the owner has proved it controls (DomainService); admins may override'),
  domainChallengeTtlSeconds: integer('DOMAIN_CHALLENGE_TTL', 86_400, 60, 2_592_000, 'Seconds a domain challenge stays answerable'),
  domainRevalidationDays: integer('DOMAIN_REVALIDATION_DAYS', 30, 1, 3650, 'Days between re-checks of a verified domain'),
  domainGraceDays: integer('DOMAIN_GRACE_DAYS', 7, 0, 365, 'Days agents under a domain that failed re-validation stay flagged before they are suspended'),
  domainHttpPort: integer('DOMAIN_HTTP_PORT', 80, 1, 65535, 'Port HTTP domain challenges are fetched from (http://<domain>/.well-known/atr-challenge/<token>); 80 but in tests'),
  whoisServer: endpoints('WHOIS_SERVER', '', 43, 'WHOIS server (host:port) asked for supplementary evidence when a domain is verified; empty: no WHOIS lookup'),
} as const;

/** The configuration: one value per setting, of the type its parser returns. */
export type Config = { readonly [K in keyof typeof settings]: (typeof settings)[K] extends Setting<infer T> ? T : never };
