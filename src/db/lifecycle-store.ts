import type { Knex } from '@mikro-orm/knex';
import type { LifecycleCandidate, LifecycleKind, LifecycleStore } from '../jobs/lifecycle.ts';
import type { JournalTx } from '../registry/journal.ts';
import type { Database } from './orm.ts';
import { insertAudit } from './registry-store.ts';
import { date, type Row } from './row-reader.ts';
import { sequenceLogEntries } from './tlog-store.ts';
import { scannedRows } from './sqlite-scans.ts';
import { writeTransaction } from './write-transaction.ts';

/** Lifecycle points of current certificates on SQLite or PostgreSQL; the same SQL serves both (dates subtract and scale on each). */
export class SqlLifecycleStore implements LifecycleStore {
  private readonly knex: Knex;

  constructor(private readonly database: Database) {
    this.knex = database.orm.em.getKnex();
  }

  async due(kind: LifecycleKind, now: Date, renewAt: number, limit: number): Promise<LifecycleCandidate[]> {
    const query = this.knex('agents as a')
      .join('certificates as c', (on) => on.on('c.id', 'a.current_certificate_id').andOn('c.agent_id', 'a.id'))
      .leftJoin('lifecycle_marks as m', (on) => on.on('m.cert_fingerprint', 'c.fingerprint').andOn('m.kind', this.knex.raw('?', [kind])))
      .where('a.status', 'active')
      .whereNull('m.cert_fingerprint')
      .orderBy('c.not_after')
      .limit(limit)
      .select('a.name', 'c.fingerprint', 'c.serial', 'c.not_before', 'c.not_after');
    if (kind === 'expired') query.where('c.not_after', '<=', now);
    else query.where('c.not_after', '>', now).whereRaw('c.not_before + (c.not_after - c.not_before) * ? <= ?', [renewAt, now]);
    // With nothing due this walks every current certificate past `now` (about a second at 10^6 on SQLite).
    return (await scannedRows(this.database.scans, query)).map((row) => ({
      agentName: String(row['name']),
      fingerprint: String(row['fingerprint']),
      serial: String(row['serial']),
      notBefore: date(row['not_before']),
      notAfter: date(row['not_after']),
    }));
  }

  mark(
    candidates: readonly LifecycleCandidate[],
    kind: LifecycleKind,
    now: Date,
    record: (tx: JournalTx, candidate: LifecycleCandidate) => Promise<unknown>,
  ): Promise<LifecycleCandidate[]> {
    return writeTransaction(this.database, async (em, trx) => {
      const tx: JournalTx = {
        appendAudit: (event, at) => insertAudit(em, event, at),
        appendLogEntry: (entry, at) => sequenceLogEntries(trx, this.database.dialect, [entry], at),
      };
      const recorded: LifecycleCandidate[] = [];
      for (const candidate of candidates) {
        const inserted = (await trx('lifecycle_marks')
          .insert({ cert_fingerprint: candidate.fingerprint, kind, agent_name: candidate.agentName, created_at: now })
          .onConflict(['cert_fingerprint', 'kind'])
          .ignore()
          .returning('kind')) as unknown[];
        if (inserted.length === 0) continue;
        await record(tx, candidate);
        recorded.push(candidate);
      }
      return recorded;
    });
  }
}
