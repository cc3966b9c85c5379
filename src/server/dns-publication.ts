// DNS for a running registry, assembled from the settings: the publisher that keeps the provider in step with the
// database and, with the built-in server (DNS_PROVIDER=local), the zone table it answers from.
import type { Config } from '../config/schema.ts';
import { publicBaseUrl } from '../config/load.ts';
import { SqlDnsPublicationStore } from '../db/dns-store.ts';
import type { Database } from '../db/orm.ts';
import { createDnsProvider } from '../dns-providers/index.ts';
import { DnsPublisher } from '../dns/publisher.ts';
import type { DnsProvider } from '../dns/rrset.ts';
import { absoluteName, rdataPresentation } from '../dns/presentation.ts';
import { dnsStatusOf } from '../dns/status.ts';
import { zoneOf } from '../dns/zone.ts';
import { ZoneFeed } from '../dns/zone-feed.ts';
import { ZoneTable } from '../dns/zone-table.ts';
import type { Logger } from '../log/logger.ts';
import type { AgentRecord } from '../registry/records.ts';
import type { AgentStanding } from '../services/convert.ts';

export interface DnsPublication {
  readonly publisher: DnsPublisher;
  readonly provider: DnsProvider;
  readonly zones: readonly string[];
  /** The built-in server's zones; undefined with another provider. */
  readonly zoneTable: ZoneTable | undefined;
  /** How many agents DNS shows an older version of, or none (pending or failed). */
  behind(): Promise<number>;
  /** The agent's published records in presentation form, with its dns_status and zone. */
  records(agent: AgentRecord): Promise<AgentDnsRecords>;
  /** Each agent's dns_status. */
  standing(agents: readonly AgentRecord[]): Promise<ReadonlyMap<string, AgentStanding>>;
  close(): Promise<void>;
}

export interface AgentDnsRecords {
  readonly dnsStatus: string;
  readonly zone: string;
  readonly records: readonly { readonly name: string; readonly type: string; readonly ttl: number; readonly data: string }[];
}

/** The records are already in the database when a publication is recorded: the built-in server's zone table follows it. */
const localProvider: DnsProvider = { name: 'local', apply: async () => {} };

/** Undefined when DNS_ZONES is empty: the registry then publishes nothing. */
export async function createDnsPublication(
  config: Config,
  database: Database,
  agents: { findAgent(name: string): Promise<AgentRecord | undefined> },
  logger: Logger,
): Promise<DnsPublication | undefined> {
  if (config.dnsZones.length === 0) return undefined;
  const zones = config.dnsZones;
  const dnsLogger = logger.child({ component: 'dns' });
  const store = new SqlDnsPublicationStore(database);
  const provider = (config.dnsProvider ?? 'local') === 'local' ? localProvider : createDnsProvider(config, dnsLogger);
  const zoneTable = provider === localProvider ? new ZoneTable(zones) : undefined;
  const feed = zoneTable && new ZoneFeed(store, zoneTable, dnsLogger);
  await feed?.start();
  const publisher = new DnsPublisher({
    store,
    agents,
    provider,
    zones,
    ttl: config.dnsTtl,
    trustDomain: config.trustDomain,
    registryUrl: publicBaseUrl(config),
    logIndexes: config.transparencyLogEnabled,
    logger: dnsLogger,
    // This process serves its own publications at once; the feed brings other processes' within its interval.
    onPublished: (serial) => void feed?.reached(serial),
  });
  publisher.start();
  return {
    publisher,
    provider,
    zones,
    zoneTable,
    behind: () => store.behindCount(),
    async records(agent) {
      const [publications, rrsets] = await Promise.all([store.publications([agent.name]), store.publishedRRsets(agent.name)]);
      return {
        dnsStatus: dnsStatusOf(agent, publications.get(agent.name), zones),
        zone: zoneOf(agent.name, zones) ?? '',
        records: rrsets.flatMap((rrset) =>
          rrset.records.map((data) => ({ name: absoluteName(rrset.name), type: rrset.type, ttl: rrset.ttl, data: rdataPresentation(rrset.type, data) })),
        ),
      };
    },
    async standing(list) {
      const publications = await store.publications(list.map((agent) => agent.name));
      return new Map(list.map((agent) => [agent.name, { dnsStatus: dnsStatusOf(agent, publications.get(agent.name), zones) }]));
    },
    async close() {
      await publisher.stop();
      await feed?.stop();
      await provider.close?.();
    },
  };
}
