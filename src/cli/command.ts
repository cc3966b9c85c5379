import type { DescService } from '@bufbuild/protobuf';
import type { Client } from '@connectrpc/connect';
import type { Output } from './output.ts';

/** One option of a command: what `parseArgs` needs, and the line its help prints. */
export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly multiple?: boolean;
  readonly short?: string;
  /** What the option does, printed by `atr <command> --help`. */
  readonly description: string;
  /** The value's placeholder in the help, e.g. `NAME` (string options; default `VALUE`). */
  readonly value?: string;
}

export type OptionsConfig = Readonly<Record<string, OptionSpec>>;
export type OptionValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** What a command runs with: its positional arguments and options, a client for any service, and the output. */
export interface Invocation {
  readonly args: readonly string[];
  readonly values: OptionValues;
  readonly server: string;
  /** The registry's mTLS listener, for commands an agent runs with its own certificate. */
  readonly mtlsServer: string;
  /** A typed client of one of the registry's services, over the transport --server, --protocol, --api-key and --cacert chose. */
  readonly client: <Service extends DescService>(service: Service) => Client<Service>;
  readonly out: Output;
}

export interface Command {
  /** The words that select it, e.g. `agents register`. */
  readonly name: string;
  /** Arguments and options after the name, as the usage line shows them. */
  readonly synopsis: string;
  readonly summary: string;
  readonly options: OptionsConfig;
  /** How many positional arguments it takes: exactly, or [min, max]. */
  readonly arity: number | readonly [number, number];
  /** The module that does the work, loaded only when the command runs. */
  load(): Promise<Runner>;
}

/** Runs a command; returns the exit code: 0 success, 1 failure or refusal. */
export type Runner = (invocation: Invocation) => Promise<number>;

/** A line on standard error saying what went wrong. */
export function errorLine(text: string): void {
  process.stderr.write(`error: ${text}\n`);
}

/** A mistake in how the command was called: exit 2 with the command's usage line. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function stringOption(values: OptionValues, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

export function listOption(values: OptionValues, name: string): string[] | undefined {
  const value = values[name];
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : undefined;
}

export function flagOption(values: OptionValues, name: string): boolean {
  return values[name] === true;
}

export function integerOption(values: OptionValues, name: string): number | undefined {
  const raw = stringOption(values, name);
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw) || Number(raw) > 2 ** 31 - 1) {
    throw new UsageError(`--${name} must be a whole number, not ${JSON.stringify(raw)}`);
  }
  return Number(raw);
}

export function requiredOption(values: OptionValues, name: string): string {
  const value = stringOption(values, name);
  if (value === undefined || value === '') throw new UsageError(`--${name} is required`);
  return value;
}

export function oneOfOption<T extends string>(values: OptionValues, name: string, allowed: readonly T[]): T | undefined {
  const raw = stringOption(values, name);
  if (raw === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new UsageError(`--${name} must be one of ${allowed.join(', ')}, not ${JSON.stringify(raw)}`);
  }
  return raw as T;
}

/** The one positional argument of a command that takes exactly one (arity is checked before run). */
export function soleArgument(invocation: Invocation): string {
  const [first] = invocation.args;
  if (first === undefined) throw new UsageError('missing argument');
  return first;
}
