import { parseArgs } from 'node:util';
import { ConnectError } from '@connectrpc/connect';
import { agentRunCommands } from './agent-run.ts';
import { agentCommands } from './agents.ts';
import { apiKeyCommands } from './api-keys.ts';
import { auditCommands } from './audit.ts';
import { benchCommands } from './bench.ts';
import { DEFAULT_SERVER, PROTOCOLS, apiKeyFor, createClients, describeCallError, type Clients } from './client.ts';
import { type Command, type OptionValues, UsageError, flagOption, oneOfOption, stringOption } from './command.ts';
import { configCommands } from './config.ts';
import { demoCommands } from './demo.ts';
import { dnsCommands } from './dns.ts';
import { domainCommands } from './domains.ts';
import { jobCommands } from './jobs.ts';
import { operationCommands } from './operations.ts';
import { logCommands } from './log.ts';
import { openApiCommands } from './openapi.ts';
import { Output, errorLine } from './output.ts';
import { resolveCommands } from './resolve.ts';
import { serveCommands } from './serve.ts';
import { verifyCommands } from './verify.ts';
import { packageVersion } from './version.ts';

/** Every command of `atr`, in the order the help lists them. */
const COMMANDS: readonly Command[] = [
  ...serveCommands,
  ...demoCommands,
  ...agentCommands,
  ...agentRunCommands,
  ...verifyCommands,
  ...resolveCommands,
  ...auditCommands,
  ...logCommands,
  ...apiKeyCommands,
  ...jobCommands,
  ...operationCommands,
  ...domainCommands,
  ...dnsCommands,
  ...openApiCommands,
  ...configCommands,
  ...benchCommands,
];

const GLOBAL_OPTIONS = {
  server: { type: 'string' },
  protocol: { type: 'string' },
  'api-key': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const;

const GLOBAL_HELP = [
  ['--server URL', `registry to talk to (default ATR_SERVER, else ${DEFAULT_SERVER})`],
  ['--protocol P', `${PROTOCOLS.join(', ')} (default connect)`],
  ['--api-key KEY', 'API key (default ATR_API_KEY, else the bootstrap key in ADMIN_KEY_FILE, ./var/admin.key)'],
  ['--json', 'print the response as proto JSON (field names as in the .proto)'],
  ['-h, --help', 'this help, or a command\'s with `atr <command> --help`'],
  ['--version', 'print the version of atr'],
] as const;

/** Runs the CLI on the arguments after the executable; returns the exit code (0 ok, 1 failure, 2 usage). */
export async function main(argv: readonly string[]): Promise<number> {
  let server = process.env.ATR_SERVER || DEFAULT_SERVER;
  let command: Command | undefined;
  try {
    command = findCommand(argv);
    const { values, positionals } = parse(argv, command);
    if (flagOption(values, 'help')) {
      process.stdout.write(command === undefined ? help() : commandHelp(command));
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
    let clients: Clients | undefined;
    return await command.run({
      args,
      values,
      server,
      clients: () => (clients ??= createClients(server, protocol, apiKeyFor(stringOption(values, 'api-key')))),
      out: new Output(flagOption(values, 'json')),
    });
  } catch (error) {
    if (error instanceof UsageError) {
      errorLine(error.message);
      process.stderr.write(command === undefined ? usageLines(argv) : `usage: ${usageLine(command)}\n`);
      return 2;
    }
    if (error instanceof ConnectError) errorLine(describeCallError(error, server));
    else errorLine(error instanceof Error ? error.message : String(error));
    return 1;
  }
}

/** The positional words, found before the command (and so its options) is known; global options may come first. */
function words(argv: readonly string[]): string[] {
  return parseArgs({ args: [...argv], options: GLOBAL_OPTIONS, strict: false, allowPositionals: true }).positionals;
}

/** The command named by the first positional words. */
function findCommand(argv: readonly string[]): Command | undefined {
  const given = words(argv);
  return COMMANDS.find((candidate) => candidate.name.split(' ').every((word, i) => given[i] === word));
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

const usageLine = (command: Command) => `atr ${command.name}${command.synopsis === '' ? '' : ` ${command.synopsis}`}`;

/** Usage lines of the commands the arguments could have meant: the group's when its first word is known. */
function usageLines(argv: readonly string[]): string {
  const [first] = words(argv);
  const group = COMMANDS.filter((command) => command.name.split(' ')[0] === first);
  const shown = group.length > 0 ? group : COMMANDS;
  return `usage:\n${shown.map((command) => `  ${usageLine(command)}\n`).join('')}(atr --help explains each command)\n`;
}

function help(): string {
  const commands = COMMANDS.map((command) => `  ${usageLine(command)}\n      ${command.summary}\n`).join('');
  const globals = GLOBAL_HELP.map(([flag, meaning]) => `  ${flag.padEnd(14)} ${meaning}\n`).join('');
  return `atr ${packageVersion()}\n\nusage: atr <command> [arguments] [options]\n\ncommands:\n${commands}\nglobal options:\n${globals}`;
}

function commandHelp(command: Command): string {
  const globals = GLOBAL_HELP.map(([flag, meaning]) => `  ${flag.padEnd(14)} ${meaning}\n`).join('');
  return `usage: ${usageLine(command)}\n\n${command.summary}\n\nglobal options:\n${globals}`;
}
