/** The kinds of keys the registry certifies, as the audit trail names them. */
export type KeyAlgorithm = 'EC P-256' | 'EC P-384' | `RSA ${number}` | 'Ed25519';
