/**
 * Runs `work` every `intervalMs` and whenever asked. A run in flight may have read before the caller's change
 * committed, so a request made meanwhile queues one more run after it: at most one runs and one waits. The timer
 * never keeps the process alive; `work` must not throw (it reports its own failures).
 */
export class Poller {
  private readonly stopped = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;

  constructor(
    private readonly work: () => Promise<void>,
    private readonly intervalMs: number,
  ) {}

  get isStopped(): boolean {
    return this.stopped.signal.aborted;
  }

  start(): void {
    if (this.timer || this.isStopped) return;
    const tick = () => {
      void this.poll().finally(() => {
        if (this.isStopped) return;
        this.timer = setTimeout(tick, this.intervalMs);
        this.timer.unref();
      });
    };
    tick();
  }

  /** Stops the timer and waits for the run in flight and the one queued. */
  async stop(): Promise<void> {
    this.stopped.abort();
    clearTimeout(this.timer);
    await this.queued;
    await this.running;
  }

  poll(): Promise<void> {
    if (this.running === undefined) {
      this.running = this.work().finally(() => {
        this.running = undefined;
      });
      return this.running;
    }
    this.queued ??= this.running.then(() => {
      this.queued = undefined;
      return this.isStopped ? undefined : this.poll();
    });
    return this.queued;
  }
}
