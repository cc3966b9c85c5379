// The event feed through real listeners: Connect (the SDK's clients) and grpc-js clients built from the protos,
// REST pollers, on SQLite and PostgreSQL, in one process and across two.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Code } from '@connectrpc/connect';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyRole } from '../../gen/atr/v1/api_key_pb.js';
import type { RegistryEvent } from '../../gen/atr/v1/event_pb.js';
import { type RegistryClient, createRegistryClient } from '../../src/sdk/client.ts';
import type { RunningServer } from '../../src/server/server.ts';
import { dialects } from '../support/databases.ts';
import { rpcError } from '../support/rpc.ts';
import { runningServer } from '../support/server.ts';
import { serverProcessPair } from '../support/server-process.ts';
import { eventually, head, listAll, position, watch } from './watch.ts';

type Json = Record<string, unknown>;

const summary = (event: RegistryEvent) => [event.eventType, event.agentName];

/** Ids strictly increasing, each event once, each cursor its id's. */
function expectFeedOrder(events: readonly RegistryEvent[]): void {
  const ids = events.map((event) => Number(event.id));
  expect(ids).toEqual([...ids].sort((a, b) => a - b));
  expect(new Set(ids).size).toBe(ids.length);
  for (const event of events) expect(position(event.cursor)).toBe(Number(event.id));
}

