import { configurationTable } from '../config/load.ts';
import type { Command } from './command.ts';

const config: Command = {
  name: 'config',
  synopsis: '',
  summary: 'print every configuration variable with its default and meaning (markdown)',
  options: {},
  arity: 0,
  async run({ out }) {
    out.line(configurationTable());
    return 0;
  },
};

export const configCommands: readonly Command[] = [config];
