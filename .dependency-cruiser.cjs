// The layers of src/, as rules (test/unit/layers.test.ts runs them in `npm test`). Dependencies point down only:
// cli -> server -> services -> auth policy / cache / db adapters -> domain (registry, pki, verify, tlog, audit,
// and later dns, jobs) -> config, errors. The domain declares the interfaces it needs (a store, a message bus) and
// the adapters implement them.
const domain = '^src/(registry|pki|verify|tlog|audit|dns|jobs|domains|webhooks)/';
const outer = (...folders) => `^src/(${folders.join('|')})/`;

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A cycle makes two modules one: neither can be understood, tested or replaced alone.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'domain-stays-inside',
      severity: 'error',
      comment: 'Domain modules never import transport, storage adapters, the cache, auth adapters, DNS providers, the DNS server, the SDK or the CLI.',
      from: { path: domain },
      to: { path: outer('server', 'services', 'cli', 'db', 'cache', 'auth', 'sdk', 'dns-providers', 'dns-server', 'queues') },
    },
    {
      name: 'domain-without-transport-or-storage-libraries',
      severity: 'error',
      comment: 'Connect, HTTP servers, Redis, the ORM and DNS providers\' SDKs belong to the adapters; the domain declares interfaces.',
      from: { path: domain },
      to: { path: '(^|/)node_modules/(@connectrpc|ioredis|bullmq|@mikro-orm|pg|better-sqlite3|prom-client|rate-limiter-flexible|pino|@aws-sdk|cloudflare)/' },
    },
    {
      name: 'auth-is-policy',
      severity: 'error',
      comment: 'src/auth says who may do what; the Connect/HTTP adapters that apply it live in src/server.',
      from: { path: '^src/auth/' },
      to: { path: outer('server', 'services', 'cli', 'cache', 'db', 'sdk') },
    },
    {
      name: 'services-below-server',
      severity: 'error',
      comment: 'Services translate messages to domain calls; listeners and routing sit above them.',
      from: { path: '^src/services/' },
      to: { path: outer('server', 'cli') },
    },
    {
      name: 'adapters-below-services',
      severity: 'error',
      comment: 'Storage, cache, job queue, DNS provider and DNS server adapters implement domain interfaces and know nothing of the API above them.',
      from: { path: outer('db', 'cache', 'queues', 'dns-providers', 'dns-server') },
      to: { path: outer('server', 'services', 'cli', 'sdk') },
    },
    {
      name: 'sdk-is-a-client',
      severity: 'error',
      comment: 'What agents import never pulls in the server, its storage or the CLI.',
      from: { path: '^src/sdk/' },
      to: { path: outer('server', 'services', 'cli', 'db', 'cache', 'auth') },
    },
    {
      name: 'web-is-a-browser-client',
      severity: 'error',
      comment: 'The web UI runs in the browser: it reaches the registry through the SDK\'s browser entry, and shares only node-free domain rules.',
      from: { path: '^src/web/app/' },
      to: { path: outer('server', 'services', 'cli', 'db', 'cache', 'auth', 'dns-providers', 'dns-server', 'dns-client', 'log', 'config') },
    },
    {
      name: 'nothing-imports-the-web-ui',
      severity: 'error',
      comment: 'The UI is built into static files; the server serves them and imports none of its code.',
      from: { path: '^src/', pathNot: '^src/web/' },
      to: { path: '^src/web/' },
    },
    {
      name: 'cli-on-top',
      severity: 'error',
      comment: 'Nothing but the CLI imports the CLI.',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
  ],
  options: {
    // Type-only imports are dependencies too: an interface imported from the wrong layer is a back-edge.
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(gen|test|examples)/' },
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
