import http2 from 'node:http2';

/** Opens an HTTP/2 session with an agent's certificate and resolves with the /healthz status, or how it failed. */
export function healthzOverMtls(url: string, tls: { ca: string; cert: string; key: string }) {
  const session = http2.connect(url, tls);
  session.on('error', () => {});
  const status = new Promise<number | string>((resolve) => {
    const stream = session.request({ ':path': '/healthz' });
    stream.on('response', (headers) => resolve(Number(headers[':status'])));
    stream.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    session.on('close', () => resolve('closed'));
    stream.resume();
  });
  return { session, status };
}
