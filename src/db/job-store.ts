import type { Knex } from '@mikro-orm/knex';
import type { ClaimedJob, JobStore, NewJob } from '../jobs/job-store.ts';
import type { JobFilter, JobRecord, JobState } from '../jobs/queue.ts';
import type { Database } from './orm.ts';
import { date, json, optionalDate, type Row } from './row-reader.ts';

/** The database queue's jobs on SQLite or PostgreSQL: each change is one statement, its condition the lock. */
export class SqlJobStore implements JobStore {
  private readonly knex: Knex;

  constructor(database: Database) {
    this.knex = database.orm.em.getKnex();
  }

  async insert(job: NewJob, now: Date): Promise<boolean> {
    const inserted = (await this.knex('jobs')
      .insert({
        id: job.id,
        name: job.name,
        payload: JSON.stringify(job.payload),
        state: job.runAt.getTime() > now.getTime() ? 'delayed' : 'waiting',
        attempts: 0,
        max_attempts: job.maxAttempts,
        last_error: '',
        run_at: job.runAt,
        created_at: now,
        updated_at: now,
      })
      .onConflict('id')
      .ignore()
      .returning('id')) as unknown[];
    return inserted.length > 0;
  }

  async claim(names: readonly string[], worker: string, now: Date, leaseUntil: Date): Promise<ClaimedJob | undefined> {
    const due = (query: Knex.QueryBuilder) =>
      query
        .whereIn('name', [...names])
        .where((q) =>
          q.where((waiting) => waiting.whereIn('state', ['waiting', 'delayed']).where('run_at', '<=', now)).orWhere((held) => held.where('state', 'active').where('lease_until', '<', now)),
        );
    // A few candidates, oldest due first; of workers racing for one, the conditional update lets exactly one win.
    const candidates = (await due(this.knex('jobs')).orderBy('run_at').limit(4).select('id')) as Row[];
    for (const candidate of candidates) {
      const id = String(candidate['id']);
      const taken = await due(this.knex('jobs').where('id', id)).update({
        state: 'active',
        lease_owner: worker,
        lease_until: leaseUntil,
        attempts: this.knex.raw('attempts + 1'),
        updated_at: now,
      });
      if (taken === 1) {
        const row = (await this.knex('jobs').where('id', id).first()) as Row;
        return { ...toJob(row), leaseUntil };
      }
    }
    return undefined;
  }

  async extend(id: string, worker: string, leaseUntil: Date): Promise<boolean> {
    return (await this.held(id, worker).update({ lease_until: leaseUntil })) === 1;
  }

  async complete(id: string, worker: string, now: Date): Promise<void> {
    await this.held(id, worker).update({ state: 'completed', lease_owner: null, lease_until: null, finished_at: now, updated_at: now });
  }

  async fail(id: string, worker: string, error: string, retryAt: Date | undefined, now: Date): Promise<void> {
    await this.held(id, worker).update({
      state: retryAt === undefined ? 'failed' : 'delayed',
      run_at: retryAt ?? now,
      last_error: error.slice(0, 2000),
      lease_owner: null,
      lease_until: null,
      finished_at: retryAt === undefined ? now : null,
      updated_at: now,
    });
  }

  async list(filter: JobFilter): Promise<JobRecord[]> {
    const query = this.knex('jobs').orderBy('created_at', 'desc').orderBy('id').limit(filter.limit);
    if (filter.state !== undefined) query.where('state', filter.state);
    if (filter.name !== undefined) query.where('name', filter.name);
    return ((await query) as Row[]).map(toJob);
  }

  async get(id: string): Promise<JobRecord | undefined> {
    const row = (await this.knex('jobs').where('id', id).first()) as Row | undefined;
    return row && toJob(row);
  }

  async retry(id: string, now: Date): Promise<JobRecord | undefined> {
    await this.knex('jobs').where({ id, state: 'failed' }).update({ state: 'waiting', attempts: 0, run_at: now, finished_at: null, updated_at: now });
    return this.get(id);
  }

  async pruneCompleted(before: Date): Promise<number> {
    return this.knex('jobs').where('state', 'completed').where('finished_at', '<', before).delete();
  }

  /** The job, if this worker still holds it: a worker whose lease ran out (and was taken over) changes nothing. */
  private held(id: string, worker: string): Knex.QueryBuilder {
    return this.knex('jobs').where({ id, state: 'active', lease_owner: worker });
  }
}

function toJob(row: Row): JobRecord {
  return {
    id: String(row['id']),
    name: String(row['name']),
    payload: json<Record<string, unknown>>(row['payload']),
    state: String(row['state']) as JobState,
    attempts: Number(row['attempts']),
    maxAttempts: Number(row['max_attempts']),
    lastError: String(row['last_error'] ?? ''),
    runAt: date(row['run_at']),
    createdAt: date(row['created_at']),
    finishedAt: optionalDate(row['finished_at']) ?? undefined,
  };
}
