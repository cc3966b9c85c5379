// Every `atr` command: its words, arguments, options and help. Each names the module that does the work and loads it
// only when the command runs, so `atr --help` reads this file alone and `atr resolve` loads a client, not a server.
import type { Command, OptionsConfig } from './command.ts';
import {
  DEFAULT_MONITOR_INTERVAL_SECONDS,
  DEFAULT_MONITOR_STATE_FILE,
  DEFAULT_MTLS_PORT,
  DEFAULT_SEED_CAPABILITIES,
  EXIT_EXPIRED,
  EXIT_INCONSISTENT,
  EXIT_REVOKED,
} from './defaults.ts';

const serverKeygen: OptionsConfig = {
  'server-keygen': { type: 'boolean', description: 'let the server make the key pair and send the private key back (default: made here, only a CSR is sent)' },
};

const expectedVersion: OptionsConfig = {
  'expected-version': { type: 'string', value: 'N', description: "refuse the change unless the agent's record is at version N (optimistic concurrency)" },
};

const paging = (what: string): OptionsConfig => ({
  limit: { type: 'string', value: 'N', description: `at most N ${what} per page (the server's default and maximum apply)` },
  offset: { type: 'string', value: 'N', description: `skip the first N ${what}` },
});

const logKey: OptionsConfig = {
  key: { type: 'string', value: 'VKEY', description: "the log's verifier key (name+hash+key, as `GET /log/key` serves it), pinned" },
  'key-file': { type: 'string', value: 'FILE', description: 'read the verifier key to pin from FILE' },
};

const KEY_SYNOPSIS = '[--key VKEY | --key-file F]';
const KEY_HELP =
  "pin the log's verifier key with --key or --key-file (as published by the operator, or `GET /log/key`); " +
  'without it the key the server reports is used, which proves only that the server signed what it sent';

const mtlsServer: OptionsConfig = {
  'mtls-server': {
    type: 'string',
    value: 'URL',
    description: `the registry's mTLS listener (default ATR_MTLS_SERVER, else --server's host on MTLS_PORT, ${DEFAULT_MTLS_PORT})`,
  },
};

const owner = (meaning: string): OptionsConfig => ({ owner: { type: 'string', value: 'O', description: meaning } });

const serve: Command = {
  name: 'serve',
  synopsis: '[--workers N]',
  summary:
    'run the registry (configured by environment and .env; see `atr config`) until SIGINT or SIGTERM; --workers N answers ' +
    'with N processes on the same ports (default SERVER_WORKERS, else one per core on PostgreSQL and one on SQLite)',
  options: { workers: { type: 'string', value: 'N', description: 'processes answering on the same ports (default SERVER_WORKERS)' } },
  arity: 0,
  load: () => import('./serve.ts').then((m) => m.serve),
};

const worker: Command = {
  name: 'worker',
  synopsis: '',
  summary:
    'run background jobs only (lifecycle sweeps and queued work), no listeners, beside `atr serve` processes on the same database and Redis, until SIGINT or SIGTERM',
  options: {},
  arity: 0,
  load: () => import('./serve.ts').then((m) => m.worker),
};

const demo: Command = {
  name: 'demo',
  synopsis: '',
  summary: 'walk a throwaway agent through its lifecycle against --server (register, verify, rotate, verify both, revoke, verify, resolve)',
  options: {},
  arity: 0,
  load: () => import('./demo.ts').then((m) => m.demo),
};

const agentsRegister: Command = {
  name: 'agents register',
  synopsis: '<name> [--owner O] [--capability C ...] [--description D] [--endpoint URL ...] [--server-keygen]',
  summary: 'register an agent; its key is made locally (CSR) unless --server-keygen, and written to KEYS_ROOT_DIR/<name>/',
  options: {
    ...owner("the agent's owner (an owner API key registers under its own owner)"),
    capability: { type: 'string', multiple: true, value: 'C', description: 'a capability the agent offers; repeat for more' },
    description: { type: 'string', value: 'D', description: 'a free-text description' },
    endpoint: { type: 'string', multiple: true, value: 'URL', description: 'a URL where the agent answers; repeat for more' },
    ...serverKeygen,
  },
  arity: 1,
  load: () => import('./agents.ts').then((m) => m.register),
};

