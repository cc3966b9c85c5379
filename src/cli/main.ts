import { readFileSync } from 'node:fs';
import type { Transport } from '@connectrpc/connect';
import { parseArgs } from 'node:util';
import { type Command, type OptionValues, type OptionsConfig, UsageError, errorLine, flagOption, oneOfOption, stringOption } from './command.ts';
import { COMMANDS } from './commands.ts';
import { type Environment, apiKeyFor, cliEnvironment, defaultMtlsServer, defaultServer } from './environment.ts';
import type { Protocol } from '../sdk/transport.ts';
import { packageVersion } from './version.ts';

const PROTOCOLS = ['connect', 'grpc', 'grpc-web'] as const satisfies readonly Protocol[];

const GLOBAL_OPTIONS: OptionsConfig = {
  server: {
    type: 'string',
    value: 'URL',
    description: 'the registry to talk to (default ATR_SERVER, else the HOST and PORT of the environment or .env, http://127.0.0.1:8000)',
  },
  protocol: { type: 'string', value: 'P', description: `${PROTOCOLS.join(', ')} (default connect)` },
  'api-key': { type: 'string', value: 'KEY', description: 'API key (default ATR_API_KEY, else the bootstrap key in ADMIN_KEY_FILE, ./var/admin.key)' },
  cacert: {
    type: 'string',
    value: 'FILE',
    description: "CA certificates (PEM) to trust for an https:// server, besides Node's (default ATR_CACERT; for whoami, renew and agent run, chain.pem beside --cert)",
  },
  json: { type: 'boolean', description: 'print the response as proto JSON (field names as in the .proto)' },
  help: { type: 'boolean', short: 'h', description: "this help; `atr <group> --help` or `atr <command> --help` for a group's or a command's" },
  version: { type: 'boolean', description: 'print the version of atr' },
};

/** Runs the CLI on the arguments after the executable; returns the exit code (0 ok, 1 failure, 2 usage). */
export async function main(argv: readonly string[], env: Environment = cliEnvironment()): Promise<number> {
  let server = defaultServer(env);
  let command: Command | undefined;
  try {
    const given = words(argv);
    command = findCommand(given);
    const { values, positionals } = parse(argv, command);
    if (flagOption(values, 'help')) {
      process.stdout.write(command !== undefined ? commandHelp(command) : groupOf(given) !== undefined ? groupHelp(given[0] ?? '') : help());
      return 0;
    }
    if (flagOption(values, 'version')) {
      process.stdout.write(`atr ${packageVersion()}\n`);
      return 0;
    }
    if (command === undefined) {
      throw new UsageError(positionals.length === 0 ? 'no command given' : `unknown command: ${positionals.join(' ')}`);
    }
    const args = positionals.slice(command.name.split(' ').length);
    checkArity(command, args);
    server = serverUrl(stringOption(values, 'server') ?? server);
    const protocol = oneOfOption(values, 'protocol', PROTOCOLS) ?? 'connect';
    const caFile = stringOption(values, 'cacert') ?? (env['ATR_CACERT'] || undefined);
    const [run, { createTransport }, { createClient }, { Output }] = await Promise.all([
      command.load(),
      import('./client.ts'),
      import('@connectrpc/connect'),
      import('./output.ts'),
    ]);
    let transport: Transport | undefined;
    return await run({
      args,
      values,
      server,
      mtlsServer: defaultMtlsServer(env, server),
      client: (service) => {
        transport ??= createTransport({ baseUrl: server, protocol, apiKey: apiKeyFor(stringOption(values, 'api-key'), env), ca: caOf(caFile) });
        return createClient(service, transport);
      },
      out: new Output(flagOption(values, 'json')),
    });
  } catch (error) {
    if (error instanceof UsageError) {
      errorLine(error.message);
      process.stderr.write(command === undefined ? usageLines(argv) : `usage: ${usageLine(command)}\n`);
      return 2;
    }
    const { describeCallError, isCallError } = await import('./client.ts');
    errorLine(isCallError(error) ? describeCallError(error, server) : error instanceof Error ? error.message : String(error));
    return 1;
  }
}

/** The positional words, found before the command (and so its options) is known; global options may come first. */
function words(argv: readonly string[]): string[] {
  return parseArgs({ args: [...argv], options: GLOBAL_OPTIONS, strict: false, allowPositionals: true }).positionals;
}

