// docker-compose.yml, read for the tests. No YAML library is installed, so this reads the part of YAML a compose file
// like ours uses — block mappings and sequences, plain and quoted scalars, one-line flow sequences, comments,
// anchors, aliases and `<<` merge keys — and throws on anything else (block scalars, flow mappings, tags), so a
// construct it does not know fails the test instead of being misread.

export type Yaml = null | boolean | number | string | Yaml[] | { [key: string]: Yaml };
type Mapping = { [key: string]: Yaml };

interface Line {
  readonly indent: number;
  readonly text: string;
  readonly number: number;
}

/** Parses the YAML subset described above into plain values (YAML 1.2 core schema scalars). */
export function parseYaml(source: string): Yaml {
  const lines = source.split('\n').flatMap((raw, index): Line[] => {
    const text = stripComment(raw).trimEnd();
    if (text.trim() === '') return [];
    if (/^\t/.test(raw)) throw new Error(`line ${index + 1}: tabs are not YAML indentation`);
    return [{ indent: text.length - text.trimStart().length, text: text.trim(), number: index + 1 }];
  });
  const reader = new Reader(lines);
  const value = reader.block(0);
  reader.expectEnd();
  return value;
}

class Reader {
  private position = 0;
  private readonly anchors = new Map<string, Yaml>();

  constructor(private readonly lines: readonly Line[]) {}

  expectEnd(): void {
    const line = this.lines[this.position];
    if (line !== undefined) throw new Error(`line ${line.number}: unexpected indentation`);
  }

  /** The mapping or sequence whose lines are indented by exactly the first line's indent, at least `minIndent`. */
  block(minIndent: number): Yaml {
    const first = this.lines[this.position];
    if (first === undefined || first.indent < minIndent) return null;
    return first.text === '-' || first.text.startsWith('- ') ? this.sequence(first.indent) : this.mapping(first.indent);
  }

