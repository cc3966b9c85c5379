import { request } from 'node:http';

export interface HttpFetchLimits {
  readonly timeoutMs: number;
  readonly maxBytes: number;
}

export type HttpFetchResult =
  | { readonly kind: 'response'; readonly status: number; readonly location: string | undefined; readonly body: string }
  | { readonly kind: 'error'; readonly error: string };

/**
 * GET one path from one address with the domain in the Host header, the way a challenge is fetched: no proxy, no
 * redirect followed here, the body cut off past `maxBytes` and the whole exchange past `timeoutMs`.
 */
export function httpGet(address: string, port: number, host: string, path: string, limits: HttpFetchLimits): Promise<HttpFetchResult> {
  return new Promise((resolve) => {
    const req = request({ host: address, port, path, method: 'GET', headers: { host, accept: 'text/plain', 'user-agent': 'atr-domain-validation' }, agent: false });
    const timer = setTimeout(() => {
      req.destroy();
      resolve({ kind: 'error', error: `no answer within ${limits.timeoutMs} ms` });
    }, limits.timeoutMs);
    const done = (result: HttpFetchResult) => {
      clearTimeout(timer);
      resolve(result);
    };
    req.on('error', (error: NodeJS.ErrnoException) => done({ kind: 'error', error: error.code ?? error.message }));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > limits.maxBytes) {
          req.destroy();
          done({ kind: 'error', error: `the answer is over ${limits.maxBytes} bytes` });
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', (error: NodeJS.ErrnoException) => done({ kind: 'error', error: error.code ?? error.message }));
      res.on('end', () => {
        const location = res.headers.location;
        done({ kind: 'response', status: res.statusCode ?? 0, location, body: Buffer.concat(chunks).toString('utf8') });
      });
    });
    req.end();
  });
}
