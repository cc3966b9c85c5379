/** A CA directory that cannot be used as it is: missing, inconsistent or undecryptable files, a stuck lock. */
export class CaError extends Error {
  override readonly name = 'CaError';
}