const agentsGet: Command = {
  name: 'agents get',
  synopsis: '<name>',
  summary: "show an agent's record",
  options: {},
  arity: 1,
  load: () => import('./agents.ts').then((m) => m.get),
};

const agentsList: Command = {
  name: 'agents list',
  synopsis: '[--owner O] [--status active|revoked|expired] [--capability C] [--limit N] [--offset N]',
  summary: 'list agents, filtered and paged',
  options: {
    ...owner('only agents of owner O'),
    status: { type: 'string', value: 'S', description: 'only agents in status S: active, revoked or expired' },
    capability: { type: 'string', value: 'C', description: 'only agents offering capability C' },
    ...paging('agents'),
  },
  arity: 0,
  load: () => import('./agents.ts').then((m) => m.listAgents),
};

const agentsRotate: Command = {
  name: 'agents rotate',
  synopsis: '<name> [--server-keygen] [--expected-version N]',
  summary: 'issue a new certificate (new local key + CSR by default); the old pair is kept as key.prev.pem/cert.prev.pem',
  options: { ...serverKeygen, ...expectedVersion },
  arity: 1,
  load: () => import('./agents.ts').then((m) => m.rotate),
};

const agentsRevoke: Command = {
  name: 'agents revoke',
  synopsis: '<name> [--reason keyCompromise] [--expected-version N]',
  summary: 'revoke an agent for good, with an RFC 5280 reason name (default unspecified)',
  options: {
    reason: {
      type: 'string',
      value: 'R',
      description: 'unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation or privilegeWithdrawn',
    },
    ...expectedVersion,
  },
  arity: 1,
  load: () => import('./agents.ts').then((m) => m.revoke),
};

const agentsUpdate: Command = {
  name: 'agents update',
  synopsis: '<name> [--capability C ...] [--description D] [--endpoint URL ...] [--expected-version N]',
  summary: "replace an agent's capabilities, description or endpoints (only those given; an empty value clears)",
  options: {
    capability: { type: 'string', multiple: true, value: 'C', description: "the agent's capabilities, replacing the old list; '' clears it" },
    description: { type: 'string', value: 'D', description: "the agent's description; '' clears it" },
    endpoint: { type: 'string', multiple: true, value: 'URL', description: "the agent's endpoints, replacing the old list; '' clears it" },
    ...expectedVersion,
  },
  arity: 1,
  load: () => import('./agents.ts').then((m) => m.update),
};

const agentFileOptions: OptionsConfig = {
  cert: { type: 'string', value: 'FILE', description: "the agent's certificate (cert.pem from `atr agents register`)" },
  key: { type: 'string', value: 'FILE', description: "the agent's private key (key.pem)" },
  cacert: { type: 'string', value: 'FILE', description: 'the registry CA to trust (default chain.pem beside --cert)' },
  ...mtlsServer,
};

const whoami: Command = {
  name: 'whoami',
  synopsis: '--cert FILE --key FILE [--cacert FILE] [--mtls-server URL]',
  summary: "connect to the mTLS listener with an agent's certificate and show the record the registry holds for it",
  options: agentFileOptions,
  arity: 0,
  load: () => import('./agent-identity.ts').then((m) => m.whoami),
};

const renew: Command = {
  name: 'renew',
  synopsis: '--cert FILE --key FILE [--cacert FILE] [--mtls-server URL] [--same-key]',
  summary:
    "renew an agent's certificate over the mTLS listener, authenticated by the current one (which becomes superseded): a new " +
    'key is made here and only its CSR sent; the files are replaced atomically (key 0600), the old pair kept as key.prev.pem/cert.prev.pem',
  options: {
    ...agentFileOptions,
    'same-key': { type: 'boolean', description: 'keep the current key (a CSR signed by it) instead of making a new one' },
  },
  arity: 0,
  load: () => import('./agent-identity.ts').then((m) => m.renew),
};

