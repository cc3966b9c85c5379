/**
 * A backup that cannot be made or restored as asked: a wrong passphrase, a damaged or foreign file, a target that
 * is not empty or is in use. Its message is the whole explanation the CLI prints; nothing has been changed.
 */
export class BackupError extends Error {
  override readonly name = 'BackupError';
}
