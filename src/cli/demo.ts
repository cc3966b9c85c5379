import { randomBytes } from 'node:crypto';
import { type Client, ConnectError } from '@connectrpc/connect';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { type VerifyCertificateResponse, VerifyReason, VerifyService } from '../../gen/atr/v1/verify_pb.js';
import { describeCallError } from './client.ts';
import type { Invocation } from './command.ts';
import { generateKeyAndCsr } from '../sdk/csr.ts';
import { reasonWord, time } from './output.ts';

/** A step's check failed: the server answered, but not as a registry should. */
class Unexpected extends Error {}

interface Step {
  readonly title: string;
  /** Returns a one-line detail when the server behaved as expected; throws otherwise. */
  run(): Promise<string>;
}

export async function demo({ client, server, out }: Invocation): Promise<number> {
  const agentName = `demo-${randomBytes(4).toString('hex')}.agents.local`;
  const steps = lifecycle(client(RegistryService), client(VerifyService), agentName);
  out.line(`ATR demo against ${server} with agent ${agentName}`);
  for (const [index, step] of steps.entries()) {
    const label = `${index + 1}. ${step.title}`.padEnd(27);
    try {
      out.line(`  ✓ ${label} ${await step.run()}`);
    } catch (error) {
      out.line(`  ✗ ${label} ${failure(error, server)}`);
      out.line(`\nstep ${index + 1} of ${steps.length} did not behave as expected`);
      return 1;
    }
  }
  out.line(`\nall ${steps.length} steps behaved as expected`);
  return 0;
}

function lifecycle(registry: Client<typeof RegistryService>, verify: Client<typeof VerifyService>, agentName: string): Step[] {
  let firstCertPem = '';
  let currentCertPem = '';
  const check = async (certPem: string) => verify.verifyCertificate({ certPem });
  return [
    {
      title: 'register (local key)',
      async run() {
        const { csrPem } = await generateKeyAndCsr(agentName);
        const response = await registry.registerAgent({ agentName, owner: 'demo', capabilities: ['demo'], csrPem });
        firstCertPem = currentCertPem = response.certPem;
        return `certificate ${short(response.agent?.certFingerprint ?? '')} issued to ${response.agent?.spiffeId ?? agentName}`;
      },
    },
    {
      title: 'verify certificate',
      run: async () => expectVerified(await check(currentCertPem)),
    },
    {
      title: 'rotate',
      async run() {
        const { csrPem } = await generateKeyAndCsr(agentName);
        const response = await registry.rotateCertificate({ agentName, csrPem });
        currentCertPem = response.certPem;
        if (currentCertPem === firstCertPem) throw new Unexpected('rotation returned the same certificate');
        return `certificate ${short(response.agent?.certFingerprint ?? '')} issued; previous ${short(response.previousCertFingerprint)} superseded`;
      },
    },
    {
      title: 'verify new and old',
      async run() {
        expectVerified(await check(currentCertPem));
        expectRefused(await check(firstCertPem), VerifyReason.SUPERSEDED);
        return 'new certificate verified; old certificate refused (superseded)';
      },
    },
    {
      title: 'revoke (keyCompromise)',
      async run() {
        const { agent } = await registry.revokeAgent({ agentName, reason: 'keyCompromise' });
        if (agent?.revocationReason !== 'keyCompromise') {
          throw new Unexpected(`revocation reason is ${JSON.stringify(agent?.revocationReason)}, not keyCompromise`);
        }
        return `revoked at ${time(agent.revokedAt) ?? '(no time given)'}`;
      },
    },
    {
      title: 'verify after revocation',
      run: async () => `refused: ${expectRefused(await check(currentCertPem), VerifyReason.REVOKED)}`,
    },
  ];
}

function expectVerified(response: VerifyCertificateResponse): string {
  if (!response.verified || response.reason !== VerifyReason.VERIFIED) {
    throw new Unexpected(`expected verified, got refused (${reasonWord(response.reason)}): ${response.message}`);
  }
  return `verified: ${response.message}`;
}

function expectRefused(response: VerifyCertificateResponse, reason: VerifyReason): string {
  if (response.verified || response.reason !== reason) {
    const got = response.verified ? 'verified' : `refused (${reasonWord(response.reason)})`;
    throw new Unexpected(`expected refused (${reasonWord(reason)}), got ${got}: ${response.message}`);
  }
  return `${reasonWord(response.reason)}: ${response.message}`;
}

function failure(error: unknown, server: string): string {
  if (error instanceof ConnectError) return describeCallError(error, server);
  return error instanceof Error ? error.message : String(error);
}

/** A certificate named the same way in every step: the start of its SHA-256 fingerprint. */
const short = (fingerprint: string) => (fingerprint.length > 16 ? `${fingerprint.slice(0, 16)}…` : fingerprint);
