import { existsSync, readFileSync } from 'node:fs';
import { loadConfig } from '../config/load.ts';
import { type BackupSummary, createBackup, restoreBackup } from '../ops/backup.ts';
import { writeFileAtomic } from '../pki/ca-files.ts';
import { type Invocation, UsageError, flagOption, soleArgument, stringOption } from './command.ts';
import { readHidden } from './hidden-input.ts';
import { packageVersion } from './version.ts';

/** Shorter passphrases are refused when sealing: the archive holds the CA keys and may be stored anywhere. */
const MIN_PASSPHRASE_LENGTH = 12;
const ARCHIVE_MODE = 0o600;

/** `atr backup <file>`: seals the registry's state into <file> (mode 0600), beside a serving registry. */
export async function backup(invocation: Invocation): Promise<number> {
  const file = soleArgument(invocation);
  if (existsSync(file) && !flagOption(invocation.values, 'force')) throw new UsageError(`${file} exists: give another file, or --force to replace it`);
  const config = loadConfig();
  const passphrase = await passphraseFor(invocation, config.backupPassphrase, 'seal');
  const { archive, summary } = await createBackup(config, passphrase, packageVersion());
  writeFileAtomic(file, archive, ARCHIVE_MODE);
  report(invocation, `backup written to ${file} (${archive.length} bytes, mode 0600)`, summary);
  return 0;
}

/** `atr restore <file>`: puts a backup in place of the configured database and files, with the server stopped. */
export async function restore(invocation: Invocation): Promise<number> {
  const file = soleArgument(invocation);
  const archive = readArchive(file);
  const config = loadConfig();
  const passphrase = await passphraseFor(invocation, config.backupPassphrase, 'open');
  const summary = await restoreBackup(config, archive, passphrase, flagOption(invocation.values, 'force'));
  report(invocation, `restored ${file}; start the server with the same CA_KEY_PASSPHRASE as when it was taken`, summary);
  return 0;
}

function readArchive(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new UsageError(`cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/** The passphrase from --passphrase-file, else BACKUP_PASSPHRASE, else typed twice (sealing) or once on the terminal. */
async function passphraseFor({ values }: Invocation, fromEnvironment: string | undefined, purpose: 'seal' | 'open'): Promise<string> {
  const path = stringOption(values, 'passphrase-file');
  const passphrase = path !== undefined ? readPassphraseFile(path) : (fromEnvironment ?? (await typedPassphrase(purpose)));
  if (passphrase === '') throw new UsageError('the passphrase is empty');
  if (purpose === 'seal' && [...passphrase].length < MIN_PASSPHRASE_LENGTH) {
    throw new UsageError(`the passphrase must be at least ${MIN_PASSPHRASE_LENGTH} characters long`);
  }
  return passphrase;
}

function readPassphraseFile(path: string): string {
  try {
    return readFileSync(path, 'utf8').split(/\r?\n/)[0] ?? '';
  } catch (error) {
    throw new UsageError(`--passphrase-file ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

async function typedPassphrase(purpose: 'seal' | 'open'): Promise<string> {
  const otherwise = 'no passphrase: give --passphrase-file FILE or set BACKUP_PASSPHRASE';
  const first = await readHidden('backup passphrase: ', otherwise);
  if (purpose === 'open') return first;
  if ((await readHidden('the same passphrase again: ', otherwise)) !== first) throw new UsageError('the two passphrases differ');
  return first;
}

function report({ out }: Invocation, headline: string, summary: BackupSummary): void {
  if (out.json) {
    out.line(JSON.stringify(summary, null, 2));
    return;
  }
  out.line(headline);
  out.fields([
    ['taken', summary.createdAt],
    ['by atr', summary.atrVersion],
    ['database', `${summary.database.dialect}, ${summary.database.bytes} bytes`],
  ]);
  for (const file of summary.files) out.line(`  ${file.mode.toString(8).padStart(4, '0')} ${file.name}`);
}
