// Whether `docker build` sends a path of the build context, by .dockerignore's rules (moby/patternmatcher): each
// pattern is matched against the path and each of its parent directories; a later pattern overrides an earlier
// one, and `!pattern` sends again what an earlier pattern left out.

interface Rule {
  readonly pattern: RegExp;
  readonly sends: boolean;
}

export function dockerignoreRules(text: string): Rule[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const sends = line.startsWith('!');
      const glob = (sends ? line.slice(1) : line).trim().replace(/^\/+/, '').replace(/\/+$/, '');
      return { pattern: globToRegExp(glob), sends };
    });
}

/** True when the build context leaves `path` (relative to the context, with / separators) out. */
export function isIgnored(rules: readonly Rule[], path: string): boolean {
  const candidates = path.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
  let ignored = false;
  for (const rule of rules) {
    if (candidates.some((candidate) => rule.pattern.test(candidate))) ignored = !rule.sends;
  }
  return ignored;
}

/** Go's filepath.Match syntax plus `**` (any number of directories). */
function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const char = glob[i] ?? '';
    if (char === '*' && glob[i + 1] === '*') {
      const slash = glob[i + 2] === '/';
      source += slash ? '(?:.*/)?' : '.*';
      i += slash ? 2 : 1;
    } else if (char === '*') source += '[^/]*';
    else if (char === '?') source += '[^/]';
    else if (char === '[') {
      const end = glob.indexOf(']', i);
      if (end < 0) throw new Error(`.dockerignore: unclosed [ in ${glob}`);
      source += glob.slice(i, end + 1).replace(/^\[[!^]/, '[^/');
      i = end;
    } else source += char.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}
