// JobService and `atr jobs` show the background jobs to admins and put a failed one back in the queue; nobody else
// may, and bad input is refused with the rule it broke.
import { readFileSync } from 'node:fs';
import { Code } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyRole } from '../../gen/atr/v1/api_key_pb.js';
import { type RegistryClient, createRegistryClient } from '../../src/sdk/client.ts';
import { runAtr } from '../support/cli.ts';
import { rpcError } from '../support/rpc.ts';
import { runningServer } from '../support/server.ts';

describe('JobService', () => {
  let started: Awaited<ReturnType<typeof runningServer>>;
  let admin: RegistryClient;
  let adminKey: string;
  let healthy = false;

  beforeAll(async () => {
    started = await runningServer('sqlite', { apiKeyEnabled: true, mtlsEnabled: false, lifecycleIntervalSeconds: 1, jobsPollMs: 100, redisEnabled: false });
    adminKey = readFileSync(started.environment.config.adminKeyFile, 'utf8').trim();
    admin = createRegistryClient({ baseUrl: started.server.url, apiKey: adminKey });
    started.server.app.jobs.queue.work('test.flaky', async () => {
      if (!healthy) throw new Error('the receiver said no');
    });
    await started.server.app.jobs.queue.enqueue('test.flaky', { n: 1 }, { jobId: 'test.flaky:1', attempts: 1 });
  });
  afterAll(() => started?.cleanup());

  const until = async <T>(read: () => Promise<T>, done: (value: T) => boolean) => {
    for (let i = 0; i < 100; i++) {
      const value = await read();
      if (done(value)) return value;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return read();
  };

  it('lists the lifecycle sweeps and a failed job with its error, and retries it', async () => {
    const sweeps = await until(() => admin.jobs.listJobs({ name: 'lifecycle.sweep' }), (r) => r.jobs.some((j) => j.state === 'completed'));
    expect(sweeps.queue).toBe('database');
    expect(sweeps.jobs[0]!.jobId).toMatch(/^lifecycle\.sweep@\d+$/);
    const failed = await until(() => admin.jobs.getJob({ jobId: 'test.flaky:1' }), (r) => r.job?.state === 'failed');
    expect(failed.job).toMatchObject({ name: 'test.flaky', state: 'failed', attempts: 1, maxAttempts: 1, lastError: 'the receiver said no', payload: { n: 1 } });
    expect((await admin.jobs.listJobs({ state: 'failed' })).jobs.map((j) => j.jobId)).toEqual(['test.flaky:1']);

    healthy = true;
    await admin.jobs.retryJob({ jobId: 'test.flaky:1' });
    const done = await until(() => admin.jobs.getJob({ jobId: 'test.flaky:1' }), (r) => r.job?.state === 'completed');
    expect(done.job).toMatchObject({ state: 'completed', attempts: 1, lastError: 'the receiver said no' });
  });

  it('refuses bad input with the rule, an unknown job as job_not_found, and every caller but an admin', async () => {
    const bad = await rpcError(admin.jobs.listJobs({ state: 'stuck' }));
    expect(bad.code).toBe(Code.InvalidArgument);
    expect(bad.rawMessage).toContain('state: must be one of waiting, delayed, active, completed, failed');
    for (const [call, field] of [
      [admin.jobs.listJobs({ name: 'x\u0000' }), 'name:'],
      [admin.jobs.getJob({ jobId: 'a\u0000b' }), 'job_id:'],
      [admin.jobs.retryJob({ jobId: '' }), 'job_id:'],
    ] as const) {
      const refused = await rpcError(call);
      expect(refused.code).toBe(Code.InvalidArgument);
      expect(refused.rawMessage).toContain(field);
    }
    const missing = await rpcError(admin.jobs.getJob({ jobId: 'nope' }));
    expect(missing.code).toBe(Code.NotFound);
    expect(missing.metadata.get('atr-error-code')).toBe('job_not_found');
    const rest = await fetch(`${started.server.url}/v1/jobs/nope`, { headers: { authorization: `Bearer ${adminKey}` } });
    expect(rest.status).toBe(404);
    const owner = (await admin.keys.createApiKey({ role: ApiKeyRole.OWNER, owner: 'team', description: '' })).secret;
    expect((await rpcError(createRegistryClient({ baseUrl: started.server.url, apiKey: owner }).jobs.listJobs({}))).code).toBe(Code.PermissionDenied);
    expect((await rpcError(createRegistryClient({ baseUrl: started.server.url }).jobs.retryJob({ jobId: 'test.flaky:1' }))).code).toBe(Code.Unauthenticated);
  });

  it('is what `atr jobs` shows', async () => {
    const env = { ATR_SERVER: started.server.url, ATR_API_KEY: adminKey };
    const listed = await runAtr(['jobs', 'list', '--name', 'test.flaky'], started.environment.dir, env);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^JOB ID\s+STATE\s+ATTEMPTS/m);
    expect(listed.stdout).toMatch(/test\.flaky:1\s+completed\s+1\/1/);
    const shown = await runAtr(['jobs', 'show', 'test.flaky:1'], started.environment.dir, env);
    expect(shown.stdout).toMatch(/^state:\s+completed$/m);
    const unknown = await runAtr(['jobs', 'retry', 'nope'], started.environment.dir, env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('nope');
  }, 60_000);
});