const agentRun: Command = {
  name: 'agent run',
  synopsis:
    '--name N --key FILE --cert FILE [--cacert FILE] [--mtls-server URL] [--exec CMD] [--signal SIGHUP | --restart] [--renew-at 2/3]',
  summary:
    "keep an agent's key and certificate files renewed over the registry's mTLS listener (RenewCertificate with a new key, at " +
    "--renew-at of each certificate's lifetime, retried with a growing wait after failures), rewriting them atomically (key 0600); " +
    "--server is asked whether a refused certificate was revoked. --exec starts CMD (split into words, no shell) and sends it " +
    '--signal after each renewal, or restarts it with --restart; CMD is stopped when atr stops. ' +
    `Exit codes: 0 stopped by SIGINT or SIGTERM, ${EXIT_REVOKED} the certificate was revoked or superseded, ${EXIT_EXPIRED} it expired ` +
    'before a renewal succeeded, 1 error, 2 usage; when CMD exits by itself, its exit code (128 + signal number if killed)',
  options: {
    name: { type: 'string', value: 'N', description: "the agent's name; must be the name in --cert" },
    ...agentFileOptions,
    exec: { type: 'string', value: 'CMD', description: "start CMD (split into words, no shell) and tell it of each renewal" },
    signal: { type: 'string', value: 'SIG', description: 'the signal sent to CMD after a renewal (default SIGHUP)' },
    restart: { type: 'boolean', description: 'restart CMD after a renewal instead of signalling it' },
    'renew-at': { type: 'string', value: 'F', description: "renew at this fraction of each certificate's lifetime, e.g. 2/3 (default) or 0.75" },
  },
  arity: 0,
  load: () => import('./agent-run.ts').then((m) => m.agentRun),
};

const verify: Command = {
  name: 'verify',
  synopsis: '<cert.pem | ->',
  summary: "check a certificate against the registry's CA and state; exit 0 when verified, 1 when refused",
  options: {},
  arity: 1,
  load: () => import('./verify.ts').then((m) => m.verify),
};

const resolve: Command = {
  name: 'resolve',
  synopsis: '<name> [--source dns|registry]',
  summary:
    "what a peer needs before talking to an agent: status, endpoints, SPIFFE ID, current certificate; --source dns reads the agent's _atr record through the registry's resolver first",
  options: { source: { type: 'string', value: 'S', description: "registry (default) or dns: read the agent's _atr TXT record first" } },
  arity: 1,
  load: () => import('./resolve.ts').then((m) => m.resolveAgent),
};

const audit: Command = {
  name: 'audit',
  synopsis: '[--agent NAME] [--event-type T] [--limit N] [--offset N]',
  summary: 'list audit events (agent.registered, agent.rotated, agent.revoked, agent.updated, cert.verified)',
  options: {
    agent: { type: 'string', value: 'NAME', description: "only this agent's events" },
    'event-type': { type: 'string', value: 'T', description: 'only events of type T, e.g. agent.revoked' },
    ...paging('events'),
  },
  arity: 0,
  load: () => import('./audit.ts').then((m) => m.audit),
};

const logCheckpoint: Command = {
  name: 'log checkpoint',
  synopsis: `[--publish] ${KEY_SYNOPSIS}`,
  summary: `fetch the latest signed checkpoint and verify its signature (--publish first publishes one); ${KEY_HELP}`,
  options: { publish: { type: 'boolean', description: 'publish a new checkpoint first (admin)' }, ...logKey },
  arity: 0,
  load: () => import('./log.ts').then((m) => m.checkpoint),
};

const logEntry: Command = {
  name: 'log entry',
  synopsis: '<index>',
  summary: 'show a log entry and its event, checking that its leaf hash is the hash of its data',
  options: {},
  arity: 1,
  load: () => import('./log.ts').then((m) => m.entry),
};

const logProve: Command = {
  name: 'log prove',
  synopsis: `<index> ${KEY_SYNOPSIS}`,
  summary: `prove locally that an entry is in the latest signed checkpoint; prints OK (exit 0) or FAIL and why (exit 1); ${KEY_HELP}`,
  options: logKey,
  arity: 1,
  load: () => import('./log.ts').then((m) => m.prove),
};

