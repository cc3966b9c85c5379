// A webhook receiver for the tests: a real node:http server on 127.0.0.1 that records every request and answers
// with the status its `answer` function picks, and a signature check written from the Standard Webhooks text, apart
// from the registry's own signing code.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { type IncomingHttpHeaders, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** performance.now() when the request's body had arrived. */
  readonly at: number;
  readonly status: number;
}

export interface Receiver {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  readonly port: number;
  readonly received: Received[];
  /** Requests whose webhook-id is `id`. */
  of(id: string): Received[];
  /** Resolves once `check` holds for what was received; fails after `timeoutMs`. */
  until(check: (received: readonly Received[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** What the receiver answers: a status, or a status with headers. */
export type Answer = number | { readonly status: number; readonly headers: Record<string, string> };

/** `answer` gets each request (and how many came before it) and returns what to answer. */
export async function startReceiver(answer: (request: { body: string; count: number }) => Answer = () => 204): Promise<Receiver> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const answered = answer({ body, count: received.length });
      const { status, headers } = typeof answered === 'number' ? { status: answered, headers: {} } : answered;
      received.push({ headers: req.headers, body, at: performance.now(), status });
      res.writeHead(status, { 'content-type': 'text/plain', ...headers });
      res.end(status < 300 ? 'ok' : 'no');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    received,
    of: (id) => received.filter((r) => r.headers['webhook-id'] === id),
    async until(check, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (!check(received)) {
        if (Date.now() > deadline) throw new Error(`receiver: condition not met within ${timeoutMs} ms (${received.length} requests)`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * The receiving side of Standard Webhooks, from the specification: the key is the secret's base64 part after
 * `whsec_`; the signed content is `<webhook-id>.<webhook-timestamp>.<body>`; `webhook-signature` is a space-separated
 * list of `<version>,<base64>` of which one `v1` entry must equal HMAC-SHA256, compared in constant time; the
 * timestamp must be within five minutes of now. Returns why a request fails, or undefined when it verifies.
 */
export function verificationFailure(secret: string, headers: IncomingHttpHeaders, body: string, nowSeconds = Date.now() / 1000): string | undefined {
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'];
  const signatures = headers['webhook-signature'];
  if (typeof id !== 'string' || typeof timestamp !== 'string' || typeof signatures !== 'string') return 'missing headers';
  if (!/^\d+$/.test(timestamp) || Math.abs(nowSeconds - Number(timestamp)) > 300) return 'timestamp outside the tolerance';
  if (!secret.startsWith('whsec_')) return 'not a whsec_ secret';
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest();
  for (const entry of signatures.split(' ')) {
    const [version, value] = entry.split(',', 2);
    if (version !== 'v1' || value === undefined) continue;
    const presented = Buffer.from(value, 'base64');
    if (presented.length === expected.length && timingSafeEqual(presented, expected)) return undefined;
  }
  return 'no signature matches';
}
