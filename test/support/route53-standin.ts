// A loopback stand-in for the Route 53 API (2013-04-01), enough of it for the DNS provider: ChangeResourceRecordSets
// applied atomically with Route 53's rules (DELETE must match the set exactly), ListResourceRecordSets, SigV4
// signatures checked with the secret key, errors in AWS's XML, and answers a test scripts ahead (throttling, 5xx).
import { createHash, createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StoredSet {
  readonly name: string;
  readonly type: string;
  readonly ttl: number;
  readonly values: readonly string[];
}

export interface ParsedChange {
  readonly action: string;
  readonly name: string;
  readonly type: string;
  readonly ttl: number;
  readonly values: readonly string[];
}

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
  /** The change batch of a ChangeResourceRecordSets call, as the XML said. */
  readonly changes: readonly ParsedChange[];
}

export interface ScriptedError {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  readonly type?: 'Sender' | 'Receiver';
}

export interface Route53StandIn {
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** The zone as Route 53 would hold it, keyed "name. TYPE". */
  readonly sets: Map<string, StoredSet>;
  /** Answers the next requests (one each, in order) with these errors before serving normally again. */
  script(...errors: ScriptedError[]): void;
  close(): Promise<void>;
}

const NS = 'https://route53.amazonaws.com/doc/2013-04-01/';

const xmlText = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function xmlDecode(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|quot|apos|lt|gt|amp);/gi, (_, entity: string) => {
    if (entity.startsWith('#x') || entity.startsWith('#X')) return String.fromCodePoint(Number.parseInt(entity.slice(2), 16));
    if (entity.startsWith('#')) return String.fromCodePoint(Number(entity.slice(1)));
    return ({ quot: '"', apos: "'", lt: '<', gt: '>', amp: '&' } as Record<string, string>)[entity.toLowerCase()] ?? '';
  });
}

const elements = (xml: string, tag: string) => [...xml.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))].map((m) => m[1] ?? '');
const element = (xml: string, tag: string) => elements(xml, tag)[0];

function parseChanges(body: string): ParsedChange[] {
  return elements(body, 'Change').map((change) => ({
    action: element(change, 'Action') ?? '',
    name: xmlDecode(element(change, 'Name') ?? ''),
    type: element(change, 'Type') ?? '',
    ttl: Number(element(change, 'TTL')),
    values: elements(change, 'Value').map(xmlDecode),
  }));
}

function errorXml(error: ScriptedError): string {
  return `<?xml version="1.0"?>\n<ErrorResponse xmlns="${NS}"><Error><Type>${error.type ?? 'Sender'}</Type><Code>${error.code}</Code><Message>${xmlText(error.message)}</Message></Error><RequestId>${crypto.randomUUID()}</RequestId></ErrorResponse>`;
}

