import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';
import type { TransparencyLogService } from '../../gen/atr/v1/transparency_log_pb.js';

const notYet = (): never => {
  throw new ConnectError('the transparency log is not implemented yet', Code.Unimplemented);
};

/** Declared so that clients can be generated against the whole API; the Merkle log arrives in a later release. */
export const transparencyLogService: ServiceImpl<typeof TransparencyLogService> = {
  getCheckpoint: notYet,
  getEntry: notYet,
  listEntries: notYet,
  getInclusionProof: notYet,
  getConsistencyProof: notYet,
};
