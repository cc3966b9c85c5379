import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import type { Target } from './target-guard.ts';

/** How one POST went: the status (0 when there was no answer) and, unless it was a 2xx, why it failed. */
export interface PostResult {
  readonly statusCode: number;
  readonly error: string;
  readonly durationMs: number;
}

/**
 * POSTs the body to the target's URL over a connection to the target's checked address (the URL's host still names
 * the Host header, TLS SNI and the certificate checked), with no proxy and no connection reuse. The answer counts
 * from its status line: a 2xx delivers, a redirect is not followed (the webhook's URL is the one to fix), anything
 * else fails; the whole exchange is cut off after `timeoutMs`.
 */
export function postJson(target: Target, headers: Record<string, string>, body: string, timeoutMs: number): Promise<PostResult> {
  const { url, address, family } = target;
  // The connection goes where the guard looked, whatever the name resolves to now.
  const pinned: LookupFunction = (_hostname, options, callback) => {
    if (options.all) callback(null, [{ address, family }]);
    else callback(null, address, family);
  };
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  return new Promise((resolve) => {
    const req = request({
      host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port === '' ? undefined : Number(url.port),
      path: `${url.pathname}${url.search}`,
      method: 'POST',
      lookup: pinned,
      agent: false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'user-agent': 'atr-webhooks', ...headers },
    });
    let settled = false;
    const done = (statusCode: number, error: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // The answer's body is not read: the status says everything, and the connection is not reused.
      req.destroy();
      resolve({ statusCode, error, durationMs: elapsed() });
    };
    const timer = setTimeout(() => done(0, `no answer within ${timeoutMs} ms`), timeoutMs);
    req.on('error', (error: NodeJS.ErrnoException) => done(0, error.code ?? error.message));
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 200 && status < 300) done(status, '');
      else if (status >= 300 && status < 400) done(status, `HTTP ${status}: redirects are not followed`);
      else done(status, `HTTP ${status}`);
    });
    req.end(body);
  });
}
