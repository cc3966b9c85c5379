import { posix } from 'node:path';

// What a Dockerfile's final stage makes, read by interpreting its instructions the way `docker build` would for the
// parts a deployment depends on: who owns which directory, who the server runs as, its environment, its ports and
// volumes, and which files the build context must send. No Docker engine is needed (or available) to check these.

/** One instruction, its continuation lines joined. */
export interface Instruction {
  readonly keyword: string;
  readonly args: string;
  readonly line: number;
}

/** A directory or file in the final image, with the owner (user and group names) and mode `docker build` gives it. */
export interface ImagePath {
  readonly kind: 'directory' | 'copied';
  user: string;
  group: string;
  mode: number;
}

export interface Image {
  readonly workdir: string;
  /** The user the container's process runs as: the last USER of the final stage (root without one). */
  readonly user: string;
  readonly env: Readonly<Record<string, string>>;
  readonly exposed: readonly number[];
  readonly volumes: readonly string[];
  /** Absolute paths the final stage created (WORKDIR, RUN mkdir, COPY), with owner and mode. */
  readonly paths: ReadonlyMap<string, ImagePath>;
  /** Build-context paths COPY and ADD read, in every stage (not `--from` copies). */
  readonly contextSources: readonly string[];
}

/** Splits a Dockerfile into instructions: comments and blank lines dropped, `\` continuations joined. */
export function parseDockerfile(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  let pending: { text: string; line: number } | undefined;
  text.split('\n').forEach((raw, index) => {
    const line = raw.trimEnd();
    if (/^\s*#/.test(line) || (pending === undefined && line.trim() === '')) return;
    const continued = line.endsWith('\\');
    const part = continued ? line.slice(0, -1) : line;
    pending = pending === undefined ? { text: part.trim(), line: index + 1 } : { ...pending, text: `${pending.text} ${part.trim()}` };
    if (continued) return;
    const match = /^(\S+)\s*(.*)$/.exec(pending.text);
    if (match) instructions.push({ keyword: (match[1] ?? '').toUpperCase(), args: match[2] ?? '', line: pending.line });
    pending = undefined;
  });
  return instructions;
}

/** The final image of `dockerfile`. Throws on what it cannot interpret rather than guess (variables, unknown flags). */
export function interpretDockerfile(dockerfile: string): Image {
  const instructions = parseDockerfile(dockerfile);
  const contextSources: string[] = [];
  let stage = new Stage();
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') stage = new Stage();
    else stage.apply(instruction, contextSources);
  }
  return { ...stage.image(), contextSources };
}

/** The part of an image one stage builds. */
class Stage {
  private workdir = '/';
  private user = 'root';
  private readonly env: Record<string, string> = {};
  private readonly exposed: number[] = [];
  private readonly volumes: string[] = [];
  private readonly paths = new Map<string, ImagePath>();

  image(): Omit<Image, 'contextSources'> {
    return { workdir: this.workdir, user: this.user, env: this.env, exposed: this.exposed, volumes: this.volumes, paths: this.paths };
  }

  apply({ keyword, args, line }: Instruction, contextSources: string[]): void {
    const fail = (why: string) => new Error(`Dockerfile line ${line}: ${keyword} ${args}: ${why}`);
    if (/\$/.test(args) && keyword !== 'HEALTHCHECK' && keyword !== 'CMD' && keyword !== 'ENTRYPOINT') throw fail('variables are not interpreted');
    switch (keyword) {
      case 'WORKDIR':
        this.workdir = this.resolve(args.trim());
        // WORKDIR creates a missing directory owned by root, whatever USER says.
        this.makeDirectory(this.workdir, 'root', 'root');
        return;
      case 'USER':
        this.user = args.trim().split(':')[0] ?? '';
        return;
      case 'ENV':
        Object.assign(this.env, parseEnv(args, fail));
        return;
      case 'EXPOSE':
        for (const port of args.trim().split(/\s+/)) {
          const match = /^(\d+)(\/tcp)?$/.exec(port);
          if (!match) throw fail(`cannot read the port ${port}`);
          this.exposed.push(Number(match[1]));
        }
        return;
      case 'VOLUME':
        this.volumes.push(...words(args).map((path) => this.resolve(path)));
        return;
      case 'COPY':
      case 'ADD':
        this.copy(args, contextSources, fail);
        return;
      case 'RUN':
        for (const command of shellCommands(args, fail)) this.run(command, fail);
        return;
      default:
        // ARG, LABEL, CMD, ENTRYPOINT, HEALTHCHECK, SHELL, STOPSIGNAL: nothing a deployment's files depend on.
        return;
    }
  }

