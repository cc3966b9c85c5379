// Keeps a process's zone table in step with the published RRsets in the database, whichever process published
// them: reads the rows past the last serial it applied, after a local publication and every interval.
import type { Logger } from '../log/logger.ts';
import { Poller } from '../registry/poller.ts';
import type { DnsPublicationStore } from './publication-store.ts';
import type { ZoneChange } from './rrset.ts';

export interface ZoneTarget {
  apply(change: ZoneChange, serial: number): void;
}

const BATCH = 1000;

export class ZoneFeed {
  private readonly poller: Poller;
  private serial = 0;

  constructor(
    private readonly store: Pick<DnsPublicationStore, 'rrsetsAfter'>,
    private readonly target: ZoneTarget,
    private readonly logger: Logger,
    intervalMs = 250,
  ) {
    this.poller = new Poller(() => this.catchUp(), intervalMs);
  }

  /** Loads every published RRset, then follows changes. */
  async start(): Promise<void> {
    await this.poller.poll();
    this.poller.start();
  }

  stop(): Promise<void> {
    return this.poller.stop();
  }

  /** Reads now (a local publication wrote up to `serial`); resolves once the table holds it. */
  async reached(serial: number): Promise<void> {
    if (serial > this.serial) await this.poller.poll();
  }

  private async catchUp(): Promise<void> {
    try {
      for (;;) {
        const rows = await this.store.rrsetsAfter(this.serial, BATCH);
        for (const { serial, zone, rrset } of rows) {
          const change: ZoneChange =
            rrset.records === null ? { zone, upsert: [], remove: [{ ...rrset, records: [] }] } : { zone, upsert: [rrset], remove: [] };
          try {
            this.target.apply(change, serial);
          } catch (error) {
            // A row of a zone no longer served (DNS_ZONES changed) or data the server cannot carry: skipped, not
            // retried for ever.
            this.logger.warn({ err: error, name: rrset.name, type: rrset.type }, 'published DNS record not served');
          }
          this.serial = serial;
        }
        if (rows.length < BATCH) return;
      }
    } catch (error) {
      this.logger.warn({ err: error }, 'cannot read published DNS records');
    }
  }
}