  private sequence(indent: number): Yaml[] {
    const items: Yaml[] = [];
    for (let line = this.lines[this.position]; line !== undefined && line.indent === indent; line = this.lines[this.position]) {
      if (!(line.text === '-' || line.text.startsWith('- '))) throw new Error(`line ${line.number}: expected a sequence item`);
      const rest = line.text.slice(1).trim();
      this.position++;
      if (rest === '') items.push(this.block(indent + 1));
      else if (/^[^"'[{][^:]*:(\s|$)/.test(rest)) throw new Error(`line ${line.number}: mappings inside sequence items are not read`);
      else items.push(this.value(rest, line, indent));
    }
    return items;
  }

  private mapping(indent: number): Mapping {
    const result: Mapping = {};
    const merged: Mapping = {};
    for (let line = this.lines[this.position]; line !== undefined && line.indent === indent; line = this.lines[this.position]) {
      const match = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s"'#][^:]*?):(?:\s+(.*))?$/.exec(line.text);
      if (!match) throw new Error(`line ${line.number}: expected key: value`);
      const key = String(scalar(match[1] ?? '', line));
      this.position++;
      const value = this.value(match[2] ?? '', line, indent);
      if (key === '<<') {
        if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error(`line ${line.number}: << merges a mapping`);
        Object.assign(merged, value);
      } else {
        if (Object.hasOwn(result, key)) throw new Error(`line ${line.number}: duplicate key ${key}`);
        result[key] = value;
      }
    }
    // Keys written in the mapping win over merged ones, wherever the << stands.
    return { ...merged, ...result };
  }

  /** What follows `key:` or `- `: an alias, an anchored value, a flow sequence, a scalar, or a nested block. */
  private value(text: string, line: Line, indent: number): Yaml {
    const anchor = /^&([^\s]+)(?:\s+(.*))?$/.exec(text);
    if (anchor) {
      const value = this.value(anchor[2] ?? '', line, indent);
      this.anchors.set(anchor[1] ?? '', value);
      return value;
    }
    if (text.startsWith('*')) {
      const name = text.slice(1);
      if (!this.anchors.has(name)) throw new Error(`line ${line.number}: unknown alias *${name}`);
      return structuredClone(this.anchors.get(name) ?? null);
    }
    if (text === '') return this.block(indent + 1);
    if (/^[|>!{]/.test(text)) throw new Error(`line ${line.number}: block scalars, tags and flow mappings are not read`);
    if (text.startsWith('[')) return flowSequence(text, line);
    return scalar(text, line);
  }
}

/** `[a, "b", '']` on one line. */
function flowSequence(text: string, line: Line): Yaml[] {
  if (!text.endsWith(']')) throw new Error(`line ${line.number}: a flow sequence must end on its line`);
  const inner = text.slice(1, -1).trim();
  if (inner === '') return [];
  const items = inner.match(/"(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^,]+/g) ?? [];
  const separators = inner.replace(/"(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^,]+/g, '').length;
  if (separators !== items.length - 1) throw new Error(`line ${line.number}: cannot read the flow sequence ${text}`);
  return items.map((item) => scalar(item.trim(), line));
}

function scalar(text: string, line: Line): Yaml {
  if (text.startsWith('"')) {
    if (!/^"(?:[^"\\]|\\.)*"$/.test(text)) throw new Error(`line ${line.number}: unterminated string ${text}`);
    return JSON.parse(text) as string;
  }
  if (text.startsWith("'")) {
    if (!/^'(?:[^']|'')*'$/.test(text)) throw new Error(`line ${line.number}: unterminated string ${text}`);
    return text.slice(1, -1).replaceAll("''", "'");
  }
  if (/^[&*!|>{[\]@`]/.test(text)) throw new Error(`line ${line.number}: cannot read ${text}`);
  if (/^(null|Null|NULL|~)$/.test(text)) return null;
  if (/^(true|True|TRUE)$/.test(text)) return true;
  if (/^(false|False|FALSE)$/.test(text)) return false;
  if (/^[-+]?(\d+|\d*\.\d+)([eE][-+]?\d+)?$/.test(text)) return Number(text);
  return text;
}

/** The line without its comment: a # at the start or after whitespace, outside quotes. */
function stripComment(line: string): string {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const char = line[i];
    if (quote !== undefined) {
      if (char === '\\' && quote === '"') i++;
      else if (char === quote) quote = undefined;
    } else if (char === '"' || char === "'") {
      quote = char;
    } else if (char === '#' && (i === 0 || /\s/.test(line[i - 1] ?? ''))) {
      return line.slice(0, i);
    }
  }
  return line;
}

/** A compose service, with the fields the tests read in the shape compose gives them after its own normalisation. */
export interface ComposeService {
  readonly name: string;
  /** The build context, when the service is built rather than pulled. */
  readonly build: string | undefined;
  readonly profiles: readonly string[];
  readonly environment: Readonly<Record<string, string>>;
  readonly volumes: readonly { readonly source: string; readonly target: string }[];
  /** Published ports: the host address and port, and the container port. */
  readonly ports: readonly { readonly host: string; readonly published: number; readonly target: number }[];
  readonly dependsOn: Readonly<Record<string, string>>;
}

/** The services of a compose file. */
export function composeServices(source: string): ComposeService[] {
  const document = asMapping(parseYaml(source), 'the file');
  return Object.entries(asMapping(document['services'] ?? null, 'services')).map(([name, value]) => {
    const service = asMapping(value, name);
    return {
      name,
      build: buildContext(service['build'] ?? null),
      profiles: ((service['profiles'] ?? []) as Yaml[]).map(String),
      environment: environment(service['environment'] ?? null),
      volumes: ((service['volumes'] ?? []) as Yaml[]).map((volume) => mount(volume, name)),
      ports: ((service['ports'] ?? []) as Yaml[]).map((port) => publishedPort(port, name)),
      dependsOn: dependencies(service['depends_on'] ?? null),
    };
  });
}

function asMapping(value: Yaml, what: string): Mapping {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error(`${what}: expected a mapping`);
  return value;
}

/** `build: .` or `build: { context: . }`. */
function buildContext(value: Yaml): string | undefined {
  if (value === null || typeof value === 'string') return value ?? undefined;
  const context = asMapping(value, 'build')['context'];
  return typeof context === 'string' ? context : undefined;
}

/** `KEY: value` or `- KEY=value`; compose passes numbers and booleans on as their text. */
function environment(value: Yaml): Record<string, string> {
  if (value === null) return {};
  if (Array.isArray(value)) return Object.fromEntries(value.map((item) => String(item).split(/=(.*)/s).slice(0, 2)));
  return Object.fromEntries(Object.entries(asMapping(value, 'environment')).map(([key, item]) => [key, item === null ? '' : String(item)]));
}

/** `source:target[:mode]` or `{ source, target }`. */
function mount(value: Yaml, service: string): { source: string; target: string } {
  if (typeof value === 'string') {
    const [source = '', target, ...rest] = value.split(':');
    if (target === undefined || rest.length > 1) throw new Error(`${service}: cannot read the volume ${value}`);
    return { source, target };
  }
  const long = asMapping(value, `${service} volume`);
  return { source: String(long['source'] ?? ''), target: String(long['target'] ?? '') };
}

/** `[host_ip:]published:target[/tcp]` or `{ target, published, host_ip }`. */
function publishedPort(value: Yaml, service: string): { host: string; published: number; target: number } {
  if (typeof value === 'string' || typeof value === 'number') {
    const match = /^(?:(?:\[([0-9a-f:]+)\]|([\d.]+)):)?(?:(\d+):)?(\d+)(?:\/tcp)?$/i.exec(String(value));
    if (!match) throw new Error(`${service}: cannot read the port ${value}`);
    const target = Number(match[4]);
    return { host: match[1] ?? match[2] ?? '0.0.0.0', published: Number(match[3] ?? target), target };
  }
  const long = asMapping(value, `${service} port`);
  return { host: String(long['host_ip'] ?? '0.0.0.0'), published: Number(long['published'] ?? long['target']), target: Number(long['target']) };
}

/** `[a, b]` or `{ a: { condition: ... } }`: each dependency with its condition. */
function dependencies(value: Yaml): Record<string, string> {
  if (value === null) return {};
  if (Array.isArray(value)) return Object.fromEntries(value.map((name) => [String(name), 'service_started']));
  return Object.fromEntries(
    Object.entries(asMapping(value, 'depends_on')).map(([name, item]) => [name, String(asMapping(item ?? { condition: 'service_started' }, name)['condition'] ?? 'service_started')]),
  );
}
