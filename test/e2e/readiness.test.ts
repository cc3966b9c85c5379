import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dialects } from '../support/databases.ts';
import { runningServer } from '../support/server.ts';

describe.each(dialects)('readiness on %s', (dialect) => {
  let url: string;
  let loseDatabase: () => Promise<void>;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    const started = await runningServer(dialect);
    url = started.server.url;
    loseDatabase = () => started.server.app.store.close();
    cleanup = async () => {
      await started.server.close().catch(() => {});
      await started.environment.cleanup();
    };
  });
  afterAll(() => cleanup());

  it('says ready while the database answers, and 503 once it is gone, while staying alive', async () => {
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    await loseDatabase();
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'unavailable', checks: { database: 'unreachable' } });
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    // Requests that need the database fail cleanly instead of taking the process down.
    const resolve = await fetch(`${url}/v1/resolve/someone.example`);
    expect(resolve.status).toBeGreaterThanOrEqual(500);
    expect(await resolve.json()).toMatchObject({ code: expect.any(String) });
  });
});
