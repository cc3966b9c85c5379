import { X509Certificate } from 'node:crypto';
import type { DescMethod, DescService } from '@bufbuild/protobuf';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { TransparencyLogService } from '../../gen/atr/v1/transparency_log_pb.js';
import type { Dialect } from '../../src/config/database-url.ts';
import { AUDIT_EVENT_TYPES } from '../../src/registry/fields.ts';
import { signToken } from '../../src/sdk/token.ts';
import type { App } from '../../src/server/app.ts';
import { apiServices } from '../../src/server/routes.ts';
import { keyAndCsr } from '../support/keys.ts';
import { runningServer } from '../support/server.ts';

/** Valid values of the running registry, for requests that are right before they are mutated. */
export interface Valid {
  readonly agentNames: readonly string[];
  readonly owners: readonly string[];
  readonly capabilities: readonly string[];
  readonly csrPem: string;
  readonly csrDer: Uint8Array;
  readonly certPem: string;
  readonly certDer: Uint8Array;
  readonly token: string;
  readonly audience: string;
  readonly pageTokens: readonly string[];
  readonly leafHash: string;
  readonly endpoints: readonly string[];
}

/** A running server with a few agents, log entries and checkpoints, and what a refused request must not change. */
export interface FuzzTarget {
  readonly url: string;
  readonly valid: Valid;
  /** Every RPC of the API services, WatchRevocations included; a new RPC is picked up from the descriptors. */
  readonly methods: readonly DescMethod[];
  /** Agents with their versions and certificates, audit events by type, and sequenced log entries. */
  snapshot(): Promise<string>;
  close(): Promise<void>;
}

export async function startFuzzTarget(dialect: Dialect): Promise<FuzzTarget> {
  const started = await runningServer(dialect, { checkpointInterval: 3600 });
  const { url, app } = started.server;
  const valid = await seed(url);
  return {
    url,
    valid,
    methods: apiServices.flatMap((service: DescService) => service.methods),
    snapshot: () => snapshotOf(app),
    close: () => started.cleanup(),
  };
}

async function seed(url: string): Promise<Valid> {
  const transport = createConnectTransport({ baseUrl: url, httpVersion: '1.1' });
  const registry = createClient(RegistryService, transport);
  const log = createClient(TransparencyLogService, transport);
  const alpha = await registry.registerAgent({
    agentName: 'alpha.fuzz.test',
    owner: 'team-a',
    capabilities: ['search', 'pay'],
    description: 'the first agent',
    endpoints: ['https://alpha.example/api'],
  });
  const { csrPem } = await keyAndCsr('beta.fuzz.test');
  await registry.registerAgent({ agentName: 'beta.fuzz.test', owner: 'team-b', capabilities: ['search'], csrPem });
  await registry.rotateCertificate({ agentName: 'beta.fuzz.test' });
  await registry.registerAgent({ agentName: 'gamma.fuzz.test', owner: 'team-b' });
  await registry.revokeAgent({ agentName: 'gamma.fuzz.test', reason: 'keyCompromise' });
  await log.publishCheckpoint({});
  const audience = 'https://api.example';
  const agents = await registry.listAgents({ pageSize: 1 });
  const entries = await log.listEntries({ pageSize: 1 });
  const entry = await log.getEntry({ index: 0n });
  return {
    agentNames: ['alpha.fuzz.test', 'beta.fuzz.test', 'gamma.fuzz.test', 'fresh.fuzz.test', 'xn--bcher-kva.fuzz.test'],
    owners: ['team-a', 'team-b', 'Payments Team', 'ops@example.com'],
    capabilities: ['search', 'pay', 'billing:read', 'a/b-c.d'],
    csrPem,
    csrDer: derOf(csrPem),
    certPem: alpha.certPem,
    certDer: new X509Certificate(alpha.certPem).raw,
    token: await signToken({ agentName: 'alpha.fuzz.test', keyPem: alpha.privateKeyPem, certPem: alpha.certPem, audience, ttlSeconds: 300 }),
    audience,
    pageTokens: [agents.nextPageToken, entries.nextPageToken],
    leafHash: entry.entry?.leafHash ?? '',
    endpoints: ['https://alpha.example/api', 'grpc://10.0.0.1:443'],
  };
}

function derOf(pem: string): Uint8Array {
  return Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
}

// Straight from the store, not through the API, so that a snapshot never passes the code under test. Refused
// calls may write auth.denied events (bounded, asynchronously) by design, so those are left out.
async function snapshotOf(app: App): Promise<string> {
  const { agents } = await app.store.listAgents({}, { limit: 1_000_000, offset: 0 }, new Date());
  const audit: Record<string, number> = {};
  for (const eventType of AUDIT_EVENT_TYPES) {
    if (eventType === 'auth.denied') continue;
    audit[eventType] = (await app.store.listAuditEvents({ eventType }, { limit: 1, offset: 0 })).total;
  }
  const logEntries = app.log === undefined ? 0 : (await app.log.listEntries({}, undefined, 1_000_000)).length;
  return JSON.stringify({
    agents: agents.map((a) => [a.name, a.version, a.state, a.owner, a.capabilities, a.description, a.endpoints, a.certificate?.fingerprint]),
    audit,
    logEntries,
  });
}
