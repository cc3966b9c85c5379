// `atr agent run`: what `step ca renew --daemon` and SPIRE's agent do for their users. It keeps an agent's key and
// certificate files renewed over the registry's mTLS listener and tells the agent's own process (--exec) each time.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { VerifyService } from '../../gen/atr/v1/verify_pb.js';
import { type RenewedCertificate, type RenewingIdentity, createRenewingIdentity } from '../sdk/renewing-identity.ts';
import { type AgentFilePaths, agentFiles, mtlsServer, writeRenewed } from './agent-identity.ts';
import { EXIT_EXPIRED, EXIT_REVOKED } from './defaults.ts';
import { type Invocation, type OptionValues, UsageError, errorLine, flagOption, requiredOption, stringOption } from './command.ts';
import type { Output } from './output.ts';

/** How long a child may take to exit after SIGTERM before it is killed. */
const STOP_GRACE_MS = 10_000;

export async function agentRun(invocation: Invocation): Promise<number> {
  const { values, out } = invocation;
  const files = agentFiles(values);
  const command = stringOption(values, 'exec');
  const words = command === undefined ? undefined : commandWords(command);
  const reload = reloadOption(values, words !== undefined);
  const identity = createRenewingIdentity({
    mtlsUrl: mtlsServer(invocation),
    certPem: readFileSync(files.cert, 'utf8'),
    keyPem: readFileSync(files.key, 'utf8'),
    trustBundlePem: readFileSync(files.cacert, 'utf8'),
    renewAt: fractionOption(values, 'renew-at') ?? 2 / 3,
    registry: { verify: invocation.client(VerifyService) },
  });
  const name = requiredOption(values, 'name');
  if (identity.agentName !== name) {
    await identity.stop();
    throw new Error(`${files.cert} is ${identity.agentName}'s certificate, not ${name}'s`);
  }
  const child = words === undefined ? undefined : new Child(words);
  return supervise({ identity, files, child, reload, out });
}

/** `2/3` or `0.66`: a fraction strictly between 0 and 1. */
function fractionOption(values: OptionValues, name: string): number | undefined {
  const raw = stringOption(values, name);
  if (raw === undefined) return undefined;
  const ratio = /^(\d+)\/(\d+)$/.exec(raw);
  const value = ratio ? Number(ratio[1]) / Number(ratio[2]) : /^\d*\.\d+$/.test(raw) ? Number(raw) : NaN;
  if (!(value > 0 && value < 1)) throw new UsageError(`--${name} must be a fraction between 0 and 1 such as 2/3 or 0.75, not ${JSON.stringify(raw)}`);
  return value;
}

/** What a renewal does to the child: a signal, a restart, or nothing without --exec. */
type Reload = { readonly kind: 'signal'; readonly signal: NodeJS.Signals } | { readonly kind: 'restart' } | undefined;

function reloadOption(values: OptionValues, executing: boolean): Reload {
  const signal = stringOption(values, 'signal');
  const restart = flagOption(values, 'restart');
  if (!executing && (signal !== undefined || restart)) throw new UsageError('--signal and --restart need --exec');
  if (signal !== undefined && restart) throw new UsageError('give --signal or --restart, not both');
  if (!executing) return undefined;
  if (restart) return { kind: 'restart' };
  const name = (signal ?? 'SIGHUP').toUpperCase();
  const full = name.startsWith('SIG') ? name : `SIG${name}`;
  if (!(full in constants.signals)) throw new UsageError(`--signal: unknown signal ${JSON.stringify(signal)}`);
  return { kind: 'signal', signal: full as NodeJS.Signals };
}

/**
 * CMD as words, quoted like a shell's ('...' literally, "..." with \" and \\, a backslash escaping one character)
 * but run without one, so that the signal reaches the program itself and not a shell in front of it.
 */
export function commandWords(command: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < command.length; i += 1) {
    const c = command.charAt(i);
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === '\\' && /["\\$`]/.test(command.charAt(i + 1))) word += command.charAt(++i);
      else word += c;
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (c === "'" || c === '"') {
      quote = c;
      word ??= '';
    } else if (c === '\\' && i + 1 < command.length) {
      word = (word ?? '') + command.charAt(++i);
    } else {
      word = (word ?? '') + c;
    }
  }
  if (quote !== undefined) throw new UsageError(`--exec: unterminated ${quote} quote`);
  if (word !== undefined) words.push(word);
  if (words.length === 0) throw new UsageError('--exec: no command given');
  return words;
}

/** How the run ended: a signal to atr, the registry's refusal or expiry, or the child exiting by itself. */
type Outcome = { readonly code: number; readonly why: string };

