// Hash routes (#/agents/<name>?tab=...), so / is the only document the server serves and every view has a URL
// that can be bookmarked, reloaded and opened with the keyboard.
export interface Route {
  /** The path's segments after '#/', decoded: ['agents', 'a.example']. */
  readonly segments: readonly string[];
  readonly query: URLSearchParams;
}

export function currentRoute(): Route {
  const hash = location.hash.replace(/^#\/?/, '');
  const [path = '', search = ''] = hash.split('?', 2);
  const segments = path.split('/').filter((segment) => segment !== '').map((segment) => decodeURIComponent(segment));
  return { segments, query: new URLSearchParams(search) };
}

/** A link target for a route: href('agents', name) → '#/agents/<name>'. */
export function href(segments: readonly string[], query?: Record<string, string | undefined>): string {
  const path = segments.map((segment) => encodeURIComponent(segment)).join('/');
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query ?? {})) if (value !== undefined && value !== '') params.set(name, value);
  const search = params.toString();
  return `#/${path}${search ? `?${search}` : ''}`;
}

export function navigate(target: string): void {
  location.hash = target.replace(/^#/, '');
}
