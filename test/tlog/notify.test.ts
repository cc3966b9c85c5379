// A group commit ends with every change in it telling the log that entries were sequenced: the log integrates them
// soon after, once for the whole group rather than once per change.
import { generateKeyPairSync } from 'node:crypto';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { SqlTlogStore, sequenceLogEntries } from '../../src/db/tlog-store.ts';
import { writeTransaction } from '../../src/db/write-transaction.ts';
import { TransparencyLog } from '../../src/tlog/log.ts';
import { createNoteSigner } from '../../src/tlog/note.ts';
import { newLogEntry } from '../../src/tlog/entry.ts';
import { dialects, openedTestDatabase } from '../support/databases.ts';

describe.each(dialects)('notifying the log on %s', (dialect) => {
  const opened = openedTestDatabase(dialect);

  it('integrates what 32 changes sequenced in one integration, started on the next turn', async () => {
    const store = new SqlTlogStore(opened.database);
    let integrations = 0;
    const counted = Object.assign(Object.create(store) as SqlTlogStore, {
      integrate: (...args: Parameters<SqlTlogStore['integrate']>) => {
        integrations++;
        return store.integrate(...args);
      },
    });
    const origin = 'notify.example/log';
    const signer = createNoteSigner(origin, generateKeyPairSync('ed25519').privateKey);
    const log = new TransparencyLog({ store: counted, origin, signer, checkpointIntervalMs: 60_000 });
    const at = new Date();
    const entries = Array.from({ length: 32 }, (_, i) =>
      newLogEntry({
        event_type: 'agent.registered',
        agent_name: `n${i}.notify.example`,
        cert_fingerprint: 'ab',
        cert_serial: '01',
        status: 'active',
        reason: '',
        timestamp: at.toISOString(),
        actor: 'test',
      }),
    );
    await writeTransaction(opened.database, (_em, trx) => sequenceLogEntries(trx, opened.database.dialect, entries, at));
    for (let i = 0; i < entries.length; i++) log.notify();
    expect(integrations).toBe(0);
    await nextTurn();
    expect(integrations).toBe(1);
    await sleep(200);
    expect(integrations).toBe(1);
    expect((await store.state()).integratedSize).toBe(32);
    await log.stop();
  });
});
