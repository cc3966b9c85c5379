import { once } from 'node:events';
import http2 from 'node:http2';

/** One GET /healthz on the session, then the code of the GOAWAY the server sends once the session is idle. */
export async function goawayAfterIdle(session: http2.ClientHttp2Session): Promise<number> {
  const stream = session.request({ ':path': '/healthz' });
  stream.resume();
  await once(stream, 'end');
  const [code] = (await once(session, 'goaway')) as [number];
  await once(session, 'close');
  return code;
}

/**
 * HTTP/2 rapid reset: opens streams and resets each at once (CANCEL) until the server sends GOAWAY, the session
 * closes or `max` streams were opened; resolves with the GOAWAY's code (undefined without one) and the count.
 */
export async function floodWithResets(session: http2.ClientHttp2Session, max: number): Promise<{ code: number | undefined; opened: number }> {
  let code: number | undefined;
  let stopped = false;
  session.once('goaway', (received: number) => {
    code = received;
    stopped = true;
  });
  session.once('close', () => (stopped = true));
  let opened = 0;
  while (!stopped && opened < max) {
    try {
      const stream = session.request({ ':path': '/healthz' });
      stream.on('error', () => {});
      stream.close(http2.constants.NGHTTP2_CANCEL);
    } catch {
      break; // the session went away between two turns
    }
    opened += 1;
    if (opened % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  if (!stopped) await Promise.race([once(session, 'goaway'), once(session, 'close')]);
  return { code, opened };
}