const logConsistency: Command = {
  name: 'log consistency',
  synopsis: `<first> [<second>] [--first-root HEX] [--second-root HEX] ${KEY_SYNOPSIS}`,
  summary:
    'prove locally that the tree of the second size (default: the latest checkpoint) extends the tree of the first; ' +
    "a size's root is taken from the verified latest checkpoint, or from --first-root/--second-root (roots you verified " +
    'earlier); without a trusted root for each size the proof is printed as UNVERIFIABLE. OK exits 0, anything else 1',
  options: {
    'first-root': { type: 'string', value: 'HEX', description: 'the root hash you verified earlier for the first size' },
    'second-root': { type: 'string', value: 'HEX', description: 'the root hash you verified earlier for the second size' },
    ...logKey,
  },
  arity: [1, 2],
  load: () => import('./log.ts').then((m) => m.consistency),
};

const logMonitor: Command = {
  name: 'log monitor',
  synopsis: `[--state FILE] [--interval SECONDS] [--once] ${KEY_SYNOPSIS}`,
  summary:
    "watch the log: verify every new checkpoint's signature and its consistency with the last one verified, kept in --state; " +
    "polls every --interval seconds until SIGINT, or once with --once; the first run trusts the server's key unless --key/--key-file " +
    `pins it; exits ${EXIT_INCONSISTENT} on any inconsistency`,
  options: {
    state: { type: 'string', value: 'FILE', description: `the last verified checkpoint (default ${DEFAULT_MONITOR_STATE_FILE})` },
    interval: { type: 'string', value: 'SECONDS', description: `seconds between polls (default ${DEFAULT_MONITOR_INTERVAL_SECONDS})` },
    once: { type: 'boolean', description: 'check once and exit' },
    ...logKey,
  },
  arity: 0,
  load: () => import('./log-monitor.ts').then((m) => m.monitor),
};

const keysCreate: Command = {
  name: 'keys create',
  synopsis: '--role admin|owner|reader [--owner NAME] [--description D] [--local]',
  summary:
    'create an API key (admin only); the key is printed once and never again. --local makes it in the database of the ' +
    'configuration here (DATABASE_URL, .env) without calling the server or needing a key: the way back in without an admin key',
  options: {
    role: { type: 'string', value: 'ROLE', description: 'admin (everything), owner (its own agents) or reader (reads only)' },
    ...owner('the owner an owner key acts for (required with --role owner)'),
    description: { type: 'string', value: 'D', description: 'what the key is for, shown by `atr keys list`' },
    local: {
      type: 'boolean',
      description: "write the key straight into the server's database (same DATABASE_URL and .env as the server; audited as local:<OS user>), with or without the server running",
    },
  },
  arity: 0,
  load: () => import('./api-keys.ts').then((m) => m.create),
};

const keysList: Command = {
  name: 'keys list',
  synopsis: '[--all]',
  summary: 'list API keys (admin only); --all includes revoked ones',
  options: { all: { type: 'boolean', description: 'include revoked keys' } },
  arity: 0,
  load: () => import('./api-keys.ts').then((m) => m.listKeys),
};

const keysRevoke: Command = {
  name: 'keys revoke',
  synopsis: '<key id>',
  summary: 'revoke an API key (admin only); the next request that presents it is refused',
  options: {},
  arity: 1,
  load: () => import('./api-keys.ts').then((m) => m.revoke),
};

const jobsList: Command = {
  name: 'jobs list',
  synopsis: '[--state waiting|delayed|active|completed|failed] [--name N] [--limit N]',
  summary: 'background jobs, newest first (admin only)',
  options: {
    state: { type: 'string', value: 'S', description: 'only jobs in state S: waiting, delayed, active, completed or failed' },
    name: { type: 'string', value: 'N', description: 'only jobs named N, e.g. dns.publish' },
    limit: { type: 'string', value: 'N', description: 'at most N jobs' },
  },
  arity: 0,
  load: () => import('./jobs.ts').then((m) => m.list),
};

const jobsShow: Command = {
  name: 'jobs show',
  synopsis: '<job id>',
  summary: 'one background job with its last error (admin only)',
  options: {},
  arity: 1,
  load: () => import('./jobs.ts').then((m) => m.show),
};

const jobsRetry: Command = {
  name: 'jobs retry',
  synopsis: '<job id>',
  summary: 'put a failed job back in the queue with fresh attempts (admin only)',
  options: {},
  arity: 1,
  load: () => import('./jobs.ts').then((m) => m.retry),
};

