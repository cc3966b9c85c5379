// A worker process of atr bench seed: takes the CA settings and the plan in its first message (not in its arguments,
// which any local user can read, since they carry the CA passphrase), then builds the batches its parent asks for.
// A process rather than a worker thread: on Node 20 a worker thread does not inherit the module hooks that run the
// sources through tsx, and a forked process does.
import type { CertificateAuthority, CaOptions } from '../pki/ca.ts';
import { loadOrCreateCa } from '../pki/ca.ts';
import { buildSeedBatch, type SeedPlan } from './seed-batch.ts';

type Message = { setup: { caOptions: CaOptions; plan: SeedPlan } } | { from: number; count: number; at: Date };

let ready: Promise<{ ca: CertificateAuthority; plan: SeedPlan }> | undefined;
// One batch at a time, answered in the order asked: the parent matches answers to requests by that order.
let previous: Promise<unknown> = Promise.resolve();
process.on('message', (message: Message) => {
  if ('setup' in message) {
    const { caOptions, plan } = message.setup;
    // Advanced serialization brings the key's Buffer back as a plain Uint8Array.
    ready = loadOrCreateCa(caOptions).then((ca) => ({ ca, plan: { ...plan, key: { ...plan.key, publicKey: Buffer.from(plan.key.publicKey) } } }));
    return;
  }
  previous = previous.then(async () => {
    try {
      const { ca, plan } = await (ready ?? Promise.reject(new Error('no setup message came first')));
      process.send?.({ batch: await buildSeedBatch(ca, plan, message.from, message.count, message.at) });
    } catch (error) {
      process.send?.({ error: error instanceof Error ? error.message : String(error) });
    }
  });
});
// The parent disconnects when it is done (or gone): nothing is left to do.
process.on('disconnect', () => process.exit(0));