async function supervise(run: {
  identity: RenewingIdentity;
  files: AgentFilePaths;
  child: Child | undefined;
  reload: Reload;
  out: Output;
}): Promise<number> {
  const { identity, files, child, reload, out } = run;
  const log = (event: string, fields: Record<string, string | number>) =>
    out.line([new Date().toISOString(), event, `agent=${identity.agentName}`, ...Object.entries(fields).map(([k, v]) => `${k}=${v}`)].join(' '));
  let finish: (outcome: Outcome) => void = () => undefined;
  const finished = new Promise<Outcome>((resolve) => (finish = resolve));

  const onRenewed = async (renewed: RenewedCertificate) => {
    try {
      writeRenewed(files, renewed);
    } catch (error) {
      errorLine(`${new Date().toISOString()} writing the renewed files failed: ${(error as Error).message}; the next renewal writes them again`);
      return;
    }
    const told = child === undefined || reload === undefined ? undefined : await child.reload(reload);
    log('renewed', {
      fingerprint: renewed.fingerprint,
      not_after: renewed.notAfter.toISOString(),
      previous: renewed.previousFingerprint,
      ...(told === undefined ? {} : { child: told }),
    });
  };
  identity.on('renewed', (renewed) => void onRenewed(renewed));
  identity.on('error', (error) => errorLine(`${new Date().toISOString()} ${error.message}; retrying in ${Math.ceil(error.retryInMs / 1000)}s`));
  identity.on('revoked', ({ reason, fingerprint, message }) =>
    finish({ code: EXIT_REVOKED, why: `certificate ${fingerprint} was ${reason}: ${message}` }),
  );
  identity.on('expired', ({ fingerprint, notAfter }) =>
    finish({ code: EXIT_EXPIRED, why: `certificate ${fingerprint} expired at ${notAfter.toISOString()} before it could be renewed` }),
  );
  const onSignal = (signal: NodeJS.Signals) => finish({ code: 0, why: signal });
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  child?.start((code) => finish({ code, why: `the command exited with code ${code}` }));

  log('started', {
    fingerprint: identity.fingerprint,
    not_after: identity.notAfter.toISOString(),
    renew_at: identity.nextAttemptAt?.toISOString() ?? 'now',
    ...(child?.pid === undefined ? {} : { child: child.pid }),
  });
  const outcome = await finished;
  try {
    // A renewal in flight is finished and written (onRenewed) before the child is stopped.
    await identity.stop();
    await child?.close();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (outcome.code === 0) log('stopped', { signal: outcome.why });
  else errorLine(`${new Date().toISOString()} ${outcome.why}`);
  return outcome.code;
}

/** The agent's own process: started once, signalled or restarted on renewals, stopped at the end. */
class Child {
  private process: ChildProcess | undefined;
  private onExit: (code: number) => void = () => undefined;
  /** The process atr is stopping itself (a restart or the end), whose exit does not end the run. */
  private stopping: ChildProcess | undefined;
  private closed = false;

  constructor(private readonly words: readonly string[]) {}

  get pid(): number | undefined {
    return this.process?.pid;
  }

  start(onExit: (code: number) => void): void {
    this.onExit = onExit;
    const [program = '', ...args] = this.words;
    const started = spawn(program, args, { stdio: 'inherit' });
    const exited = (code: number) => {
      if (this.stopping !== started) this.onExit(code);
    };
    started.on('error', (error) => {
      errorLine(`cannot run ${program}: ${error.message}`);
      exited(127);
    });
    started.on('exit', (code, signal) => exited(code ?? 128 + (signal ? constants.signals[signal] : 0)));
    this.process = started;
  }

  /** Applies a renewal; says what was done, for the log line. */
  async reload(reload: NonNullable<Reload>): Promise<string> {
    const before = this.pid;
    if (reload.kind === 'signal') {
      this.process?.kill(reload.signal);
      return `${reload.signal}:${before ?? ''}`;
    }
    await this.terminate();
    if (this.closed) return `stopped:${before ?? ''}`;
    this.start(this.onExit);
    return `restarted:${before ?? ''}->${this.pid ?? ''}`;
  }

  /** Stops the process for good: no restart after this. */
  async close(): Promise<void> {
    this.closed = true;
    await this.terminate();
  }

  /** SIGTERM, then SIGKILL after a grace period; resolves when the process has exited. */
  private async terminate(): Promise<void> {
    const running = this.process;
    if (running === undefined || running.pid === undefined || running.exitCode !== null || running.signalCode !== null) return;
    this.stopping = running;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    running.kill('SIGTERM');
    const timer = setTimeout(() => running.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  }
}
