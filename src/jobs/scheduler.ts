// Periodic jobs across any number of processes: every process that runs workers also schedules, and each enqueues
// a periodic job under an id named after its time slot (`lifecycle.sweep@29771520`; BullMQ refuses a single `:` in
// an id), so of all the processes that
// schedule a slot, one job runs — never the same job twice, and still one when a process is down.
import type { Logger } from '../log/logger.ts';
import type { JobQueue } from './queue.ts';

export interface PeriodicJob {
  readonly name: string;
  readonly everyMs: number;
}

export class Scheduler {
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly queue: JobQueue,
    private readonly jobs: readonly PeriodicJob[],
    private readonly logger?: Logger,
  ) {}

  start(): void {
    for (const job of this.jobs) {
      void this.schedule(job);
      this.timers.push(setInterval(() => void this.schedule(job), Math.min(job.everyMs, 10_000)));
    }
  }

  stop(): void {
    for (const timer of this.timers) clearInterval(timer);
  }

  /** Enqueues the job of the current slot; a slot already enqueued (here or by another process) is left as it is. */
  private async schedule({ name, everyMs }: PeriodicJob): Promise<void> {
    const slot = Math.floor(Date.now() / everyMs);
    await this.queue.enqueue(name, { slot }, { jobId: `${name}@${slot}`, attempts: 1 }).catch((error: unknown) => {
      this.logger?.warn({ err: error, job: name }, 'scheduler: cannot enqueue a periodic job; trying again');
    });
  }
}
