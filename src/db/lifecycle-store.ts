import type { Knex } from '@mikro-orm/knex';
import type { LifecycleCandidate, LifecycleKind, LifecycleStore } from '../jobs/lifecycle.ts';
import type { JournalTx } from '../registry/journal.ts';
import type { Database } from './orm.ts';
import { insertAudit } from './registry-store.ts';
import { date, type Row } from './row-reader.ts';
import { sequenceLogEntries } from './tlog-store.ts';
import { scannedRows } from './sqlite-scans.ts';
import { writeTransaction } from './write-transaction.ts';

/**
 * Certificates issued in transactions still open when the longest validity was last read may get ids below the
 * highest id it saw: each reading goes back this many ids (a batch of registrations is at most 200 a process).
 */
const IDS_IN_FLIGHT = 10_000;

/** Lifecycle points of current certificates on SQLite or PostgreSQL; the same SQL serves both (dates subtract and scale on each). */
export class SqlLifecycleStore implements LifecycleStore {
  private readonly knex: Knex;
  /**
   * The longest validity (not_after - not_before, ms) of any certificate read so far, and the highest id read: a
   * certificate due for renewal expires within (1 - renewAt) of its validity, so the search for due ones stops at
   * not_after <= now + (1 - renewAt) * longest instead of walking every current certificate past now. Each search
   * first reads the certificates stored since, so one issued by any process (with any validity) is counted.
   */
  private longest = { validityMs: 0, upToId: 0 };

  constructor(private readonly database: Database) {
    this.knex = database.orm.em.getKnex();
  }

  async due(kind: LifecycleKind, now: Date, renewAt: number, limit: number): Promise<LifecycleCandidate[]> {
    const current = (query: Knex.QueryBuilder) =>
      query
        .leftJoin('lifecycle_marks as m', (on) => on.on('m.cert_fingerprint', 'c.fingerprint').andOn('m.kind', this.knex.raw('?', [kind])))
        .where('a.status', 'active')
        .whereNull('m.cert_fingerprint')
        .orderBy('c.not_after')
        .limit(limit)
        .select('a.name', 'c.fingerprint', 'c.serial', 'c.not_before', 'c.not_after');
    let query: Knex.QueryBuilder;
    if (kind === 'expired') {
      // Every active agent's current certificate that lapsed (from the agents: certificates that lapsed long ago,
      // superseded or retired, are many more).
      query = current(this.knex('agents as a').join('certificates as c', (on) => on.on('c.id', 'a.current_certificate_id').andOn('c.agent_id', 'a.id')));
      query.where('c.not_after', '<=', now);
    } else {
      // A certificate past its renewal point expires within (1 - renewAt) of its validity: only those expiring before
      // this horizon are looked at, from the index on not_after (the cross join keeps SQLite from starting at the
      // active agents, all of them, and sorting). One millisecond over, for the rounding of the product.
      const horizon = new Date(now.getTime() + Math.ceil((1 - renewAt) * (await this.longestValidityMs())) + 1);
      query = current(this.knex('certificates as c').crossJoin(this.knex.raw('?? as ??', ['agents', 'a'])).whereRaw('c.id = a.current_certificate_id and c.agent_id = a.id'));
      query
        .where('c.not_after', '>', now)
        .where('c.not_after', '<=', horizon)
        .whereRaw('c.not_before + (c.not_after - c.not_before) * ? <= ?', [renewAt, now]);
    }
    return (await scannedRows(this.database.scans, query)).map((row) => ({
      agentName: String(row['name']),
      fingerprint: String(row['fingerprint']),
      serial: String(row['serial']),
      notBefore: date(row['not_before']),
      notAfter: date(row['not_after']),
    }));
  }

  /** The longest validity of any certificate stored, reading only those stored since the last call (all at the first). */
  private async longestValidityMs(): Promise<number> {
    const validity = this.database.dialect === 'postgresql' ? 'extract(epoch from max(not_after - not_before)) * 1000' : 'max(not_after - not_before)';
    const query = this.knex('certificates')
      .where('id', '>', Math.max(0, this.longest.upToId - IDS_IN_FLIGHT))
      .select(this.knex.raw('max(id) as top'), this.knex.raw(`${validity} as longest`));
    const [row] = await scannedRows(this.database.scans, query);
    const top = Number(row?.['top'] ?? 0);
    const longest = Number(row?.['longest'] ?? 0);
    this.longest = { validityMs: Math.max(this.longest.validityMs, longest), upToId: Math.max(this.longest.upToId, top) };
    return this.longest.validityMs;
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
