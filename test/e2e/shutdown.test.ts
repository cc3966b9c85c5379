import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/orm.ts';
import { ATR_NODE_ARGS } from '../support/cli.ts';
import { dialects } from '../support/databases.ts';
import { processEnvironment } from '../support/server-process.ts';

const CLIENTS = 8;
const ACKNOWLEDGED_BEFORE_SIGTERM = 24;

interface Served {
  readonly child: ChildProcess;
  readonly url: string;
  readonly exited: Promise<[number | null, NodeJS.Signals | null]>;
  /** Resolves when the process says it is shutting down: it handled the signal and stops taking calls from then. */
  readonly shuttingDown: Promise<void>;
}

/** `atr serve` as an operator runs it, resolved once it prints where it listens. */
async function serve(env: NodeJS.ProcessEnv, args: string[] = []): Promise<Served> {
  const child = spawn(process.execPath, [...ATR_NODE_ARGS, 'serve', ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  let out = '';
  let saidShuttingDown = () => {};
  const shuttingDown = new Promise<void>((resolve) => (saidShuttingDown = resolve));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /ATR listening on (\S+)/.exec(out);
      if (match?.[1] !== undefined) resolve(match[1]);
      if (/SIG\w+: shutting down/.test(out)) saidShuttingDown();
    });
    void exited.then(([code, signal]) => reject(new Error(`atr serve exited (${code ?? signal}) before it listened`)));
  });
  return { child, url, exited, shuttingDown };
}

describe.each(dialects)('SIGTERM under load on %s', (dialect) => {
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await cleanup?.();
    cleanup = undefined;
  });

  it.each([[[]], [['--workers', '2']]])(
    'atr serve %j drains the calls in flight, exits 0, and keeps every registration it acknowledged',
    async (args: string[]) => {
      const environment = await processEnvironment(dialect, { MTLS_ENABLED: 'false', WORKERS_ENABLED: 'false' });
      const running: Served[] = [];
      cleanup = async () => {
        for (const served of running) if (served.child.exitCode === null) served.child.kill('SIGKILL');
        await environment.cleanup();
      };
      const served = await serve(environment.env, args);
      running.push(served);

      const acknowledged: string[] = [];
      const refused: string[] = [];
      let signalled = false;
      // Counted from when the server says it is shutting down: until it has handled the signal (an event-loop turn,
      // longer on a loaded machine) it serves as before.
      let shuttingDownAt: number | undefined;
      void served.shuttingDown.then(() => (shuttingDownAt = acknowledged.length));
      let next = 0;
      const sigterm = () => {
        signalled = true;
        served.child.kill('SIGTERM');
      };
      // Each client registers until the server stops answering; an answer is a success only with a 201 and its record.
      const client = async () => {
        for (;;) {
          const name = `agent-${next++}.shutdown.example`;
          try {
            const response = await fetch(`${served.url}/v1/agents`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ agent_name: name, owner: 'ops' }),
            });
            const body = (await response.json()) as { agent_name?: string };
            if (response.status === 201 && body.agent_name === name) acknowledged.push(name);
            else refused.push(`${name}: ${response.status}`);
          } catch {
            // Refused or cut: the client knows the call did not succeed.
            if (signalled) return;
          }
          if (acknowledged.length === ACKNOWLEDGED_BEFORE_SIGTERM && !signalled) sigterm();
        }
      };
      await Promise.all(Array.from({ length: CLIENTS }, client));
      expect(await served.exited).toEqual([0, null]);
      expect(refused).toEqual([]);
      expect(acknowledged.length).toBeGreaterThanOrEqual(ACKNOWLEDGED_BEFORE_SIGTERM);
      // No new calls once it is shutting down: each client's call in flight, and at most one more on its open HTTP/1.1
      // connection, whose answer closes it; a new connection is refused.
      expect(shuttingDownAt).toBeDefined();
      expect(acknowledged.length - (shuttingDownAt ?? 0)).toBeLessThanOrEqual(2 * CLIENTS);

      // Restarted, the registry has each acknowledged registration: the agent, its audit event and its log leaf.
      const again = await serve(environment.env);
      running.push(again);
      for (const name of acknowledged) expect((await fetch(`${again.url}/v1/agents/${name}`)).status, name).toBe(200);
      again.child.kill('SIGTERM');
      expect(await again.exited).toEqual([0, null]);
      const database = await openDatabase(environment.env['DATABASE_URL'] ?? '');
      try {
        const knex = database.orm.em.getKnex();
        const audited = new Set((await knex('audit_events').where('event_type', 'agent.registered').select('agent_name')).map((row: { agent_name: string }) => row.agent_name));
        const logged = new Set((await knex('tlog_entries').where('event_type', 'agent.registered').select('agent_name')).map((row: { agent_name: string }) => row.agent_name));
        expect(acknowledged.filter((name) => !audited.has(name))).toEqual([]);
        expect(acknowledged.filter((name) => !logged.has(name))).toEqual([]);
      } finally {
        await database.close();
      }
    },
    300_000,
  );
});