const rfc3986 = (text: string) => encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** The SigV4 signature the request should carry (AWS "Create a signed AWS API request"), or why it cannot. */
function expectedSignature(request: IncomingMessage, url: URL, body: string, secret: string, credential: string, signedHeaders: string): string {
  const [, date, region, service, terminal] = credential.split('/');
  const amzDate = String(request.headers['x-amz-date'] ?? '');
  const query = [...url.searchParams].map(([k, v]) => [rfc3986(k), rfc3986(v)]).sort(([a, b], [c, d]) => (a! < c! ? -1 : a! > c! ? 1 : b! < d! ? -1 : 1)).map(([k, v]) => `${k}=${v}`).join('&');
  const headers = signedHeaders.split(';').map((name) => `${name}:${String(request.headers[name] ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const payload = String(request.headers['x-amz-content-sha256'] ?? createHash('sha256').update(body).digest('hex'));
  const canonical = [request.method, url.pathname.split('/').map(rfc3986).join('/'), query, headers, signedHeaders, payload].join('\n');
  const scope = `${date}/${region}/${service}/${terminal}`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
  let key: Buffer = createHmac('sha256', `AWS4${secret}`).update(date ?? '').digest();
  for (const part of [region, service, terminal]) key = createHmac('sha256', key).update(part ?? '').digest();
  return createHmac('sha256', key).update(toSign).digest('hex');
}

/** Route 53's order of sets: names compared label by label from the right, then types. */
function setOrder(a: StoredSet, b: StoredSet): number {
  const reverse = (name: string) => name.replace(/\.$/, '').split('.').reverse().join('.');
  const [x, y] = [reverse(a.name), reverse(b.name)];
  return x < y ? -1 : x > y ? 1 : a.type < b.type ? -1 : a.type > b.type ? 1 : 0;
}

function setXml(set: StoredSet): string {
  const records = set.values.map((value) => `<ResourceRecord><Value>${xmlText(value)}</Value></ResourceRecord>`).join('');
  return `<ResourceRecordSet><Name>${xmlText(set.name)}</Name><Type>${set.type}</Type><TTL>${set.ttl}</TTL><ResourceRecords>${records}</ResourceRecords></ResourceRecordSet>`;
}

/** Starts the stand-in for one hosted zone, accepting requests signed with this key pair in `region`. */
export async function startRoute53StandIn(options: { hostedZoneId: string; accessKeyId: string; secretAccessKey: string; region: string }): Promise<Route53StandIn> {
  const requests: RecordedRequest[] = [];
  const sets = new Map<string, StoredSet>();
  const scripted: ScriptedError[] = [];
  const zonePath = `/2013-04-01/hostedzone/${options.hostedZoneId}/rrset`;

  const send = (response: ServerResponse, status: number, xml: string) => {
    response.writeHead(status, { 'content-type': 'text/xml', 'x-amzn-requestid': crypto.randomUUID() });
    response.end(xml);
  };

  const changeBatch = (changes: readonly ParsedChange[]): string[] => {
    // Checked against the zone as it is, then applied whole: Route 53 changes nothing when one change is invalid.
    const problems: string[] = [];
    for (const change of changes) {
      const key = `${change.name.toLowerCase()} ${change.type}`;
      const current = sets.get(key);
      if (change.action === 'DELETE') {
        if (current === undefined) problems.push(`Tried to delete resource record set [name='${change.name}', type='${change.type}'] but it was not found`);
        else if (current.ttl !== change.ttl || [...current.values].sort().join('\n') !== [...change.values].sort().join('\n')) {
          problems.push(`Tried to delete resource record set [name='${change.name}', type='${change.type}'] but the values provided do not match the current values`);
        }
      } else if (change.action !== 'UPSERT' && change.action !== 'CREATE') problems.push(`Unknown action ${change.action}`);
      else if (change.values.length === 0) problems.push(`RRSet with DNS name ${change.name} has no resource records`);
    }
    if (problems.length > 0) return problems;
    for (const change of changes) {
      const key = `${change.name.toLowerCase()} ${change.type}`;
      if (change.action === 'DELETE') sets.delete(key);
      else sets.set(key, { name: change.name.toLowerCase(), type: change.type, ttl: change.ttl, values: change.values });
    }
    return [];
  };

  const handle = (request: IncomingMessage, response: ServerResponse, body: string) => {
    const url = new URL(request.url ?? '/', 'http://stand-in');
    const changes = request.method === 'POST' ? parseChanges(body) : [];
    requests.push({ method: request.method ?? '', path: url.pathname, query: url.searchParams, headers: request.headers, body, changes });

    const auth = /^AWS4-HMAC-SHA256 Credential=([^,]+), ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]+)$/.exec(String(request.headers.authorization ?? ''));
    if (auth === null) return send(response, 403, errorXml({ status: 403, code: 'MissingAuthenticationToken', message: 'Missing Authentication Token' }));
    const [, credential = '', signedHeaders = '', signature] = auth;
    if (!credential.startsWith(`${options.accessKeyId}/`)) {
      return send(response, 403, errorXml({ status: 403, code: 'InvalidClientTokenId', message: 'The security token included in the request is invalid.' }));
    }
    if (expectedSignature(request, url, body, options.secretAccessKey, credential, signedHeaders) !== signature) {
      return send(response, 403, errorXml({ status: 403, code: 'SignatureDoesNotMatch', message: 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.' }));
    }
    const next = scripted.shift();
    if (next !== undefined) return send(response, next.status, errorXml(next));
    if (!url.pathname.startsWith('/2013-04-01/hostedzone/')) return send(response, 404, errorXml({ status: 404, code: 'UnknownOperationException', message: 'Unknown operation' }));
    if (url.pathname !== zonePath) return send(response, 404, errorXml({ status: 404, code: 'NoSuchHostedZone', message: `No hosted zone found with ID: ${url.pathname.split('/')[3]}` }));

    if (request.method === 'POST') {
      const problems = changeBatch(changes);
      if (problems.length > 0) return send(response, 400, errorXml({ status: 400, code: 'InvalidChangeBatch', message: `[${problems.join(', ')}]` }));
      const info = `<ChangeInfo><Id>/change/C${Date.now()}</Id><Status>PENDING</Status><SubmittedAt>${new Date().toISOString()}</SubmittedAt></ChangeInfo>`;
      return send(response, 200, `<?xml version="1.0" encoding="UTF-8"?>\n<ChangeResourceRecordSetsResponse xmlns="${NS}">${info}</ChangeResourceRecordSetsResponse>`);
    }
    if (request.method === 'GET') {
      const start: StoredSet = { name: url.searchParams.get('name') ?? '', type: url.searchParams.get('type') ?? '', ttl: 0, values: [] };
      const max = Number(url.searchParams.get('maxitems') ?? 300);
      const ordered = [...sets.values()].sort(setOrder).filter((set) => start.name === '' || setOrder(set, start) >= 0);
      const page = ordered.slice(0, max);
      return send(
        response,
        200,
        `<?xml version="1.0" encoding="UTF-8"?>\n<ListResourceRecordSetsResponse xmlns="${NS}"><ResourceRecordSets>${page.map(setXml).join('')}</ResourceRecordSets><IsTruncated>${ordered.length > max}</IsTruncated><MaxItems>${max}</MaxItems></ListResourceRecordSetsResponse>`,
      );
    }
    return send(response, 405, errorXml({ status: 405, code: 'MethodNotAllowed', message: 'Method not allowed' }));
  };

  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => handle(request, response, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    sets,
    script: (...errors) => scripted.push(...errors),
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
