// The SSRF guard. Through a real server without WEBHOOK_ALLOW_PRIVATE: URLs to loopback, private, link-local,
// metadata and other non-public addresses, literal or behind a name, are refused with the rule they break. Through
// the webhook logic on a real database with a resolver the test scripts: a name that resolves elsewhere after it was
// checked (DNS rebinding) is refused at delivery, and a delivery connects to the address that was checked.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Code } from '@connectrpc/connect';
import { SqlWebhookStore } from '../../src/db/webhook-store.ts';
import { type Database, openDatabase } from '../../src/db/orm.ts';
import { type RegistryClient, createRegistryClient } from '../../src/sdk/client.ts';
import { forbiddenBy, type Resolve, TargetGuard } from '../../src/webhooks/target-guard.ts';
import { Webhooks } from '../../src/webhooks/webhooks.ts';
import { type TestDatabase, createTestDatabase, dialects } from '../support/databases.ts';
import { rpcError } from '../support/rpc.ts';
import { runningServer } from '../support/server.ts';
import { startReceiver } from './receiver.ts';

const REFUSED = ': webhooks call public addresses only';

describe('CreateWebhook without WEBHOOK_ALLOW_PRIVATE', () => {
  let base: string;
  let client: RegistryClient;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    const started = await runningServer('sqlite');
    base = started.server.url;
    cleanup = started.cleanup;
    client = createRegistryClient({ baseUrl: base });
  });
  afterAll(() => cleanup());

  const refusal = async (url: string) => {
    const error = await rpcError(client.webhooks.createWebhook({ owner: 'ssrf-team', url }));
    expect(error.code, url).toBe(Code.InvalidArgument);
    return error.rawMessage;
  };

  it('refuses literal addresses that are not public, naming the rule', async () => {
    const cases: [string, string][] = [
      ['http://127.0.0.1:8080/hook', '127.0.0.1 is a loopback address'],
      ['http://[::1]/hook', '::1 is a loopback address'],
      ['https://10.1.2.3/hook', '10.1.2.3 is a private (RFC 1918) address'],
      ['https://172.20.0.5/hook', '172.20.0.5 is a private (RFC 1918) address'],
      ['https://192.168.1.10/hook', '192.168.1.10 is a private (RFC 1918) address'],
      ['https://[fd12:3456::1]/hook', 'fd12:3456::1 is a unique local (fc00::/7) address'],
      ['http://169.254.169.254/latest/meta-data/', '169.254.169.254 is a cloud metadata address'],
      ['http://[fd00:ec2::254]/latest/meta-data/', 'fd00:ec2::254 is a cloud metadata address'],
      ['http://169.254.10.1/hook', '169.254.10.1 is a link-local address'],
      ['http://[fe80::1]/hook', 'fe80::1 is a link-local address'],
      ['http://100.64.0.1/hook', '100.64.0.1 is a carrier-grade NAT (RFC 6598) address'],
      ['http://224.0.0.251/hook', '224.0.0.251 is a multicast address'],
      ['http://0.0.0.0:8000/hook', '0.0.0.0 is an unspecified address'],
      // Other spellings of loopback: IPv4-mapped IPv6, NAT64, and the forms the URL parser normalizes.
      ['http://[::ffff:127.0.0.1]/hook', '::ffff:7f00:1 is a loopback address'],
      ['http://[64:ff9b::a00:1]/hook', '64:ff9b::a00:1 is a private (RFC 1918) address'],
      ['http://2130706433/hook', '127.0.0.1 is a loopback address'],
      ['http://0x7f.1/hook', '127.0.0.1 is a loopback address'],
    ];
    for (const [url, rule] of cases) expect(await refusal(url)).toBe(`url: ${rule}${REFUSED}`);
  });

  it('refuses a name that resolves to a private address', async () => {
    expect(await refusal('http://localhost:9000/hook')).toMatch(/^url: localhost resolves to (127\.0\.0\.1|::1), a loopback address: webhooks call public addresses only$/);
    expect(await refusal('https://does-not-exist.invalid/hook')).toMatch(/^url: does-not-exist.invalid does not resolve \(ENOTFOUND/);
  });

  it('takes http and https URLs only, without credentials or fragment', async () => {
    expect(await refusal('ftp://example.com/hook')).toBe('url: must be http or https, not "ftp"');
    expect(await refusal('file:///etc/passwd')).toBe('url: must be http or https, not "file"');
    expect(await refusal('https://user:pw@example.com/hook')).toMatch(/^url: must not carry credentials/);
    expect(await refusal('https://example.com/hook#part')).toBe('url: must not have a fragment (#...)');
    expect(await refusal('/relative/hook')).toBe('url: "/relative/hook" is not an absolute URL');
    expect(await refusal(`https://example.com/${'a'.repeat(2048)}`)).toBe('url: must be at most 2048 characters');
  });

  it('answers REST callers with 400 and the rule', async () => {
    const response = await fetch(`${base}/v1/webhooks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ owner: 'ssrf-team', url: 'http://169.254.169.254/' }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ code: 'invalid_argument', detail: `url: 169.254.169.254 is a cloud metadata address${REFUSED}` });
  });

  it('lets public addresses through', () => {
    for (const address of ['1.1.1.1', '8.8.8.8', '2606:4700:4700::1111', '64:ff9b::808:808', '100.128.0.1', '172.32.0.1']) expect(forbiddenBy(address), address).toBeUndefined();
  });
});

describe.each(dialects)('delivery-time checks on %s', (dialect) => {
  let test: TestDatabase;
  let database: Database;
  const admin = { actor: 'test', scope: undefined };

  beforeAll(async () => {
    test = await createTestDatabase(dialect);
    database = await openDatabase(test.url);
  });
  afterAll(async () => {
    await database.close();
    await test.drop();
  });

  /** A resolver that gives each answer in turn, the last one from then on. */
  const scripted = (...answers: string[]): Resolve => {
    let calls = 0;
    return async () => {
      const address = answers[Math.min(calls++, answers.length - 1)]!;
      return [{ address, family: address.includes(':') ? 6 : 4 }];
    };
  };
  const webhooksWith = (guard: TargetGuard) => new Webhooks({ store: new SqlWebhookStore(database), guard, disableAfterFailures: 20 });

  it('refuses a delivery when the name now resolves to a private address (DNS rebinding), without connecting', async () => {
    const receiver = await startReceiver();
    try {
      const webhooks = webhooksWith(new TargetGuard({ allowPrivate: false, resolve: scripted('93.184.215.14', '127.0.0.1') }));
      const { webhook } = await webhooks.create({ owner: 'rebind', url: `http://hooks.rebind.test:${receiver.port}/`, eventTypes: [], description: '' }, admin);
      const attempt = await webhooks.test(webhook.id, admin);
      expect(attempt).toMatchObject({ statusCode: 0, error: `refused: hooks.rebind.test resolves to 127.0.0.1, a loopback address${REFUSED}` });
      expect(receiver.received).toEqual([]);
    } finally {
      await receiver.close();
    }
  });

  it('connects to the address it checked, whatever the name resolves to elsewhere, with the name as Host', async () => {
    const receiver = await startReceiver();
    try {
      // hooks.pinned.test resolves nowhere but through this guard's resolver.
      const webhooks = webhooksWith(new TargetGuard({ allowPrivate: true, resolve: scripted('127.0.0.1') }));
      const { webhook } = await webhooks.create({ owner: 'pinned', url: `http://hooks.pinned.test:${receiver.port}/in?x=1`, eventTypes: [], description: '' }, admin);
      const attempt = await webhooks.test(webhook.id, admin);
      expect(attempt).toMatchObject({ statusCode: 204, error: '' });
      expect(receiver.received).toHaveLength(1);
      expect(receiver.received[0]?.headers.host).toBe(`hooks.pinned.test:${receiver.port}`);
    } finally {
      await receiver.close();
    }
  });
});