const operationsShow: Command = {
  name: 'operations show',
  synopsis: '<operation id>',
  summary: 'how a registration or rotation accepted to finish in the background stands (ASYNC_PROCESSING_ENABLED)',
  options: {},
  arity: 1,
  load: () => import('./operations.ts').then((m) => m.show),
};

const domainsChallenge: Command = {
  name: 'domains challenge',
  synopsis: '<domain> [--owner O]',
  summary: 'open a challenge proving control of a domain: publish the TXT record (or the HTTP file), then `atr domains verify`',
  options: owner('the owner claiming the domain (an owner API key claims for its own owner)'),
  arity: 1,
  load: () => import('./domains.ts').then((m) => m.challenge),
};

const domainsVerify: Command = {
  name: 'domains verify',
  synopsis: '<domain> [--owner O] [--method dns|http]',
  summary: "check the open challenge (DNS, HTTP, or DNS then HTTP); on success the domain is the owner's",
  options: {
    ...owner('the owner that opened the challenge'),
    method: { type: 'string', value: 'M', description: 'dns or http (default: DNS, then HTTP)' },
  },
  arity: 1,
  load: () => import('./domains.ts').then((m) => m.verify),
};

const domainsList: Command = {
  name: 'domains list',
  synopsis: '[--owner O] [--limit N] [--page-token T]',
  summary: 'list verified domains and their standing',
  options: {
    ...owner("only owner O's domains"),
    limit: { type: 'string', value: 'N', description: 'at most N domains per page' },
    'page-token': { type: 'string', value: 'T', description: 'the next page, as the previous page printed it' },
  },
  arity: 0,
  load: () => import('./domains.ts').then((m) => m.listDomains),
};

const domainsRemove: Command = {
  name: 'domains remove',
  synopsis: '<domain>',
  summary: 'give a verified domain up (agents under it stay registered)',
  options: {},
  arity: 1,
  load: () => import('./domains.ts').then((m) => m.remove),
};

const dnsRecords: Command = {
  name: 'dns records',
  synopsis: '<name>',
  summary: 'the records the registry published for an agent, as zone-file lines, with its dns_status and zone',
  options: {},
  arity: 1,
  load: () => import('./dns.ts').then((m) => m.records),
};

const dnsDs: Command = {
  name: 'dns ds',
  synopsis: '[--zone Z]',
  summary:
    "the DS record (SHA-256) and DNSKEY of each DNS_ZONES zone for its parent zone, from the server's keys under PKI_ROOT_DIR/dnssec (run on the registry host)",
  options: { zone: { type: 'string', value: 'Z', description: 'only zone Z (default every zone in DNS_ZONES)' } },
  arity: 0,
  load: () => import('./dns.ts').then((m) => m.ds),
};

const dnsLookup: Command = {
  name: 'dns lookup',
  synopsis: '<name> [--resolver host:port ...] [--port N ...] [--require-dnssec]',
  summary:
    "ask DNS like any outsider for an agent's _atr TXT and TLSA records and compare them with the registry's answer and certificate; exit 1 on any difference",
  options: {
    resolver: { type: 'string', multiple: true, value: 'HOST:PORT', description: "a DNS server to ask (default the system's); repeat for more" },
    port: { type: 'string', multiple: true, value: 'N', description: "a TLSA port to check (default the agent's endpoint ports and 443)" },
    'require-dnssec': { type: 'boolean', description: 'fail unless the resolver validated the answers (AD bit)' },
  },
  arity: 1,
  load: () => import('./dns.ts').then((m) => m.lookup),
};

const openapi: Command = {
  name: 'openapi',
  synopsis: '',
  summary: 'print the OpenAPI 3.1 document of the REST API (as GET /openapi.json serves it), for --server',
  options: {},
  arity: 0,
  load: () => import('./openapi.ts').then((m) => m.openapi),
};

const config: Command = {
  name: 'config',
  synopsis: '',
  summary: 'print every configuration variable with its default and meaning (markdown)',
  options: {},
  arity: 0,
  load: () => import('./config.ts').then((m) => m.config),
};

