// RFC 9162 inclusion and consistency proof checks on node:crypto, for the CLI and the server's own tests.
// The algorithms are in proof-check.ts; this runs them, hashing synchronously.
import { nodeHash } from './hash.ts';
import { type ProofCheck, consistencySteps, inclusionSteps } from './proof-check.ts';

/** True when `proof` shows that `leafHash` is leaf `index` of the tree of `size` leaves whose root is `root`. */
export function verifyInclusion(...args: Parameters<typeof inclusionSteps>): boolean {
  return run(inclusionSteps(...args));
}

/**
 * True when `proof` shows that the tree of `second` leaves with root `secondRoot` extends the tree of
 * `first` leaves with root `firstRoot` (arguments: first, second, firstRoot, secondRoot, proof).
 */
export function verifyConsistency(...args: Parameters<typeof consistencySteps>): boolean {
  return run(consistencySteps(...args));
}

function run(check: ProofCheck): boolean {
  for (let step = check.next(); ; ) {
    if (step.done === true) return step.value;
    step = check.next(nodeHash(...step.value));
  }
}
