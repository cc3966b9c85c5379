import { ResolveService } from '../../gen/atr/v1/resolve_pb.js';
import { GetAgentDnsRecordsResponseSchema, RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { loadConfig } from '../config/load.ts';
import { dnssecKeyDir, existingZoneKey, ALGORITHM_ECDSAP256SHA256 } from '../dns/dnssec.ts';
import { tlsaPorts } from '../dns/records.ts';
import { canonicalName } from '../dns/zone.ts';
import { type Invocation, type OptionValues, UsageError, errorLine, flagOption, listOption, soleArgument, stringOption } from './command.ts';
import { type Check, compareWithDns, mismatchLine } from './dns-lookup.ts';

export async function records(invocation: Invocation): Promise<number> {
  const { out } = invocation;
  const response = await invocation.client(RegistryService).getAgentDnsRecords({ agentName: soleArgument(invocation) });
  if (out.json) {
    out.message(GetAgentDnsRecordsResponseSchema, response);
    return 0;
  }
  out.fields([
    ['name', response.agentName],
    ['dns status', response.dnsStatus],
    ['zone', response.zone || '(none: the name lies in no zone of DNS_ZONES)'],
  ]);
  out.line();
  if (response.records.length === 0) out.line('no records published');
  for (const record of response.records) out.line(`${record.name} ${record.ttl} IN ${record.type} ${record.data}`);
  return 0;
}

export async function ds({ values, out }: Invocation): Promise<number> {
  const config = loadConfig();
  const zones = selectedZones(config.dnsZones, stringOption(values, 'zone'));
  const keyDir = dnssecKeyDir(config.pkiRootDir);
  const found = zones.map((zone) => ({ zone, key: existingZoneKey(keyDir, zone) }));
  const shown = found.flatMap(({ zone, key }) => (key === undefined ? [] : [{ zone, key, dnskey: dnskeyLine(zone, key.dnskey) }]));
  if (out.json) {
    const zonesJson = shown.map(({ zone, key, dnskey }) => ({ zone, key_tag: key.keyTag, algorithm: ALGORITHM_ECDSAP256SHA256, digest_type: 2, ds: key.ds, dnskey }));
    out.line(JSON.stringify({ zones: zonesJson }, null, 2));
  } else {
    for (const [i, { zone, key, dnskey }] of shown.entries()) {
      if (i > 0) out.line();
      out.line(`; ${zone}: key tag ${key.keyTag}, algorithm ${ALGORITHM_ECDSAP256SHA256} (ECDSAP256SHA256); give the DS to the parent zone`);
      out.line(key.ds);
      out.line(dnskey);
    }
  }
  // Nothing is created here: a key made by this command would not be the one the server signs with.
  const missing = found.filter(({ key }) => key === undefined);
  for (const { zone } of missing) errorLine(`${zone}: no key yet: start the server with DNSSEC_ENABLED=true first (keys live in ${keyDir})`);
  return missing.length === 0 ? 0 : 1;
}

/** The zones asked for: every DNS_ZONES zone, or the one --zone names, which must be one of them. */
function selectedZones(configured: readonly string[], option: string | undefined): readonly string[] {
  if (configured.length === 0) throw new Error('DNS_ZONES is empty: the registry publishes no zone, so there is no DS record');
  if (option === undefined) return configured;
  const zone = canonicalName(option);
  if (!configured.includes(zone)) throw new UsageError(`--zone ${option} is not one of DNS_ZONES (${configured.join(', ')})`);
  return [zone];
}

function dnskeyLine(zone: string, dnskey: { ttl?: number; data: { flags: number; algorithm: number; key: Buffer } }): string {
  return `${zone}. ${dnskey.ttl ?? 3600} IN DNSKEY ${dnskey.data.flags} 3 ${dnskey.data.algorithm} ${dnskey.data.key.toString('base64')}`;
}

export async function lookup(invocation: Invocation): Promise<number> {
  const { values, out } = invocation;
  const resolvers = resolverOption(values);
  const requested = portOption(values);
  const agent = await invocation.client(ResolveService).resolveAgent({ agentName: canonicalName(soleArgument(invocation)), source: 'registry' });
  const ports = requested ?? tlsaPorts(agent.endpoints);
  const checks = await compareWithDns(agent, ports, resolvers);
  const mismatches = checks.filter((item) => !item.ok);
  const unvalidated = flagOption(values, 'require-dnssec') ? checks.filter((item) => !item.validated) : [];
  const ok = mismatches.length === 0 && unvalidated.length === 0;
  if (out.json) {
    out.line(JSON.stringify({ agent_name: agent.agentName, result: ok ? 'OK' : 'MISMATCH', checks: checks.map(checkJson) }, null, 2));
    return ok ? 0 : 1;
  }
  out.fields([
    ['agent', agent.agentName],
    ['resolver', [...new Set(checks.map((item) => item.resolver))].join(', ')],
    ['registry', invocation.server],
  ]);
  out.line();
  out.table(
    ['CHECK', 'DNS', 'REGISTRY', 'RESULT', 'DNSSEC (AD)'],
    checks.map((item) => [item.check, item.dns, item.registry, item.ok ? 'ok' : 'MISMATCH', item.validated ? 'validated' : 'not validated']),
  );
  out.line();
  for (const item of mismatches) out.line(mismatchLine(item));
  for (const item of unvalidated) out.line(`NOT VALIDATED: ${item.owner} ${item.check.split(' ')[0]}: the resolver did not validate it with DNSSEC (--require-dnssec)`);
  if (ok) out.line(`OK: DNS agrees with the registry${checks.every((item) => item.validated) ? ', every answer DNSSEC-validated' : ' (answers not DNSSEC-validated by the resolver)'}`);
  return ok ? 0 : 1;
}

function checkJson(item: Check): Record<string, unknown> {
  return { check: item.check, name: item.owner, dns: item.dns, registry: item.registry, ok: item.ok, dnssec_validated: item.validated, resolver: item.resolver };
}

const HOST_PORT = /^(?:\[[0-9a-fA-F:.]+\]|[^\s:[\]]+)(?::(\d{1,5}))?$/;

function resolverOption(values: OptionValues): string[] {
  const given = listOption(values, 'resolver') ?? [];
  for (const resolver of given) {
    const port = HOST_PORT.exec(resolver)?.[1];
    if (!HOST_PORT.test(resolver) || (port !== undefined && (Number(port) < 1 || Number(port) > 65535))) {
      throw new UsageError(`--resolver must be host:port, [v6]:port or host, not ${JSON.stringify(resolver)}`);
    }
  }
  return given;
}

function portOption(values: OptionValues): number[] | undefined {
  const given = listOption(values, 'port');
  if (given === undefined) return undefined;
  return given.map((raw) => {
    if (!/^\d{1,5}$/.test(raw) || Number(raw) < 1 || Number(raw) > 65535) throw new UsageError(`--port must be a port number 1-65535, not ${JSON.stringify(raw)}`);
    return Number(raw);
  });
}

