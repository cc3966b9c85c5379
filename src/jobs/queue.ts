// Background work, as the domain sees it: named jobs with JSON payloads, enqueued under an id that makes enqueueing
// idempotent, run by workers with retries and exponential backoff, and kept as failed (the dead letter) once their
// attempts are spent. Two implementations: BullMQ on Redis (src/queues/bullmq-queue.ts) and the database
// (src/jobs/database-queue.ts), so the embedded default keeps its jobs across a restart.

export type JobState = 'waiting' | 'delayed' | 'active' | 'completed' | 'failed';
export const JOB_STATES: readonly JobState[] = ['waiting', 'delayed', 'active', 'completed', 'failed'];

export type JobPayload = Readonly<Record<string, unknown>>;

export interface JobOptions {
  /** Jobs with the same id are one job: enqueueing it again while it is kept changes nothing. */
  readonly jobId: string;
  /** Run no earlier than this many milliseconds from now. */
  readonly delayMs?: number;
  /** Attempts before the job is failed for good; default DEFAULT_ATTEMPTS. */
  readonly attempts?: number;
}

export interface JobRecord {
  readonly id: string;
  readonly name: string;
  readonly payload: JobPayload;
  readonly state: JobState;
  /** Attempts made so far. */
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly lastError: string;
  readonly runAt: Date;
  readonly createdAt: Date;
  readonly finishedAt: Date | undefined;
}

/** What a handler knows of the job it runs. */
export interface RunningJob {
  readonly id: string;
  /** 1 on the first attempt. */
  readonly attempt: number;
}

export type JobHandler = (payload: JobPayload, job: RunningJob) => Promise<void>;

export interface JobFilter {
  readonly state?: JobState | undefined;
  readonly name?: string | undefined;
  readonly limit: number;
}

export interface JobQueue {
  /** Which implementation: 'redis' (BullMQ) or 'database'. */
  readonly kind: 'redis' | 'database';
  enqueue(name: string, payload: JobPayload, options: JobOptions): Promise<void>;
  /** Runs jobs of this name in this process from now on, `concurrency` at a time. */
  work(name: string, handler: JobHandler, concurrency?: number): void;
  list(filter: JobFilter): Promise<JobRecord[]>;
  get(id: string): Promise<JobRecord | undefined>;
  /** Puts a failed job back in the queue with fresh attempts; undefined when there is no such job. */
  retry(id: string): Promise<JobRecord | undefined>;
  close(): Promise<void>;
}

export const DEFAULT_ATTEMPTS = 5;
const BASE_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 5 * 60_000;

/** Milliseconds to wait before attempt `attempt + 1`: 1 s, 2 s, 4 s ... capped at 5 min (BullMQ's exponential). */
export function backoffMs(attempt: number): number {
  return Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** Math.max(0, attempt - 1));
}