describe.each(dialects)('WatchAgents and ListEvents, %s', (dialect) => {
  let server: RunningServer;
  let cleanup: () => Promise<void>;
  let client: RegistryClient;
  const name = (label: string) => `${label}.events.${dialect}.example`;

  beforeAll(async () => {
    ({ server, cleanup } = await runningServer(dialect));
    client = createRegistryClient({ baseUrl: server.url });
  });
  afterAll(() => cleanup());

  it('sends register, rotate and revoke in order, with their owner, actor, time and metadata, to a Connect client', async () => {
    const start = await head(client.events);
    const watching = watch(client.events, { after: start });
    const before = Date.now();
    const agentName = name('lifecycle');
    const registered = await client.registry.registerAgent({ agentName, owner: 'lifecycle-team', capabilities: ['chat'] });
    const rotated = await client.registry.rotateCertificate({ agentName });
    await client.registry.revokeAgent({ agentName, reason: 'keyCompromise' });
    const end = await head(client.events, start);
    await watching.reached(end);
    await watching.stop();

    const events = watching.events();
    expect(events.map(summary)).toEqual([
      ['agent.registered', agentName],
      ['agent.rotated', agentName],
      ['agent.revoked', agentName],
    ]);
    expectFeedOrder(events);
    for (const event of events) {
      expect(event).toMatchObject({ agentName, owner: 'lifecycle-team', actor: 'anonymous@127.0.0.1' });
      const at = Number(event.timestamp?.seconds) * 1000;
      expect(at).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
      expect(at).toBeLessThanOrEqual(Date.now());
    }
    const [first, second, third] = events;
    expect(first?.metadata).toMatchObject({ owner: 'lifecycle-team', capabilities: ['chat'], fingerprint: registered.agent?.certFingerprint });
    expect(second?.metadata).toMatchObject({ previous_fingerprint: registered.agent?.certFingerprint, fingerprint: rotated.agent?.certFingerprint });
    expect(third?.metadata).toMatchObject({ reason: 'keyCompromise', fingerprint: rotated.agent?.certFingerprint });
    // The feed is the audit trail: the same ids as ListAuditEvents.
    const audit = await client.registry.listAuditEvents({ agentName });
    expect(audit.events.map((event) => event.id).sort()).toEqual(events.map((event) => event.id).sort());
    // Every message carries a cursor; an event's is its own.
    for (const message of watching.messages) if (message.event) expect(message.cursor).toBe(message.event.cursor);
  });

  it('sends the same events to a grpc-js client built from event.proto', async () => {
    const definition = protoLoader.loadSync('atr/v1/event.proto', {
      includeDirs: [fileURLToPath(new URL('../../proto', import.meta.url))],
      keepCase: true,
      longs: String,
      enums: String,
      defaults: true,
    });
    const atr = grpc.loadPackageDefinition(definition) as unknown as { atr: { v1: Record<string, grpc.ServiceClientConstructor> } };
    const grpcClient = new atr.atr.v1.EventService!(new URL(server.url).host, grpc.credentials.createInsecure());
    const start = await head(client.events);
    const received: Json[] = [];
    const call = (grpcClient as unknown as Record<string, (request: object) => grpc.ClientReadableStream<Json>>)['WatchAgents']!({ after: start, heartbeat_seconds: 1 });
    call.on('data', (message: Json) => received.push(message));
    const failed = new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
    try {
      const agentName = name('grpc-js');
      await client.registry.registerAgent({ agentName, owner: 'grpc-team' });
      await client.registry.revokeAgent({ agentName, reason: 'cessationOfOperation' });
      const end = position(await head(client.events, start));
      await eventually(() => received.some((message) => position(String(message['cursor'])) >= end));
      const events = received.flatMap((message) => (message['event'] ? [message['event'] as Json] : []));
      expect(events.map((event) => [event['event_type'], event['agent_name'], event['owner']])).toEqual([
        ['agent.registered', agentName, 'grpc-team'],
        ['agent.revoked', agentName, 'grpc-team'],
      ]);
      expect(events[1]?.['metadata']).toMatchObject({ fields: { reason: { stringValue: 'cessationOfOperation' } } });
      expect(Number(events[1]?.['id'])).toBeGreaterThan(Number(events[0]?.['id']));
    } finally {
      call.cancel();
      expect((await failed).code).toBe(grpc.status.CANCELLED);
      grpcClient.close();
    }
  });

  it('filters by owner, agent names and event types, and shows a domain event under the owner it was for', async () => {
    const start = await head(client.events);
    const [f1, f2, f3] = [name('f1'), name('f2'), name('f3')];
    const domain = `filters-${dialect}.test`;
    const byOwner = watch(client.events, { after: start, owner: 'team-f' });
    const byNames = watch(client.events, { after: start, agentNames: [f2, f3] });
    const byTypes = watch(client.events, { after: start, eventTypes: ['agent.revoked', 'agent.rotated'] });
    const combined = watch(client.events, { after: start, owner: 'team-f', eventTypes: ['agent.registered'] });
    await client.registry.registerAgent({ agentName: f1, owner: 'team-f' });
    await client.registry.registerAgent({ agentName: f2, owner: 'team-g' });
    await client.registry.registerAgent({ agentName: f3, owner: 'team-f' });
    await client.registry.updateAgent({ agentName: f2, description: 'changed' });
    await client.registry.revokeAgent({ agentName: f3 });
    await client.registry.rotateCertificate({ agentName: f1 });
    // No challenge was opened: refused, and audited as domain.verification_failed for team-f.
    expect((await rpcError(client.domains.verifyDomain({ domain, owner: 'team-f' }))).code).toBe(Code.FailedPrecondition);
    const end = await head(client.events, start);
    const watches = [byOwner, byNames, byTypes, combined];
    await Promise.all(watches.map((w) => w.reached(end)));
    await Promise.all(watches.map((w) => w.stop()));

    const expected = {
      byOwner: [['agent.registered', f1], ['agent.registered', f3], ['agent.revoked', f3], ['agent.rotated', f1], ['domain.verification_failed', domain]],
      byNames: [['agent.registered', f2], ['agent.registered', f3], ['agent.updated', f2], ['agent.revoked', f3]],
      byTypes: [['agent.revoked', f3], ['agent.rotated', f1]],
      combined: [['agent.registered', f1], ['agent.registered', f3]],
    };
    expect(byOwner.events().map(summary)).toEqual(expected.byOwner);
    expect(byNames.events().map(summary)).toEqual(expected.byNames);
    expect(byTypes.events().map(summary)).toEqual(expected.byTypes);
    expect(combined.events().map(summary)).toEqual(expected.combined);
    expect(byOwner.events().at(-1)).toMatchObject({ owner: 'team-f', agentName: domain, eventType: 'domain.verification_failed' });
    // A filtered watch still moves on: its heartbeats reach the end of the feed past the events it skipped.
    expect(position(byTypes.messages.at(-1)?.cursor ?? '')).toBeGreaterThanOrEqual(position(end));

    // ListEvents filters the same way.
    expect((await listAll(client.events, start, { owner: 'team-f' })).map(summary)).toEqual(expected.byOwner);
    expect((await listAll(client.events, start, { agentNames: [f2, f3] })).map(summary)).toEqual(expected.byNames);
    expect((await listAll(client.events, start, { eventTypes: ['agent.revoked', 'agent.rotated'] })).map(summary)).toEqual(expected.byTypes);
  });

  it('sends a client that resumes with its last cursor exactly the events it missed, none twice', async () => {
    const start = await head(client.events);
    const [r1, r2, r3] = [name('r1'), name('r2'), name('r3')];
    // This client handles two events and goes away.
    const first = watch(client.events, { after: start }, 2);
    await client.registry.registerAgent({ agentName: r1, owner: 'resume' });
    await client.registry.registerAgent({ agentName: r2, owner: 'resume' });
    await client.registry.registerAgent({ agentName: r3, owner: 'resume' });
    await client.registry.rotateCertificate({ agentName: r1 });
    await eventually(() => first.events().length === 2);
    await first.stop();
    // Changes while it is away.
    await client.registry.revokeAgent({ agentName: r2 });
    const last = first.messages.at(-1)?.cursor ?? '';
    expect(position(last)).toBe(Number(first.events()[1]?.id));

    const resumed = watch(client.events, { after: last });
    const end = await head(client.events, start);
    await resumed.reached(end);
    await resumed.stop();
    expect(first.events().map(summary)).toEqual([['agent.registered', r1], ['agent.registered', r2]]);
    expect(resumed.events().map(summary)).toEqual([['agent.registered', r3], ['agent.rotated', r1], ['agent.revoked', r2]]);
    const together = [...first.events(), ...resumed.events()];
    expectFeedOrder(together);
    expect(together.map((event) => event.id)).toEqual((await listAll(client.events, start)).map((event) => event.id));
  });

  it('saves a filtered client\'s progress in heartbeats: resuming from one sends nothing it had already passed', async () => {
    const start = await head(client.events);
    const [h1, h2] = [name('h1'), name('h2')];
    const revocations = watch(client.events, { after: start, eventTypes: ['agent.revoked'] });
    await client.registry.registerAgent({ agentName: h1, owner: 'heartbeat' });
    await client.registry.revokeAgent({ agentName: h1 });
    await client.registry.registerAgent({ agentName: h2, owner: 'heartbeat' });
    const end = await head(client.events, start);
    await revocations.reached(end);
    await revocations.stop();
    const last = revocations.messages.at(-1);
    expect(last?.event).toBeUndefined();
    expect(last?.cursor).toBe(end);
    expect(revocations.events().map(summary)).toEqual([['agent.revoked', h1]]);

    await client.registry.revokeAgent({ agentName: h2 });
    const resumed = watch(client.events, { after: last?.cursor ?? '', eventTypes: ['agent.revoked'] });
    await resumed.reached(await head(client.events, end));
    await resumed.stop();
    expect(resumed.events().map(summary)).toEqual([['agent.revoked', h2]]);
  });

  it('delivers 50 registrations made at once exactly once each, in cursor order, to a watch from now and one from a cursor', async () => {
    const start = await head(client.events);
    const fromCursor = watch(client.events, { after: start });
    const fromNow = watch(client.events, {});
    // A heartbeat says the watch from now is open, so what follows is after its start.
    await eventually(() => fromNow.messages.length > 0);
    const names = Array.from({ length: 50 }, (_, i) => name(`burst-${i}`));
    await Promise.all(names.map((agentName) => client.registry.registerAgent({ agentName, owner: 'burst' })));
    const end = await head(client.events, start);
    await Promise.all([fromCursor.reached(end), fromNow.reached(end)]);
    await Promise.all([fromCursor.stop(), fromNow.stop()]);
    for (const watched of [fromCursor, fromNow]) {
      const events = watched.events();
      expect(events).toHaveLength(50);
      expect(new Set(events.map((event) => event.agentName))).toEqual(new Set(names));
      expect(events.every((event) => event.eventType === 'agent.registered' && event.owner === 'burst')).toBe(true);
      expectFeedOrder(events);
    }
    expect(fromNow.events().map((event) => event.id)).toEqual(fromCursor.events().map((event) => event.id));
  });

  it('pages ListEvents over REST with after and next_cursor, oldest first, and answers the same cursor when nothing is new', async () => {
    const all = await listAll(client.events, '');
    const registered = all.filter((event) => event.eventType === 'agent.registered');
    const pages: Json[][] = [];
    let after = '';
    for (;;) {
      const response = await fetch(`${server.url}/v1/events?after=${after}&limit=7&event_types=agent.registered`);
      expect(response.status).toBe(200);
      const body = (await response.json()) as { events: Json[]; next_cursor: string };
      if (body.events.length === 0) {
        // Nothing new: the same cursor back, to poll with again.
        expect(body.next_cursor).toBe(after);
        break;
      }
      expect(body.events.length).toBeLessThanOrEqual(7);
      pages.push(body.events);
      after = body.next_cursor;
    }
    const listed = pages.flat();
    expect(listed.map((event) => event['id'])).toEqual(registered.map((event) => Number(event.id)));
    expect(pages.slice(0, -1).every((page) => page.length === 7)).toBe(true);
    const first = registered[0];
    expect(listed[0]).toEqual({
      cursor: first?.cursor,
      id: Number(first?.id),
      event_type: 'agent.registered',
      agent_name: first?.agentName,
      owner: first?.owner,
      actor: 'anonymous@127.0.0.1',
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/),
      metadata: expect.objectContaining({ owner: first?.owner }),
    });

    // Repeated query parameters name several agents; the end of the feed answers an empty page and the same cursor.
    const [a, b] = [name('r1'), name('r3')];
    const named = (await (await fetch(`${server.url}/v1/events?agent_names=${a}&agent_names=${b}&limit=500`)).json()) as { events: Json[] };
    expect(new Set(named.events.map((event) => event['agent_name']))).toEqual(new Set([a, b]));
    const end = await head(client.events);
    const idle = (await (await fetch(`${server.url}/v1/events?after=${end}`)).json()) as Json;
    expect(idle).toEqual({ events: [], next_cursor: end });
  });

  it('refuses a bad cursor, filter or option with 400 / InvalidArgument naming the rule', async () => {
    const bad = async (query: string) => {
      const response = await fetch(`${server.url}/v1/events?${query}`);
      expect(response.status, query).toBe(400);
      return (await response.json()) as Json;
    };
    expect(await bad('after=12')).toEqual({ code: 'invalid_argument', detail: 'after: "12" is not a cursor this registry issued (evt_ and a base-36 position)' });
    expect((await bad('after=evt_zzzzzzzzzzzz'))['detail']).toContain('is not a cursor this registry issued');
    expect(await bad('after=evt_zzzz')).toEqual({ code: 'invalid_argument', detail: 'after: "evt_zzzz" is past the newest event this registry has written' });
    expect((await bad('event_types=cert.verified'))['detail']).toMatch(/^event_types: "cert.verified" is not one of agent.registered, /);
    expect((await bad('agent_names=Not_A_Name'))['detail']).toMatch(/^agent_names: /);
    expect((await bad("owner=' OR 1=1 --"))['detail']).toMatch(/^owner: /);
    expect((await bad('limit=501'))['detail']).toBe('limit: must be from 0 to 500');

    const streamError = (request: Parameters<typeof client.events.watchAgents>[0]) =>
      rpcError(
        (async () => {
          for await (const _ of client.events.watchAgents(request)) break;
        })(),
      );
    const cursor = await streamError({ after: 'evt_' });
    expect(cursor.code).toBe(Code.InvalidArgument);
    expect(cursor.rawMessage).toBe('after: "evt_" is not a cursor this registry issued (evt_ and a base-36 position)');
    expect((await streamError({ after: await head(client.events), fromOldest: true })).rawMessage).toBe('from_oldest: cannot be combined with after');
    expect((await streamError({ heartbeatSeconds: 3601 })).rawMessage).toBe('heartbeat_seconds: must be from 0 to 3600');
    expect((await streamError({ eventTypes: ['key.created'] })).code).toBe(Code.InvalidArgument);
    expect((await streamError({ after: 'evt_zzzz' })).rawMessage).toBe('after: "evt_zzzz" is past the newest event this registry has written');
  });

  it('sends a watch that fell behind further than its queue holds the rest from the database, in order, once', async () => {
    const agentName = name('behind');
    const start = await head(client.events);
    const controller = new AbortController();
    const filter = { agentNames: [agentName], eventTypes: [] };
    const stream = server.app.events.watch({ after: position(start), filter, heartbeatMs: 60_000, signal: controller.signal });
    try {
      // The watch starts (and subscribes) with its first read, then stops reading after one event.
      const first = stream.next();
      await client.registry.registerAgent({ agentName, owner: 'behind' });
      expect((await first).value).toMatchObject({ event: { eventType: 'agent.registered', agentName } });
      // More events than a watch may have queued arrive while it does not read.
      const written = 2_500;
      await Promise.all(
        Array.from({ length: written }, (_, i) =>
          server.app.store.appendAudit({ eventType: 'agent.updated', actor: 'test:behind', agentName, metadata: { i } }, new Date()),
        ),
      );
      const end = position(await head(client.events, start));
      const rest: number[] = [];
      const indices: number[] = [];
      while (rest.length < written) {
        const { value, done } = await stream.next();
        if (done) throw new Error('the watch ended');
        if (value.event === undefined) continue;
        rest.push(value.event.id);
        indices.push(Number(value.event.metadata['i']));
      }
      expect(rest.at(-1)).toBe(end);
      expect(rest).toEqual([...rest].sort((a, b) => a - b));
      expect(new Set(rest).size).toBe(written);
      expect(new Set(indices)).toEqual(new Set(Array.from({ length: written }, (_, i) => i)));
    } finally {
      controller.abort();
      await stream.return();
    }
  });

  it('starts from the oldest event with from_oldest, and lets go of a stream when its client goes away', async () => {
    const baseline = server.app.events.watcherCount;
    const oldest = watch(client.events, { fromOldest: true });
    const others = [watch(client.events, {}), watch(client.events, { owner: 'nobody' })];
    const end = await head(client.events);
    await oldest.reached(end);
    expect(oldest.events().map((event) => event.id)).toEqual((await listAll(client.events, '')).map((event) => event.id));
    await eventually(() => server.app.events.watcherCount === baseline + 3);
    await Promise.all([oldest, ...others].map((w) => w.stop()));
    await eventually(() => server.app.events.watcherCount === baseline);
  });
});