const benchSeed: Command = {
  name: 'bench seed',
  synopsis: '--agents N [--owners K] [--capabilities a,b,...] [--revoked-percent P] [--append] [--allow-production]',
  summary:
    'write N registered agents into DATABASE_URL (the settings of `atr serve`; stop the server first) for load tests: ' +
    'each with a certificate from the registry CA, its audit event and log leaf, spread over owners and capabilities, ' +
    'some revoked; a database with agents is refused unless --append, and ATR_ENV=production unless --allow-production',
  options: {
    agents: { type: 'string', value: 'N', description: 'how many agents to write' },
    owners: { type: 'string', value: 'K', description: 'spread over K owners (default 100)' },
    capabilities: { type: 'string', value: 'LIST', description: `comma-separated capabilities (default ${DEFAULT_SEED_CAPABILITIES.join(',')})` },
    'revoked-percent': { type: 'string', value: 'P', description: 'revoke P% of them (default 2)' },
    append: { type: 'boolean', description: 'add to a database that already has agents' },
    'allow-production': { type: 'boolean', description: 'run even with ATR_ENV=production' },
  },
  arity: 0,
  load: () => import('./bench.ts').then((m) => m.seed),
};

const passphraseFile: OptionsConfig = {
  'passphrase-file': {
    type: 'string',
    value: 'FILE',
    description: 'read the passphrase from the first line of FILE (default BACKUP_PASSPHRASE, else asked on the terminal)',
  },
};

const backup: Command = {
  name: 'backup',
  synopsis: '<file> [--passphrase-file FILE] [--force]',
  summary:
    "write the database, PKI_ROOT_DIR (CA keys, log key, mTLS ticket secret) and ADMIN_KEY_FILE to <file> (mode 0600), " +
    "encrypted with a passphrase; run on the server's host with its configuration, while it serves",
  options: { ...passphraseFile, force: { type: 'boolean', description: 'replace <file> when it exists' } },
  arity: 1,
  load: () => import('./backup.ts').then((m) => m.backup),
};

const restore: Command = {
  name: 'restore',
  synopsis: '<file> [--passphrase-file FILE] [--force]',
  summary:
    "put a backup in place of the configured database (DATABASE_URL), PKI_ROOT_DIR and ADMIN_KEY_FILE, which must be " +
    'empty unless --force; refused while a server has the database open',
  options: { ...passphraseFile, force: { type: 'boolean', description: 'replace a database and files that are not empty' } },
  arity: 1,
  load: () => import('./backup.ts').then((m) => m.restore),
};

const caStatus: Command = {
  name: 'ca status',
  synopsis: '',
  summary:
    "the CA in PKI_ROOT_DIR, read with the server's configuration (no API key, no passphrase): root and intermediates " +
    "with subjects, fingerprints, expiry and key protection, each intermediate's CRL number and next update as the server serves it",
  options: {},
  arity: 0,
  load: () => import('./ca.ts').then((m) => m.status),
};

const caRotateIntermediate: Command = {
  name: 'ca rotate-intermediate',
  synopsis: '[--root-key FILE]',
  summary:
    'issue a new intermediate from the root, current at once for every server on PKI_ROOT_DIR (no restart); the ' +
    'previous one stays trusted, with its CRL, until it expires. The one command that needs the root key',
  options: {
    'root-key': {
      type: 'string',
      value: 'FILE',
      description: 'the root key, when it is kept outside PKI_ROOT_DIR (default PKI_ROOT_DIR/root.key); decrypted with CA_KEY_PASSPHRASE, else a passphrase asked on the terminal',
    },
  },
  arity: 0,
  load: () => import('./ca.ts').then((m) => m.rotate),
};

/** Every command of `atr`, in the order the help lists them. */
export const COMMANDS: readonly Command[] = [
  serve,
  worker,
  demo,
  agentsRegister,
  agentsGet,
  agentsList,
  agentsRotate,
  agentsRevoke,
  agentsUpdate,
  whoami,
  renew,
  agentRun,
  verify,
  resolve,
  audit,
  logCheckpoint,
  logEntry,
  logProve,
  logConsistency,
  logMonitor,
  keysCreate,
  keysList,
  keysRevoke,
  jobsList,
  jobsShow,
  jobsRetry,
  operationsShow,
  domainsChallenge,
  domainsVerify,
  domainsList,
  domainsRemove,
  dnsRecords,
  dnsDs,
  dnsLookup,
  openapi,
  config,
  benchSeed,
  backup,
  restore,
  caStatus,
  caRotateIntermediate,
];
