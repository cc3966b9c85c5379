import { randomBytes } from 'node:crypto';
import { type Logger, silentLogger } from '../log/logger.ts';
import { Poller } from '../registry/poller.ts';
import type { Domains } from './domains.ts';

export interface RevalidationOptions {
  readonly domains: Domains;
  /** How often to look for domains whose re-check is due (each domain's own period is DOMAIN_REVALIDATION_DAYS). */
  readonly intervalMs: number;
  readonly logger?: Logger;
}

/**
 * Re-validates verified domains in the background: one run at a time in this process, each domain claimed in the
 * database before it is checked so that processes sharing the database never check one domain together.
 */
export class DomainRevalidation {
  // Names this process in the claims it takes.
  private readonly worker = `revalidation:${randomBytes(6).toString('hex')}`;
  private readonly poller: Poller;

  constructor(private readonly options: RevalidationOptions) {
    this.poller = new Poller(() => this.run(), options.intervalMs);
  }

  start(): void {
    this.poller.start();
  }

  stop(): Promise<void> {
    return this.poller.stop();
  }

  /** One pass now (also what the timer runs); resolves once every due domain was checked. */
  runNow(): Promise<void> {
    return this.poller.poll();
  }

  private async run(): Promise<void> {
    try {
      const checked = await this.options.domains.revalidateDue(this.worker);
      if (checked > 0) (this.options.logger ?? silentLogger).info({ checked }, 'domains re-validated');
    } catch (error) {
      (this.options.logger ?? silentLogger).error({ err: error }, 'cannot re-validate domains');
    }
  }
}
