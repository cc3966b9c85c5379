import { setTimeout as sleep } from 'node:timers/promises';
import { create } from '@bufbuild/protobuf';
import type { HandlerContext, ServiceImpl } from '@connectrpc/connect';
import { type Operation, OperationSchema, type OperationService, OperationState } from '../../gen/atr/v1/operation_pb.js';
import { DomainError, invalidArgument, quoted } from '../errors.ts';
import type { CertificateAuthority } from '../pki/ca.ts';
import type { OperationRecord } from '../registry/operations.ts';
import type { Registry } from '../registry/registry.ts';
import { agentToProto, timestamp } from './convert.ts';

const OPERATION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** How often a watch reads the operation again while it is pending. */
const WATCH_POLL_MS = 100;

const STATES: Record<OperationRecord['state'], OperationState> = {
  pending: OperationState.PENDING,
  succeeded: OperationState.SUCCEEDED,
  failed: OperationState.FAILED,
};

function checkedId(id: string): string {
  if (!OPERATION_ID.test(id)) throw invalidArgument('operation_id', `must be an operation id (a lowercase UUID), not ${quoted(id)}`);
  return id;
}

/** OperationService: how the registrations and rotations accepted to finish in the background stand. */
export class OperationServiceImpl implements ServiceImpl<typeof OperationService> {
  constructor(
    private readonly registry: Registry,
    private readonly ca: CertificateAuthority,
  ) {}

  async getOperation(request: { operationId: string }) {
    return { operation: await this.toProto(await this.registry.operation(checkedId(request.operationId))) };
  }

  async *watchOperation(request: { operationId: string }, context: HandlerContext) {
    const id = checkedId(request.operationId);
    let last = '';
    for (;;) {
      const operation = await this.registry.operation(id);
      const seen = `${operation.state}/${operation.step}/${operation.attempts}`;
      if (seen !== last) {
        last = seen;
        yield { operation: await this.toProto(operation) };
      }
      if (operation.state !== 'pending') return;
      const aborted = await sleep(WATCH_POLL_MS, false, { signal: context.signal }).catch(() => true);
      if (aborted) return;
    }
  }

  private async toProto(operation: OperationRecord): Promise<Operation> {
    const agent = await this.registry.get(operation.agentName).catch((error: unknown) => {
      if (error instanceof DomainError && error.code === 'agent_not_found') return undefined;
      throw error;
    });
    const succeeded = operation.state === 'succeeded';
    return create(OperationSchema, {
      operationId: operation.id,
      kind: operation.kind,
      agentName: operation.agentName,
      state: STATES[operation.state],
      step: operation.step,
      attempts: operation.attempts,
      errorCode: operation.errorCode,
      errorMessage: operation.errorMessage,
      createdAt: timestamp(operation.at),
      updatedAt: timestamp(operation.updatedAt),
      completedAt: timestamp(operation.completedAt),
      agent: agent && agentToProto(agent, this.ca.trustDomain),
      certPem: succeeded ? (operation.certificatePem ?? '') : '',
      logIndex: succeeded && operation.logIndex !== null ? BigInt(operation.logIndex) : undefined,
    });
  }
}
