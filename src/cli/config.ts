import { configurationTable } from '../config/load.ts';
import type { Invocation } from './command.ts';

export async function config({ out }: Invocation): Promise<number> {
  out.line(configurationTable());
  return 0;
}

