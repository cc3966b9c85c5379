import type { Knex } from '@mikro-orm/knex';
import type { AuditRow, EventStore } from '../registry/event-feed.ts';
import { METADATA_OWNER_EVENT_TYPES, type EventFilter, FEED_EVENT_TYPES, type FeedEvent, isFeedEventType } from '../registry/events.ts';
import type { Database } from './orm.ts';
import { date, json, type Row } from './row-reader.ts';

/**
 * The event feed's reads of the audit trail, on SQLite or PostgreSQL. Every read walks audit_events by id from a
 * cursor (its primary key) and looks each event's agent up by name (agents' unique index), so no index beyond the
 * existing ones is needed. An agent event's owner is its agent's; a domain event's is in its metadata.
 */
export class SqlEventStore implements EventStore {
  private readonly knex: Knex;

  constructor(private readonly database: Database) {
    this.knex = database.orm.em.getKnex();
  }

  async rowsAfter(afterId: number, limit: number): Promise<AuditRow[]> {
    const inFeed = `e.event_type in (${FEED_EVENT_TYPES.map(() => '?').join(', ')})`;
    // Rows of other types (verifications can be many) come back as their id alone: the feed needs every id.
    const rows: Row[] = await this.knex('audit_events as e')
      .leftJoin('agents as a', (join) => join.on('a.name', 'e.agent_name').andOnIn('e.event_type', [...FEED_EVENT_TYPES]))
      .select(
        'e.id',
        'e.event_type',
        'e.actor',
        'e.agent_name',
        'e.created_at',
        'a.owner as agent_owner',
        this.knex.raw(`case when ${inFeed} then e.metadata end as metadata`, [...FEED_EVENT_TYPES]),
      )
      .where('e.id', '>', afterId)
      .orderBy('e.id')
      .limit(limit);
    return rows.map((row) => ({ id: Number(row['id']), event: isFeedEventType(String(row['event_type'])) ? toFeedEvent(row) : undefined }));
  }

  async newestRows(limit: number): Promise<{ id: number; createdAt: Date }[]> {
    const rows: Row[] = await this.knex('audit_events').select('id', 'created_at').orderBy('id', 'desc').limit(limit);
    return rows.map((row) => ({ id: Number(row['id']), createdAt: date(row['created_at']) }));
  }

  async events(filter: EventFilter, afterId: number, upToId: number, limit: number): Promise<FeedEvent[]> {
    const query = this.knex('audit_events as e')
      .leftJoin('agents as a', 'a.name', 'e.agent_name')
      .select('e.id', 'e.event_type', 'e.actor', 'e.agent_name', 'e.metadata', 'e.created_at', 'a.owner as agent_owner')
      .where('e.id', '>', afterId)
      .where('e.id', '<=', upToId)
      .whereIn('e.event_type', filter.eventTypes.length > 0 ? [...filter.eventTypes] : [...FEED_EVENT_TYPES])
      .orderBy('e.id')
      .limit(limit);
    if (filter.agentNames.length > 0) query.whereIn('e.agent_name', [...filter.agentNames]);
    const { owner } = filter;
    if (owner !== undefined) {
      query.where((byOwner) =>
        byOwner
          .where((domains) => domains.whereIn('e.event_type', [...METADATA_OWNER_EVENT_TYPES]).whereRaw(`${this.metadataOwner()} = ?`, [owner]))
          .orWhere((agents) => agents.whereNotIn('e.event_type', [...METADATA_OWNER_EVENT_TYPES]).where('a.owner', owner)),
      );
    }
    return ((await query) as Row[]).map(toFeedEvent);
  }

  async lastIssuedId(): Promise<number> {
    if (this.database.dialect === 'postgresql') {
      const result = (await this.knex.raw('select case when is_called then last_value else 0 end as id from audit_events_id_seq')) as { rows: Row[] };
      return Number(result.rows[0]?.['id'] ?? 0);
    }
    // AUTOINCREMENT keeps the largest id ever used here, deleted rows included.
    const row = (await this.knex('sqlite_sequence').where('name', 'audit_events').first('seq')) as Row | undefined;
    return Number(row?.['seq'] ?? 0);
  }

  private metadataOwner(): string {
    return this.database.dialect === 'postgresql' ? "e.metadata->>'owner'" : "json_extract(e.metadata, '$.owner')";
  }
}

function toFeedEvent(row: Row): FeedEvent {
  const eventType = String(row['event_type']);
  if (!isFeedEventType(eventType)) throw new Error(`audit event ${String(row['id'])}: ${eventType} is not in the feed`);
  const metadata = row['metadata'] == null ? {} : json<Record<string, unknown>>(row['metadata']);
  const owner = METADATA_OWNER_EVENT_TYPES.includes(eventType) ? metadata['owner'] : row['agent_owner'];
  return {
    id: Number(row['id']),
    eventType,
    agentName: String(row['agent_name']),
    owner: typeof owner === 'string' ? owner : '',
    actor: String(row['actor']),
    metadata,
    createdAt: date(row['created_at']),
  };
}
