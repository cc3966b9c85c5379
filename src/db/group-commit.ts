/**
 * Writes items in batches: every caller waits until its own item is committed, and items that arrive while a
 * batch is being written go together into the next one. One statement and one commit then serve many callers
 * (the verification audit trail writes one row per verification).
 */
export class GroupCommit<T> {
  private pending: { item: T; done: (error?: unknown) => void }[] = [];
  private draining = false;

  constructor(
    private readonly write: (items: T[]) => Promise<void>,
    private readonly maxBatch = 500,
  ) {}

  add(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ item, done: (error) => (error === undefined ? resolve() : reject(error)) });
      if (!this.draining) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.draining = true;
    // Let the callers that are already running add their items before the first batch goes out.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, this.maxBatch);
      try {
        await this.write(batch.map((entry) => entry.item));
        for (const entry of batch) entry.done();
      } catch (error) {
        for (const entry of batch) entry.done(error ?? new Error('batch write failed'));
      }
    }
    this.draining = false;
  }
}