  private copy(args: string, contextSources: string[], fail: (why: string) => Error): void {
    const parts = words(args);
    const flags = parts.filter((part) => part.startsWith('--'));
    const operands = parts.filter((part) => !part.startsWith('--'));
    let owner = { user: 'root', group: 'root' };
    let fromContext = true;
    for (const flag of flags) {
      const [name, value = ''] = flag.slice(2).split('=');
      if (name === 'from') fromContext = false;
      else if (name === 'chown') {
        const [user = '', group = user] = value.split(':');
        owner = { user, group };
      } else if (name !== 'link') throw fail(`the flag --${name} is not interpreted`);
    }
    const destination = operands.pop();
    if (destination === undefined || operands.length === 0) throw fail('needs sources and a destination');
    if (fromContext) contextSources.push(...operands.map((source) => posix.normalize(source).replace(/\/$/, '')));
    // `COPY a b dir/` copies into dir/; `COPY src ./src` copies to ./src.
    const into = destination.endsWith('/') || operands.length > 1;
    for (const source of operands) {
      const target = into ? this.resolve(posix.join(destination, posix.basename(source))) : this.resolve(destination);
      this.makeDirectory(posix.dirname(target), 'root', 'root');
      this.paths.set(target, { kind: 'copied', ...owner, mode: 0o755 });
    }
  }

  /** mkdir, chown and chmod change what this image holds; other commands (apt-get, npm) do not touch its paths. */
  private run(command: string[], fail: (why: string) => Error): void {
    const [name, ...rest] = command;
    const options = rest.filter((word) => word.startsWith('-'));
    const operands = rest.filter((word) => !word.startsWith('-'));
    if (name === 'mkdir') {
      const mode = options.includes('-m') ? Number.parseInt(operands.shift() ?? '', 8) : 0o755;
      if (options.some((option) => option !== '-p' && option !== '-m')) throw fail(`mkdir ${options.join(' ')} is not interpreted`);
      for (const path of operands) this.makeDirectory(this.resolve(path), this.user, this.user, mode);
    } else if (name === 'chown') {
      const [owner = '', ...paths] = operands;
      const [user = '', group] = owner.split(':');
      for (const path of this.affected(paths, options, fail)) {
        path.user = user;
        if (group !== undefined) path.group = group;
      }
    } else if (name === 'chmod') {
      const [mode = '', ...paths] = operands;
      if (!/^[0-7]{3,4}$/.test(mode)) throw fail(`chmod ${mode}: only octal modes are interpreted`);
      for (const path of this.affected(paths, options, fail)) path.mode = Number.parseInt(mode, 8);
    }
  }

  /** The entries `paths` name, with everything below them when `-R` is given. */
  private affected(paths: string[], options: string[], fail: (why: string) => Error): ImagePath[] {
    if (options.some((option) => option !== '-R')) throw fail(`${options.join(' ')} is not interpreted`);
    const recursive = options.includes('-R');
    const roots = paths.map((path) => this.resolve(path));
    return [...this.paths].filter(([path]) => roots.some((root) => path === root || (recursive && path.startsWith(`${root}/`)))).map(([, entry]) => entry);
  }

  /** Like `mkdir -p`: missing parents too, each owned by the given user. */
  private makeDirectory(path: string, user: string, group: string, mode = 0o755): void {
    if (path === '/' || this.paths.has(path)) return;
    this.makeDirectory(posix.dirname(path), user, group);
    this.paths.set(path, { kind: 'directory', user, group, mode });
  }

  private resolve(path: string): string {
    return posix.resolve(this.workdir, path);
  }
}

/** `ENV A=1 B="two words"`, or the old `ENV A value` form. */
function parseEnv(args: string, fail: (why: string) => Error): Record<string, string> {
  const env: Record<string, string> = {};
  const legacy = /^([A-Za-z_][A-Za-z0-9_]*)\s+([^=]*)$/.exec(args.trim());
  if (legacy) return { [legacy[1] ?? '']: (legacy[2] ?? '').trim() };
  for (const word of words(args)) {
    const equals = word.indexOf('=');
    if (equals <= 0) throw fail(`cannot read ${word}`);
    env[word.slice(0, equals)] = word.slice(equals + 1);
  }
  return env;
}

/** A JSON array (`["a", "b"]`) or shell words: split at whitespace outside quotes, the quotes removed. */
function words(args: string): string[] {
  const trimmed = args.trim();
  if (trimmed.startsWith('[')) return JSON.parse(trimmed) as string[];
  const result: string[] = [];
  let current: string | undefined;
  let quote: string | undefined;
  for (const char of trimmed) {
    if (quote !== undefined) {
      if (char === quote) quote = undefined;
      else current += char;
    } else if (char === '"' || char === "'") {
      quote = char;
      current ??= '';
    } else if (/\s/.test(char)) {
      if (current !== undefined) result.push(current);
      current = undefined;
    } else {
      current = (current ?? '') + char;
    }
  }
  if (current !== undefined) result.push(current);
  return result;
}

/** The simple commands of a RUN line, split at `&&` and `;`. */
function shellCommands(args: string, fail: (why: string) => Error): string[][] {
  if (args.trim().startsWith('[')) return [words(args)];
  if (/[|`<>]/.test(args)) throw fail('pipes, || and redirections are not interpreted');
  return args.split(/&&|;/).map((command) => words(command)).filter((command) => command.length > 0);
}
