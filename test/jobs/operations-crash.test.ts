// Exactly once across a crash: a worker process killed with SIGKILL in the middle of its operations, then started
// again, leaves every agent with one certificate, one agent.registered audit event and one log leaf.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from '../../src/db/orm.ts';
import { dialects } from '../support/databases.ts';
import { processEnvironment, type ServerProcess, serverProcess } from '../support/server-process.ts';

const AGENTS = 200;
const SERVE = join(import.meta.dirname, '..', 'bench', 'serve.ts');

describe.each(dialects)('operations when their worker is killed (%s)', (dialect) => {
  let env: NodeJS.ProcessEnv;
  let api: ServerProcess;
  let database: Database;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    const environment = await processEnvironment(dialect, { ASYNC_PROCESSING_ENABLED: 'true', WORKERS_ENABLED: 'false', JOBS_POLL_MS: '50', JOBS_LEASE_SECONDS: '2' });
    env = environment.env;
    api = await serverProcess(env);
    database = await openDatabase(String(env['DATABASE_URL']));
    cleanup = async () => {
      await api.stop();
      await database.close();
      await environment.cleanup();
    };
  });
  afterAll(() => cleanup());

  const knex = () => database.orm.em.getKnex();
  const count = async (query: ReturnType<ReturnType<typeof knex>>) => Number(((await query.count({ n: '*' })) as { n: number | string }[])[0]?.n ?? 0);
  const startWorker = () => serverProcess({ ...env, WORKERS_ENABLED: 'true' });

  it('records each registration once, whatever the kill interrupted', async () => {
    const names = Array.from({ length: AGENTS }, (_, i) => `crash-${i}.${dialect}.example`);
    for (let i = 0; i < names.length; i += 20) {
      await Promise.all(
        names.slice(i, i + 20).map(async (name) => {
          const response = await fetch(`${api.url}/v1/agents`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ agent_name: name, owner: 'crash' }) });
          expect(response.status).toBe(202);
        }),
      );
    }

    // Kill a worker while it is in the middle of an operation (one it started and has not finished), as often as it
    // takes to catch it there, and at most five times.
    let caughtMidway = false;
    for (let round = 0; round < 5 && !caughtMidway; round += 1) {
      // Not waiting for it to listen: it works through the queue from the moment it starts. The kill comes as soon as
      // an operation shows an attempt that has not ended.
      const worker = spawn(process.execPath, ['--import', 'tsx', SERVE], { env: { ...env, WORKERS_ENABLED: 'true' }, stdio: 'ignore' });
      const exited = once(worker, 'exit');
      const started = () => count(knex()('operations').where('state', 'pending').where('attempts', '>', 0));
      while ((await started()) === 0 && worker.exitCode === null) await sleep(1);
      worker.kill('SIGKILL');
      await exited;
      caughtMidway = (await count(knex()('operations').where('state', 'pending').where('attempts', '>', 0))) > 0;
    }
    expect(caughtMidway).toBe(true);

    const worker = await startWorker();
    try {
      for (let i = 0; i < 600 && (await count(knex()('operations').where('state', 'pending'))) > 0; i += 1) await sleep(100);
    } finally {
      await worker.stop();
    }

    expect(await count(knex()('operations').where('state', 'succeeded'))).toBe(AGENTS);
    // At least one operation was taken again after its worker died (its lease ran out).
    expect(await count(knex()('operations').where('attempts', '>', 1))).toBeGreaterThan(0);
    const perAgent = async (table: string, nameColumn: string, where: Record<string, string>) =>
      ((await knex()(table).where(where).whereIn(nameColumn, names).groupBy(nameColumn).select(nameColumn).count({ n: '*' })) as { n: number | string }[]).map((row) => Number(row.n));
    const registered = await perAgent('audit_events', 'agent_name', { event_type: 'agent.registered' });
    const leaves = await perAgent('tlog_entries', 'agent_name', { event_type: 'agent.registered' });
    const certificates = (await knex()('certificates as c').join('agents as a', 'a.id', 'c.agent_id').whereIn('a.name', names).groupBy('a.name').select('a.name').count({ n: '*' })) as { n: number | string }[];
    for (const counts of [registered, leaves, certificates.map((row) => Number(row.n))]) {
      expect(counts).toHaveLength(AGENTS);
      expect(new Set(counts)).toEqual(new Set([1]));
    }
  }, 120_000);
});
