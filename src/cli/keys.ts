import { existsSync } from 'node:fs';
import { chmod, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

export interface AgentFiles {
  readonly privateKeyPem: string;
  readonly certPem: string;
  readonly chainPem: string;
}

/** `<root>/<agent name>`; the name is a DNS name the registry accepted, so it is one path segment. */
export function agentDirectory(keysRootDir: string, agentName: string): string {
  if (agentName === '' || agentName.startsWith('.') || /[/\\]/.test(agentName)) {
    throw new Error(`agent name ${JSON.stringify(agentName)} cannot be used as a directory name`);
  }
  return resolve(keysRootDir, agentName);
}

export const keyFile = (directory: string) => join(directory, 'key.pem');

/**
 * Writes key.pem (0600), cert.pem and chain.pem into the agent's directory (0700). With keepPrevious the pair
 * being replaced is kept as key.prev.pem and cert.prev.pem, so a rotation can be undone locally.
 */
export async function writeAgentFiles(directory: string, files: AgentFiles, keepPrevious: boolean): Promise<void> {
  await mkdir(directory, { recursive: true, mode: 0o700 });
  await chmod(directory, 0o700);
  if (keepPrevious) {
    for (const name of ['key', 'cert']) {
      const current = join(directory, `${name}.pem`);
      if (existsSync(current)) await rename(current, join(directory, `${name}.prev.pem`));
    }
  }
  await writeAtomically(join(directory, 'key.pem'), files.privateKeyPem, 0o600);
  await writeAtomically(join(directory, 'cert.pem'), files.certPem, 0o644);
  await writeAtomically(join(directory, 'chain.pem'), files.chainPem, 0o644);
}

// A new file created with its final mode, then renamed into place: the key is never readable by others, not
// even for a moment, and a crash never leaves half a file under the real name.
async function writeAtomically(path: string, content: string, mode: number): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(temporary, content, { mode, flag: 'wx' });
    await chmod(temporary, mode);
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
