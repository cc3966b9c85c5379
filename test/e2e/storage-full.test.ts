import { Code } from '@connectrpc/connect';
import type { Knex } from '@mikro-orm/knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistryClient } from '../../src/sdk/client.ts';
import { dialects } from '../support/databases.ts';
import { rpcError } from '../support/rpc.ts';
import { runningServer } from '../support/server.ts';

// SQLite: the server's own connection is capped with PRAGMA max_page_count, so its next page is refused with a real
// SQLITE_FULL ("database or disk is full"). PostgreSQL cannot be filled that way without a file system of its own, so
// triggers raise SQLSTATE 53100 (disk_full) from the server itself on the writes a registration and the write probe
// make: the real error object, through the real driver, as a full disk raises it.
const filling: Record<string, { fill(knex: Knex): Promise<void>; free(knex: Knex): Promise<void> }> = {
  sqlite: {
    async fill(knex) {
      const [row] = (await knex.raw('pragma page_count')) as { page_count: number }[];
      await knex.raw(`pragma max_page_count = ${row?.page_count ?? 0}`);
    },
    async free(knex) {
      await knex.raw('pragma max_page_count = 1073741823');
    },
  },
  postgresql: {
    async fill(knex) {
      await knex.raw(`create function atr_test_disk_full() returns trigger language plpgsql as $$
        begin raise exception 'could not extend file: No space left on device' using errcode = 'disk_full'; end $$`);
      for (const table of ['agents', 'storage_probe']) {
        await knex.raw(`create trigger atr_test_disk_full before insert on ${table} for each row execute function atr_test_disk_full()`);
      }
    },
    async free(knex) {
      await knex.raw('drop function atr_test_disk_full cascade');
    },
  },
};

describe.each(dialects)('a full database on %s', (dialect) => {
  let url: string;
  let knex: Knex;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    const started = await runningServer(dialect);
    url = started.server.url;
    knex = started.server.app.database.orm.em.getKnex();
    cleanup = started.cleanup;
  });
  afterAll(() => cleanup());

  const register = (name: string) =>
    fetch(`${url}/v1/agents`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ agent_name: name, owner: 'ops' }) });
  const rowsNaming = async (name: string) => ({
    agents: (await knex('agents').where('name', name)).length,
    audit: (await knex('audit_events').where('agent_name', name)).length,
    leaves: (await knex('tlog_entries').where('agent_name', name)).length,
  });
  const readyz = async () => {
    const response = await fetch(`${url}/readyz`);
    return { status: response.status, body: (await response.json()) as unknown };
  };
  const metric = async (line: string) => {
    const text = await (await fetch(`${url}/metrics`)).text();
    return Number(text.split('\n').find((sample) => sample.startsWith(`${line} `))?.split(' ')[1] ?? 0);
  };

  it('answers 503 storage_unavailable, writes nothing of the refused change, and is not ready until a write succeeds again', async () => {
    expect((await register('before.full.example')).status).toBe(201);
    expect((await readyz()).status).toBe(200);
    await filling[dialect]?.fill(knex);

    // SQLite refuses only the change that needs a new page; the pages the database has may take a few more.
    let refused: { name: string; response: Response } | undefined;
    for (let i = 0; i < 200 && refused === undefined; i++) {
      const name = `agent-${i}.full.example`;
      const response = await register(name);
      if (response.status !== 201) refused = { name, response };
    }
    expect(refused?.response.status).toBe(503);
    expect(await refused?.response.json()).toEqual({ code: 'storage_unavailable', detail: expect.stringContaining('database is full') });
    expect(await rowsNaming(refused?.name ?? '')).toEqual({ agents: 0, audit: 0, leaves: 0 });

    const connect = await rpcError(createRegistryClient({ baseUrl: url }).registry.registerAgent({ agentName: 'connect.full.example', owner: 'ops' }));
    expect(connect.code).toBe(Code.Unavailable);
    expect(connect.metadata.get('atr-error-code')).toBe('storage_unavailable');
    expect(await rowsNaming('connect.full.example')).toEqual({ agents: 0, audit: 0, leaves: 0 });

    expect(await readyz()).toEqual({ status: 503, body: { status: 'unavailable', checks: { database: 'not writable' } } });
    expect(await readyz()).toMatchObject({ status: 503 });
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect(await metric('atr_storage_unavailable_total')).toBe(2);
    expect(await metric('atr_rpc_requests_total{service="atr.v1.RegistryService",method="RegisterAgent",code="unavailable"}')).toBe(2);

    await filling[dialect]?.free(knex);
    expect(await readyz()).toEqual({ status: 200, body: { status: 'ready', checks: { database: 'ok' } } });
    expect((await register(refused?.name ?? '')).status).toBe(201);
    expect(await rowsNaming(refused?.name ?? '')).toEqual({ agents: 1, audit: 1, leaves: 1 });
  }, 120_000);
});
