import { describe, expect, it } from 'vitest';
import { AuditEventSchema } from '../../src/db/entities.ts';
import { writeTransaction } from '../../src/db/write-transaction.ts';
import type { NewAuditEvent } from '../../src/registry/records.ts';
import { dialects, openedTestDatabase } from '../support/databases.ts';

// The stores write inside a write transaction both through the query builder's transaction and through the entity
// manager they are given (em.insert, em.nativeUpdate): the two must be one transaction, committed or rolled back
// together.
describe.each(dialects)('a write transaction on %s', (dialect) => {
  const opened = openedTestDatabase(dialect);

  const event = (actor: string): NewAuditEvent & { createdAt: Date } => ({ eventType: 'agent.updated', actor, agentName: 'tx.example', metadata: {}, createdAt: new Date() });
  const actors = async () =>
    ((await opened.database.orm.em.getKnex()('audit_events').where('agent_name', 'tx.example').orderBy('id').select('actor')) as { actor: string }[]).map((row) => row.actor);

  it("commits the entity manager's writes with the query builder's", async () => {
    const value = await writeTransaction(opened.database, async (em, trx) => {
      await em.insert(AuditEventSchema, event('through-em'));
      await trx('audit_events').insert({ event_type: 'agent.updated', actor: 'through-trx', agent_name: 'tx.example', metadata: '{}', created_at: new Date() });
      // Both writes are visible inside the transaction before it commits.
      expect(await trx('audit_events').where('agent_name', 'tx.example').count({ n: '*' }).first()).toEqual({ n: dialect === 'postgresql' ? '2' : 2 });
      return 'done';
    });
    expect(value).toBe('done');
    expect(await actors()).toEqual(['through-em', 'through-trx']);
  });

  it("rolls the entity manager's writes back with the query builder's when the work throws", async () => {
    await expect(
      writeTransaction(opened.database, async (em, trx) => {
        await em.insert(AuditEventSchema, event('rolled-back-em'));
        await trx('audit_events').insert({ event_type: 'agent.updated', actor: 'rolled-back-trx', agent_name: 'tx.example', metadata: '{}', created_at: new Date() });
        throw new Error('the work failed');
      }),
    ).rejects.toThrow('the work failed');
    expect(await actors()).toEqual(['through-em', 'through-trx']);
  });
});
