// A loopback stand-in for Cloudflare's DNS records API (v4), enough of it for the DNS provider: list with name/type
// filters and pages, batch (deletes, puts, posts in Cloudflare's order, in one transaction), bearer-token auth,
// answers in Cloudflare's envelope {success, errors, messages, result, result_info}, and errors a test scripts.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StoredRecord {
  readonly id: string;
  readonly name: string;
  readonly type: string;
  readonly ttl: number;
  readonly content?: string;
  readonly data?: Record<string, unknown>;
}

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingMessage['headers'];
  readonly body: unknown;
}

export interface ScriptedAnswer {
  readonly status: number;
  readonly errors: readonly { code: number; message: string }[];
  readonly headers?: Record<string, string>;
  /** Only for a request of this method (the list is a GET, the batch a POST); any request when absent. */
  readonly method?: 'GET' | 'POST';
}

export interface CloudflareStandIn {
  /** The API base URL, like https://api.cloudflare.com/client/v4. */
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** The zone's records by id. */
  readonly records: Map<string, StoredRecord>;
  /** Adds a record as if made elsewhere (the dashboard, an earlier run); returns it. */
  seed(record: Omit<StoredRecord, 'id'>): StoredRecord;
  /** Answers the next requests (one each, in order, of the method given) with these errors before serving normally again. */
  script(...answers: ScriptedAnswer[]): void;
  close(): Promise<void>;
}

const BASE = '/client/v4';

/** Cloudflare's record fields it fills in itself. */
function asResult(record: StoredRecord, zoneName: string) {
  return {
    ...record,
    proxiable: false,
    proxied: false,
    settings: {},
    meta: {},
    comment: null,
    tags: [],
    created_on: '2025-01-01T00:00:00.000000Z',
    modified_on: '2025-01-01T00:00:00.000000Z',
    zone_name: zoneName,
  };
}

