// The limit of the "register with CSR" row: what one registration costs in this process with no transport and no
// concurrency, as the performance issue defines it: the CSR checked, the certificate signed, and one database
// transaction writing what a registration writes (the agent, its certificate, the audit event and the log leaf,
// sequenced under the log's sequencer row), on the registry's own database.
import type { CertificateAuthority } from '../../src/pki/ca.ts';
import { parseCsr } from '../../src/pki/csr.ts';
import { issueAgentCertificate } from '../../src/pki/issue.ts';
import { openDatabase } from '../../src/db/orm.ts';
import { sequenceLogEntries } from '../../src/db/tlog-store.ts';
import { writeTransaction } from '../../src/db/write-transaction.ts';
import { newLogEntry } from '../../src/tlog/entry.ts';

/** Opens the database at `databaseUrl`; `register(name, csrPem)` then does one raw registration, `close` ends. */
export async function rawRegistration(databaseUrl: string, ca: CertificateAuthority) {
  const database = await openDatabase(databaseUrl);
  return {
    async register(agentName: string, csrPem: string): Promise<void> {
      const key = await parseCsr(csrPem);
      const now = new Date();
      const certificate = await issueAgentCertificate(ca, { agentName, key, validityDays: 30, now });
      await writeTransaction(database, async (_em, trx) => {
        const capabilities = JSON.stringify(['bench']);
        const [agent] = await trx('agents')
          .insert({ name: agentName, owner: 'bench', capabilities, description: '', endpoints: '[]', status: 'active', version: 1, created_at: now, updated_at: now })
          .returning('id');
        const agentId = Number((agent as { id: number }).id);
        const { serial, fingerprint, pem, notBefore, notAfter } = certificate;
        const [stored] = await trx('certificates')
          .insert({ agent_id: agentId, serial, fingerprint, pem, not_before: notBefore, not_after: notAfter, created_at: now })
          .returning('id');
        await trx('agents').where('id', agentId).update({ current_certificate_id: Number((stored as { id: number }).id) });
        const metadata = JSON.stringify({ owner: 'bench', capabilities: ['bench'], fingerprint, serial, key_source: 'csr', key_algorithm: key.algorithm });
        await trx('audit_events').insert({ event_type: 'agent.registered', actor: 'bench', agent_name: agentName, metadata, created_at: now });
        const leaf = { event_type: 'agent.registered', agent_name: agentName, cert_fingerprint: fingerprint, cert_serial: serial, status: 'active', reason: '', timestamp: now.toISOString(), actor: 'bench' };
        await sequenceLogEntries(trx, database.dialect, [newLogEntry(leaf)], now);
      });
    },
    close: () => database.close(),
  };
}