/** The command named by the first positional words. */
function findCommand(given: readonly string[]): Command | undefined {
  return COMMANDS.find((candidate) => candidate.name.split(' ').every((word, i) => given[i] === word));
}

/** The commands of a group (`agents`, `log`...) named by the first word, when it names one. */
function groupOf(given: readonly string[]): Command[] | undefined {
  const group = COMMANDS.filter((command) => command.name.includes(' ') && command.name.split(' ')[0] === given[0]);
  return group.length > 0 ? group : undefined;
}

function parse(argv: readonly string[], command: Command | undefined): { values: OptionValues; positionals: string[] } {
  try {
    return parseArgs({
      args: [...argv],
      options: { ...GLOBAL_OPTIONS, ...command?.options },
      strict: command !== undefined,
      allowPositionals: true,
    }) as { values: OptionValues; positionals: string[] };
  } catch (error) {
    // parseArgs explains unknown options and missing values well; only the exit code and usage line are ours.
    throw new UsageError((error as Error).message);
  }
}

function checkArity(command: Command, args: readonly string[]): void {
  const [min, max] = typeof command.arity === 'number' ? [command.arity, command.arity] : command.arity;
  if (args.length < min) throw new UsageError(`missing argument: ${command.synopsis.split(' ')[0] ?? ''}`);
  if (args.length > max) throw new UsageError(`unexpected argument: ${args[max] ?? ''}`);
}

function serverUrl(raw: string): string {
  if (!URL.canParse(raw) || !/^https?:$/.test(new URL(raw).protocol)) {
    throw new UsageError(`--server must be an http:// or https:// URL, not ${JSON.stringify(raw)}`);
  }
  return raw.replace(/\/+$/, '');
}

/** The PEM of --cacert (or ATR_CACERT); a file that cannot be read is a usage mistake, said before any call. */
function caOf(file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`--cacert: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

const usageLine = (command: Command) => `atr ${command.name}${command.synopsis === '' ? '' : ` ${command.synopsis}`}`;

/** Usage lines of the commands the arguments could have meant: the group's when its first word is known. */
function usageLines(argv: readonly string[]): string {
  const shown = groupOf(words(argv)) ?? COMMANDS;
  return `usage:\n${shown.map((command) => `  ${usageLine(command)}\n`).join('')}(atr --help explains each command)\n`;
}

function help(): string {
  const commands = COMMANDS.map((command) => `  ${usageLine(command)}\n      ${command.summary}\n`).join('');
  return (
    `atr ${packageVersion()}\n\nusage: atr <command> [arguments] [options]\n\ncommands:\n${commands}\n` +
    `global options:\n${optionLines(GLOBAL_OPTIONS)}\n` +
    '`atr <command> --help` shows a command\'s options; `atr <group> --help` (agents, keys, log...) a group\'s commands.\n'
  );
}

function groupHelp(group: string): string {
  const commands = (groupOf([group]) ?? []).map((command) => commandSection(command)).join('\n');
  return `usage: atr ${group} <command> [arguments] [options]\n\n${commands}\nglobal options:\n${optionLines(GLOBAL_OPTIONS)}`;
}

function commandHelp(command: Command): string {
  return `usage: ${commandSection(command)}\nglobal options:\n${optionLines(GLOBAL_OPTIONS)}`;
}

function commandSection(command: Command): string {
  const options = Object.keys(command.options).length === 0 ? '' : `  options:\n${optionLines(command.options, '    ')}`;
  return `${usageLine(command)}\n  ${command.summary}\n${options}`;
}

/** One line per option: the flag with its placeholder, then what it does. */
function optionLines(options: OptionsConfig, indent = '  '): string {
  const flags = Object.entries(options).map(([name, option]) => {
    const short = option.short === undefined ? '' : `-${option.short}, `;
    const value = option.type === 'string' ? ` ${option.value ?? 'VALUE'}${option.multiple ? ' ...' : ''}` : '';
    return [`${short}--${name}${value}`, option.description] as const;
  });
  const width = Math.max(...flags.map(([flag]) => flag.length)) + 2;
  return flags.map(([flag, description]) => `${indent}${flag.padEnd(width)}${description}\n`).join('');
}
