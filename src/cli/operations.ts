import { GetOperationResponseSchema, type Operation, OperationService, OperationState } from '../../gen/atr/v1/operation_pb.js';
import { type Invocation, soleArgument } from './command.ts';
import { type Field, time } from './output.ts';

function operationFields(operation: Operation | undefined): Field[] {
  return [
    ['operation id', operation?.operationId],
    ['kind', operation?.kind],
    ['agent', operation?.agentName],
    ['state', operation && (OperationState[operation.state] ?? 'unknown').toLowerCase()],
    ['step', operation?.step],
    ['attempts', operation && String(operation.attempts)],
    ['error', operation?.errorCode && `${operation.errorCode}: ${operation.errorMessage}`],
    ['created', time(operation?.createdAt)],
    ['completed', time(operation?.completedAt)],
    ['log index', operation?.logIndex?.toString()],
  ];
}

export async function show(invocation: Invocation): Promise<number> {
  const { client, out } = invocation;
  const response = await client(OperationService).getOperation({ operationId: soleArgument(invocation) });
  if (out.json) out.message(GetOperationResponseSchema, response);
  else out.fields(operationFields(response.operation));
  return 0;
}

/**
 * Follows an operation until it ends (WatchOperation) and returns it when it succeeded; throws with its error code
 * and message when it failed.
 */
export async function finishedOperation({ client }: Invocation, operationId: string): Promise<Operation> {
  let last: Operation | undefined;
  for await (const update of client(OperationService).watchOperation({ operationId })) last = update.operation;
  if (last?.state !== OperationState.SUCCEEDED) {
    throw new Error(`operation ${operationId} failed: ${last?.errorCode ?? 'unknown'}: ${last?.errorMessage ?? 'the stream ended early'}`);
  }
  return last;
}