describe.each(dialects)('the event feed with API keys on, %s', (dialect) => {
  let url: string;
  let admin: RegistryClient;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    const started = await runningServer(dialect, { apiKeyEnabled: true });
    url = started.server.url;
    cleanup = started.cleanup;
    admin = createRegistryClient({ baseUrl: url, apiKey: readFileSync(started.environment.config.adminKeyFile, 'utf8').trim() });
  });
  afterAll(() => cleanup());

  it('refuses anonymous callers with 401 / Unauthenticated and serves any key', async () => {
    const response = await fetch(`${url}/v1/events`);
    expect(response.status).toBe(401);
    expect(((await response.json()) as Json)['code']).toBe('unauthenticated');
    const anonymous = createRegistryClient({ baseUrl: url });
    const refused = await rpcError(
      (async () => {
        for await (const _ of anonymous.events.watchAgents({})) break;
      })(),
    );
    expect(refused.code).toBe(Code.Unauthenticated);
    expect((await rpcError(anonymous.events.listEvents({}))).code).toBe(Code.Unauthenticated);

    const { secret } = await admin.keys.createApiKey({ role: ApiKeyRole.READER });
    const reader = createRegistryClient({ baseUrl: url, apiKey: secret });
    const start = await head(reader.events);
    const watching = watch(reader.events, { after: start });
    const agentName = `keys.events.${dialect}.example`;
    await admin.registry.registerAgent({ agentName, owner: 'keyed' });
    await watching.reached(await head(reader.events, start));
    await watching.stop();
    expect(watching.events().map((event) => [event.eventType, event.agentName, event.actor])).toEqual([['agent.registered', agentName, expect.stringMatching(/^key:/)]]);
    const keyed = await fetch(`${url}/v1/events?after=${start}`, { headers: { authorization: `Bearer ${secret}` } });
    expect(keyed.status).toBe(200);
  });
});

