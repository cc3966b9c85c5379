import type { JobFilter, JobPayload, JobRecord } from './queue.ts';

export interface NewJob {
  readonly id: string;
  readonly name: string;
  readonly payload: JobPayload;
  readonly maxAttempts: number;
  readonly runAt: Date;
}

/** A job a worker holds until `leaseUntil`; past it, another worker may take it (its worker died). */
export interface ClaimedJob extends JobRecord {
  readonly leaseUntil: Date;
}

/** Where the database queue keeps its jobs; every method is one statement, safe between processes. */
export interface JobStore {
  /** Adds the job unless one with its id is kept; says whether it was added. */
  insert(job: NewJob, now: Date): Promise<boolean>;
  /** Takes one due job of these names for `worker`, counting an attempt: waiting or delayed and due, or held past its lease. */
  claim(names: readonly string[], worker: string, now: Date, leaseUntil: Date): Promise<ClaimedJob | undefined>;
  /** Holds the job longer; false when the worker no longer holds it. */
  extend(id: string, worker: string, leaseUntil: Date): Promise<boolean>;
  complete(id: string, worker: string, now: Date): Promise<void>;
  /** After a failed attempt: back to the queue at `retryAt`, or failed for good when it is undefined. */
  fail(id: string, worker: string, error: string, retryAt: Date | undefined, now: Date): Promise<void>;
  list(filter: JobFilter): Promise<JobRecord[]>;
  get(id: string): Promise<JobRecord | undefined>;
  /** A failed job back to waiting with its attempts reset. */
  retry(id: string, now: Date): Promise<JobRecord | undefined>;
  /** Forgets completed jobs finished before `before` (their ids may then be enqueued again). */
  pruneCompleted(before: Date): Promise<number>;
}
