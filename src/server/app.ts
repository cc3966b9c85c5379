import { publicBaseUrl } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { openDatabase } from '../db/orm.ts';
import { SqlRegistryStore } from '../db/registry-store.ts';
import { type CertificateAuthority, loadOrCreateCa } from '../pki/ca.ts';
import { Registry } from '../registry/registry.ts';
import { RevocationList } from '../registry/revocation-list.ts';
import type { RegistryStore } from '../registry/store.ts';
import { Verifier } from '../verify/verify.ts';

/** Everything a running registry holds, independent of the listeners in front of it. */
export interface App {
  readonly config: Config;
  readonly ca: CertificateAuthority;
  readonly store: RegistryStore;
  readonly registry: Registry;
  readonly verifier: Verifier;
  readonly revocationList: RevocationList;
  readiness(): Promise<{ ready: boolean; checks: Record<string, string> }>;
  close(): Promise<void>;
}

export async function createApp(config: Config): Promise<App> {
  const ca = await loadOrCreateCa({
    dir: config.pkiRootDir,
    passphrase: config.caKeyPassphrase,
    validityDays: config.caValidityDays,
    trustDomain: config.trustDomain,
    crlUrl: `${publicBaseUrl(config)}/v1/crl`,
  });
  const store = await SqlRegistryStore.open(await openDatabase(config.databaseUrl));
  const revocationList = new RevocationList(store, ca);
  const registry = new Registry({
    store,
    ca,
    certValidityDays: config.certValidityDays,
    onCertificatesChanged: () => revocationList.invalidate(),
  });
  return {
    config,
    ca,
    store,
    registry,
    verifier: new Verifier({ ca, store }),
    revocationList,
    async readiness() {
      try {
        await store.ping();
        return { ready: true, checks: { database: 'ok' } };
      } catch {
        return { ready: false, checks: { database: 'unreachable' } };
      }
    },
    close: () => store.close(),
  };
}