describe.each(dialects)('the event feed across two server processes on one database, %s', (dialect) => {
  let pair: Awaited<ReturnType<typeof serverProcessPair>>;
  beforeAll(async () => {
    pair = await serverProcessPair(dialect, { EVENTS_POLL_MS: '100' });
  });
  afterAll(() => pair?.stop());

  it('sends a watcher on one process the changes made through the other, and either process resumes the other\'s cursor', async () => {
    const a = createRegistryClient({ baseUrl: pair.a.url });
    const b = createRegistryClient({ baseUrl: pair.b.url });
    const start = await head(b.events);
    const onB = watch(b.events, { after: start });
    const agentName = `shared.events.${dialect}.example`;
    await a.registry.registerAgent({ agentName, owner: 'shared' });
    await a.registry.rotateCertificate({ agentName });
    await a.registry.revokeAgent({ agentName });
    const end = await head(a.events, start);
    await onB.reached(end);
    await onB.stop();
    expect(onB.events().map(summary)).toEqual([
      ['agent.registered', agentName],
      ['agent.rotated', agentName],
      ['agent.revoked', agentName],
    ]);
    // A cursor from B continues on A with nothing twice.
    const middle = onB.events()[0]?.cursor ?? '';
    expect((await listAll(a.events, middle)).map(summary)).toEqual([
      ['agent.rotated', agentName],
      ['agent.revoked', agentName],
    ]);
  });
});
