import { create } from '@bufbuild/protobuf';
import type { JsonObject } from '@bufbuild/protobuf';
import type { ServiceImpl } from '@connectrpc/connect';
import { type Job, JobSchema, type JobService } from '../../gen/atr/v1/job_pb.js';
import { DomainError, invalidArgument, quoted } from '../errors.ts';
import { JOB_STATES, type JobQueue, type JobRecord, type JobState } from '../jobs/queue.ts';
import { timestamp } from './convert.ts';

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 500;
// What the registry names its jobs and their ids with; anything else names no job (and NUL is no text to PostgreSQL).
const JOB_NAME = /^[a-z][a-z0-9._-]{0,99}$/;
const JOB_ID = /^[\x21-\x7e]{1,200}$/;

function checkedJobId(id: string): string {
  if (!JOB_ID.test(id)) throw invalidArgument('job_id', `must be 1 to 200 printable ASCII characters, not ${quoted(id)}`);
  return id;
}

/** JobService: the background jobs, for admins (the authentication interceptor admits no one else). */
export class JobServiceImpl implements ServiceImpl<typeof JobService> {
  constructor(private readonly queue: JobQueue) {}

  async listJobs(request: { state: string; name: string; limit: number }) {
    if (request.state !== '' && !JOB_STATES.includes(request.state as JobState)) {
      throw invalidArgument('state', `must be one of ${JOB_STATES.join(', ')}, not ${quoted(request.state)}`);
    }
    if (request.limit < 0 || request.limit > MAX_LIMIT) throw invalidArgument('limit', `must be 0 to ${MAX_LIMIT}`);
    if (request.name !== '' && !JOB_NAME.test(request.name)) {
      throw invalidArgument('name', `must be a job name (lowercase letters, digits and ._-, starting with a letter), not ${quoted(request.name)}`);
    }
    const jobs = await this.queue.list({
      state: request.state === '' ? undefined : (request.state as JobState),
      name: request.name === '' ? undefined : request.name,
      limit: request.limit || DEFAULT_LIMIT,
    });
    return { jobs: jobs.map(jobToProto), queue: this.queue.kind };
  }

  async getJob(request: { jobId: string }) {
    const id = checkedJobId(request.jobId);
    return { job: jobToProto(found(await this.queue.get(id), id)) };
  }

  async retryJob(request: { jobId: string }) {
    const id = checkedJobId(request.jobId);
    return { job: jobToProto(found(await this.queue.retry(id), id)) };
  }
}

function found(job: JobRecord | undefined, id: string): JobRecord {
  if (job === undefined) throw new DomainError('job_not_found', `no job ${quoted(id)}`);
  return job;
}

function jobToProto(job: JobRecord): Job {
  return create(JobSchema, {
    jobId: job.id,
    name: job.name,
    payload: job.payload as JsonObject,
    state: job.state,
    attempts: job.attempts,
    maxAttempts: job.maxAttempts,
    lastError: job.lastError,
    runAt: timestamp(job.runAt),
    createdAt: timestamp(job.createdAt),
    finishedAt: timestamp(job.finishedAt),
  });
}