/** Starts the stand-in for one zone (`zoneId`, apex `zoneName`), accepting `Authorization: Bearer <apiToken>`. */
export async function startCloudflareStandIn(options: { zoneId: string; zoneName: string; apiToken: string }): Promise<CloudflareStandIn> {
  const requests: RecordedRequest[] = [];
  const records = new Map<string, StoredRecord>();
  const scripted: ScriptedAnswer[] = [];
  let nextId = 1;
  const newId = () => `rec${String(nextId++).padStart(29, '0')}`;

  const send = (response: ServerResponse, status: number, body: object, headers: Record<string, string> = {}) => {
    response.writeHead(status, { 'content-type': 'application/json', ...headers });
    response.end(JSON.stringify(body));
  };
  const fail = (response: ServerResponse, status: number, errors: readonly { code: number; message: string }[], headers?: Record<string, string>) =>
    send(response, status, { success: false, errors, messages: [], result: null }, headers);

  /** Cloudflare's checks of one record param; a message when it is refused. */
  const invalid = (param: Record<string, unknown>): string | undefined => {
    const name = String(param.name ?? '').toLowerCase();
    if (name !== options.zoneName && !name.endsWith(`.${options.zoneName}`)) return `Record name ${name} is not within zone ${options.zoneName}`;
    const ttl = Number(param.ttl);
    if (!(ttl === 1 || (ttl >= 60 && ttl <= 86_400))) return 'Invalid TTL. Must be between 60 and 86400 seconds, or 1 for Automatic.';
    if (param.type === 'TXT' && !/^"/.test(String(param.content ?? ''))) return 'TXT content must be quoted character-strings.';
    if (param.type !== 'TXT' && typeof param.data !== 'object') return `${String(param.type)} records take their fields in data.`;
    return undefined;
  };

  const stored = (id: string, param: Record<string, unknown>): StoredRecord => ({
    id,
    name: String(param.name).toLowerCase(),
    type: String(param.type),
    ttl: Number(param.ttl),
    ...(param.type === 'TXT' ? { content: String(param.content) } : { data: param.data as Record<string, unknown> }),
  });

  const batch = (response: ServerResponse, body: Record<string, unknown>) => {
    const list = (key: string) => (Array.isArray(body[key]) ? (body[key] as Record<string, unknown>[]) : []);
    // One transaction: every operation is checked against the zone first; one bad operation changes nothing.
    const staged = new Map(records);
    const result = { deletes: [] as object[], patches: [] as object[], puts: [] as object[], posts: [] as object[] };
    for (const item of list('deletes')) {
      const existing = staged.get(String(item.id));
      if (existing === undefined) return fail(response, 404, [{ code: 81044, message: 'Record does not exist.' }]);
      staged.delete(existing.id);
      result.deletes.push(asResult(existing, options.zoneName));
    }
    for (const item of list('puts')) {
      if (!staged.has(String(item.id))) return fail(response, 404, [{ code: 81044, message: 'Record does not exist.' }]);
      const problem = invalid(item);
      if (problem !== undefined) return fail(response, 400, [{ code: 9005, message: problem }]);
      const record = stored(String(item.id), item);
      staged.set(record.id, record);
      result.puts.push(asResult(record, options.zoneName));
    }
    for (const item of list('posts')) {
      const problem = invalid(item);
      if (problem !== undefined) return fail(response, 400, [{ code: 9005, message: problem }]);
      const record = stored(newId(), item);
      staged.set(record.id, record);
      result.posts.push(asResult(record, options.zoneName));
    }
    records.clear();
    for (const [id, record] of staged) records.set(id, record);
    return send(response, 200, { success: true, errors: [], messages: [], result });
  };

  const listRecords = (response: ServerResponse, query: URLSearchParams) => {
    const name = query.get('name.exact')?.toLowerCase();
    const type = query.get('type');
    const page = Number(query.get('page') ?? 1);
    const perPage = Number(query.get('per_page') ?? 100);
    const matching = [...records.values()].filter((record) => (name === undefined || record.name === name) && (type === null || record.type === type));
    const slice = matching.slice((page - 1) * perPage, page * perPage);
    send(response, 200, {
      success: true,
      errors: [],
      messages: [],
      result: slice.map((record) => asResult(record, options.zoneName)),
      result_info: { page, per_page: perPage, count: slice.length, total_count: matching.length, total_pages: Math.max(1, Math.ceil(matching.length / perPage)) },
    });
  };

  const handle = (request: IncomingMessage, response: ServerResponse, raw: string) => {
    const url = new URL(request.url ?? '/', 'http://stand-in');
    const body: unknown = raw === '' ? undefined : JSON.parse(raw);
    requests.push({ method: request.method ?? '', path: url.pathname, query: url.searchParams, headers: request.headers, body });

    if (request.headers.authorization !== `Bearer ${options.apiToken}`) return fail(response, 403, [{ code: 10000, message: 'Authentication error' }]);
    const scriptedIndex = scripted.findIndex((answer) => answer.method === undefined || answer.method === request.method);
    const [next] = scriptedIndex < 0 ? [] : scripted.splice(scriptedIndex, 1);
    if (next !== undefined) return fail(response, next.status, next.errors, next.headers);
    const recordsPath = `${BASE}/zones/${options.zoneId}/dns_records`;
    if (!url.pathname.startsWith(`${BASE}/zones/${options.zoneId}/`)) {
      return fail(response, 400, [{ code: 7003, message: `Could not route to ${url.pathname.slice(BASE.length)}, perhaps your object identifier is invalid?` }]);
    }
    if (request.method === 'GET' && url.pathname === recordsPath) return listRecords(response, url.searchParams);
    if (request.method === 'POST' && url.pathname === `${recordsPath}/batch`) return batch(response, body as Record<string, unknown>);
    return fail(response, 405, [{ code: 10405, message: `Method ${request.method} not allowed for this path` }]);
  };

  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => handle(request, response, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${BASE}`,
    requests,
    records,
    seed(record) {
      const created = { ...record, id: newId() };
      records.set(created.id, created);
      return created;
    },
    script: (...answers) => scripted.push(...answers),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
