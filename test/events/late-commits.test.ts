// On PostgreSQL an audit id can commit after a larger one. The feed must neither skip the late one nor hand out a
// cursor past it before it commits; an id that never commits (rolled back) holds the feed for the settle window only.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RegistryClient, createRegistryClient } from '../../src/sdk/client.ts';
import { dialects } from '../support/databases.ts';
import { runningServer } from '../support/server.ts';
import { eventually, head, position, watch } from './watch.ts';

describe.runIf(dialects.includes('postgresql'))('the event feed and transactions that commit out of order, postgresql', () => {
  let cleanup: () => Promise<void>;
  let client: RegistryClient;
  let database: pg.Client;

  beforeAll(async () => {
    const started = await runningServer('postgresql');
    cleanup = started.cleanup;
    client = createRegistryClient({ baseUrl: started.server.url });
    database = new pg.Client({ connectionString: started.environment.config.databaseUrl });
    await database.connect();
  });
  afterAll(async () => {
    await database?.end();
    await cleanup?.();
  });

  /** Opens a transaction that takes the next audit id, as a slow registry transaction would; returns that id. */
  const openLateTransaction = async (agentName: string): Promise<number> => {
    await database.query('begin');
    const { rows } = await database.query<{ id: string }>(
      "insert into audit_events (event_type, actor, agent_name, metadata, created_at) values ('agent.updated', 'system:late', $1, '{\"late\":true}', now()) returning id",
      [agentName],
    );
    return Number(rows[0]?.id);
  };

  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it('holds a later commit until the earlier id commits, then sends both in id order', async () => {
    const early = 'early.late.postgresql.example';
    await client.registry.registerAgent({ agentName: early, owner: 'late' });
    const start = await head(client.events);
    const watching = watch(client.events, { after: start });
    const lateId = await openLateTransaction(early);
    const later = 'later.late.postgresql.example';
    await client.registry.registerAgent({ agentName: later, owner: 'late' });

    // The registration has committed with a larger id; the feed waits below the open one.
    await sleep(1_500);
    expect(watching.events()).toEqual([]);
    expect(watching.messages.length).toBeGreaterThan(0);
    for (const message of watching.messages) expect(position(message.cursor)).toBeLessThan(lateId);
    const polled = await client.events.listEvents({ after: start });
    expect(polled.events).toEqual([]);
    expect(position(polled.nextCursor)).toBeLessThan(lateId);

    await database.query('commit');
    const end = await head(client.events, start);
    expect(position(end)).toBeGreaterThan(lateId);
    await watching.reached(end);
    await watching.stop();
    expect(watching.events().map((event) => [Number(event.id), event.eventType, event.agentName, event.actor])).toEqual([
      [lateId, 'agent.updated', early, 'system:late'],
      [lateId + 1, 'agent.registered', later, expect.stringMatching(/^anonymous@/)],
    ]);
    expect(watching.events()[0]).toMatchObject({ owner: 'late', metadata: { late: true } });
  });

  it('passes by an id whose transaction rolled back once it has been missing for the settle window', async () => {
    const start = await head(client.events);
    const watching = watch(client.events, { after: start });
    await openLateTransaction('rolled-back.late.postgresql.example');
    await database.query('rollback');
    const agentName = 'after-rollback.late.postgresql.example';
    const registeredAt = Date.now();
    await client.registry.registerAgent({ agentName, owner: 'late' });
    await sleep(2_000);
    expect(watching.events()).toEqual([]);
    await eventually(() => watching.events().length > 0, 10_000, 'the registration');
    const waited = Date.now() - registeredAt;
    await watching.stop();
    expect(watching.events().map((event) => [event.eventType, event.agentName])).toEqual([['agent.registered', agentName]]);
    // The feed's settle window is 5 s: it waited for the missing id about that long, not for ever.
    expect(waited).toBeGreaterThanOrEqual(4_500);
  });
});
