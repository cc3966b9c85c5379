// atr bench seed through the real CLI, then a registry started on what it wrote: the seeded agents resolve and
// verify (revoked ones as revoked), every listing filter and page finds exactly the agents it should, and the log's
// signed checkpoint covers every seeded leaf with proofs that check.
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Agent, AgentStatus } from '../../gen/atr/v1/agent_pb.js';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { ResolveService } from '../../gen/atr/v1/resolve_pb.js';
import { TransparencyLogService } from '../../gen/atr/v1/transparency_log_pb.js';
import { VerifyReason, VerifyService } from '../../gen/atr/v1/verify_pb.js';
import { checkExtension, checkInclusion, checkLeafHash, verifyCheckpointResponse } from '../../src/sdk/log-checks.ts';
import { leafHash } from '../../src/sdk/transparency-log.ts';
import { runAtr } from '../support/cli.ts';
import { dialects } from '../support/databases.ts';
import { processEnvironment, type ServerProcess, serverProcess } from '../support/server-process.ts';

const AGENTS = 300;
const OWNERS = 3;
const CAPABILITIES = ['chat', 'search', 'code'];
const REVOKED_PERCENT = 10;

// Each step runs `atr` or a page walk in processes of their own, slow on a loaded machine; nothing here is timed.
describe.each(dialects)('atr bench seed on %s', { timeout: 120_000 }, (dialect) => {
  let environment: Awaited<ReturnType<typeof processEnvironment>>;
  let env: Record<string, string>;
  let server: ServerProcess | undefined;
  let clients: ReturnType<typeof clientsOf>;
  let seeded: { code: number; stdout: string; stderr: string };
  let all: Agent[];

  beforeAll(async () => {
    environment = await processEnvironment(dialect);
    env = Object.fromEntries(Object.entries(environment.env).filter((entry): entry is [string, string] => entry[1] !== undefined));
    const args = ['--agents', `${AGENTS}`, '--owners', `${OWNERS}`, '--capabilities', CAPABILITIES.join(','), '--revoked-percent', `${REVOKED_PERCENT}`];
    seeded = await runAtr(['bench', 'seed', ...args], process.cwd(), env);
    server = await serverProcess(environment.env);
    clients = clientsOf(server.url);
    all = await listAll({});
  }, 240_000);
  afterAll(async () => {
    await server?.stop();
    await environment?.cleanup();
  });

  /** Every page of a listing, walked with page tokens. */
  async function listAll(filter: { owner?: string; status?: AgentStatus; capability?: string }): Promise<Agent[]> {
    const agents: Agent[] = [];
    let pageToken = '';
    do {
      const page = await clients.registry.listAgents({ ...filter, pageSize: 40, pageToken });
      agents.push(...page.agents);
      expect(page.total).toBeGreaterThanOrEqual(agents.length);
      pageToken = page.nextPageToken;
    } while (pageToken !== '');
    return agents;
  }

  it('seeds the agents and says how fast', () => {
    expect(seeded.stderr).toMatch(/seeding: 300\/300 agents/);
    expect(seeded.stdout).toMatch(/seeded: +300 agents \(30 revoked\) over 3 owners/);
    expect(seeded.stdout).toMatch(/log size: +330 leaves/);
    expect(seeded.stdout).toMatch(/agents\/s/);
    expect(seeded.code).toBe(0);
    expect(all.map((agent) => agent.agentName).sort()).toEqual(Array.from({ length: AGENTS }, (_, n) => `agent-${n}.owner-${n % OWNERS}.seed.example`).sort());
  });

  it('refuses a database with agents unless told to append, and a production setup unless told it is meant', async () => {
    const again = await runAtr(['bench', 'seed', '--agents', '10'], process.cwd(), env);
    expect(again.stdout).toMatch(/refused: the database already has 300 agents; --append/);
    expect(again.code).toBe(1);
    const production = await runAtr(['bench', 'seed', '--agents', '10', '--append'], process.cwd(), { ...env, ATR_ENV: 'production', API_KEY_ENABLED: 'true' });
    expect(production.stdout).toMatch(/refused: ATR_ENV=production/);
    expect(production.code).toBe(1);
    expect((await clients.registry.listAgents({ pageSize: 1 })).total).toBe(AGENTS);
  });

  it('gives every agent a certificate that resolves and verifies, revoked ones as revoked', async () => {
    const revoked = all.filter((agent) => agent.status === AgentStatus.REVOKED);
    expect(revoked).toHaveLength((AGENTS * REVOKED_PERCENT) / 100);
    for (const agent of [all[0]!, all[AGENTS - 1]!, revoked[0]!]) {
      const resolved = await clients.resolve.resolveAgent({ agentName: agent.agentName });
      expect(resolved.certPem).toMatch(/^-----BEGIN CERTIFICATE-----/);
      expect(resolved.spiffeId).toBe(`spiffe://atr.local/agent/${agent.agentName}`);
      const verified = await clients.verify.verifyCertificate({ certPem: resolved.certPem });
      expect(verified.agentName).toBe(agent.agentName);
      expect(verified.reason).toBe(agent.status === AgentStatus.REVOKED ? VerifyReason.REVOKED : VerifyReason.VERIFIED);
    }
  });

  it('lists by owner, status and capability exactly the agents that match, page after page', async () => {
    const names = (agents: Agent[]) => agents.map((agent) => agent.agentName);
    for (let owner = 0; owner < OWNERS; owner++) {
      expect(names(await listAll({ owner: `owner-${owner}` }))).toEqual(names(all.filter((agent) => agent.owner === `owner-${owner}`)));
    }
    for (const status of [AgentStatus.ACTIVE, AgentStatus.REVOKED]) {
      expect(names(await listAll({ status }))).toEqual(names(all.filter((agent) => agent.status === status)));
    }
    for (const capability of CAPABILITIES) {
      const holders = all.filter((agent) => agent.capabilities.includes(capability));
      expect(holders.length).toBeGreaterThan(0);
      expect(names(await listAll({ capability }))).toEqual(names(holders));
    }
  });

  it('publishes a checkpoint over every seeded leaf, with inclusion proofs that check', async () => {
    const signed = await latestCheckpoint();
    expect(signed.size).toBe(AGENTS + (AGENTS * REVOKED_PERCENT) / 100);
    const agent = all.find((candidate) => candidate.status === AgentStatus.REVOKED)!;
    const { entries } = await clients.log.listEntries({ agentName: agent.agentName });
    expect(entries.map((entry) => JSON.parse(new TextDecoder().decode(entry.data)).event_type)).toEqual(['agent.registered', 'agent.revoked']);
    for (const entry of entries) {
      const hash = await leafHash(entry.data);
      checkLeafHash(entry.leafHash, hash);
      await checkInclusion(hash, Number(entry.index), signed, (request) => clients.log.getInclusionProof(request));
    }
  });

  it('appends to a seeded database beside its agents, and the log grows consistently', async () => {
    const before = await latestCheckpoint();
    const appended = await runAtr(['bench', 'seed', '--agents', '20', '--owners', `${OWNERS}`, '--revoked-percent', `${REVOKED_PERCENT}`, '--append'], process.cwd(), env);
    expect(appended.stdout).toMatch(/existing: +300 agents before \(--append\)/);
    expect(appended.code).toBe(0);
    const { agents, total } = await clients.registry.listAgents({ owner: 'owner-0', pageSize: 500 });
    expect(total).toBe(all.filter((agent) => agent.owner === 'owner-0').length + 7);
    expect(agents.at(-1)?.agentName).toBe('agent-318.owner-0.seed.example');
    const after = await latestCheckpoint();
    // Agents 0, 11 and 19 of the 20 are the revoked ones: 20 registrations and 3 revocations.
    expect(after.size).toBe(before.size + 23);
    expect(await checkExtension(before, after, (request) => clients.log.getConsistencyProof(request))).not.toBe('unchanged');
  });

  async function latestCheckpoint() {
    const checkpoint = await clients.log.getCheckpoint({});
    return verifyCheckpointResponse(checkpoint, checkpoint.verifierKey);
  }
});

function clientsOf(url: string) {
  const transport = createGrpcTransport({ baseUrl: url });
  return {
    registry: createClient(RegistryService, transport),
    resolve: createClient(ResolveService, transport),
    verify: createClient(VerifyService, transport),
    log: createClient(TransparencyLogService, transport),
  };
}
