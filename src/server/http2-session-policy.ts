import { constants, type Http2Session, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';

export interface Http2SessionLimits {
  /** From the connection's start to the client's SETTINGS frame (its half of the HTTP/2 preface). */
  readonly handshakeTimeoutMs: number;
  /** A session with no open stream for this long is sent GOAWAY and closed. */
  readonly idleTimeoutMs: number;
  /** A stream whose request (headers and body) stops arriving for this long is reset. */
  readonly stalledRequestMs: number;
  /** Streams the client may reset at once, and per second after that, before its session is ended. */
  readonly resetBurst: number;
  readonly resetsPerSecond: number;
}

export type SessionEnd = 'handshake_timeout' | 'idle' | 'stalled_request' | 'reset_flood';

/** How long a client told to go away may take to finish its streams and close; then its connection is cut. */
const LINGER_MS = 5_000;
/** The same for a client ended for abuse: time for the GOAWAY to reach it, nothing more. */
const CALM_LINGER_MS = 1_000;

export const defaultSessionLimits: Http2SessionLimits = {
  handshakeTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
  stalledRequestMs: 60_000,
  // A client cancelling its own calls (deadlines, abandoned streams) stays far below this; a rapid-reset flood
  // (CVE-2023-44487) makes the server start a handler per stream it opens and resets, and is cut after 100.
  resetBurst: 100,
  resetsPerSecond: 20,
};

/**
 * Applies the limits to the HTTP/2 sessions of one listener (cleartext or TLS) and counts why it ended them. An
 * idle session gets GOAWAY (session.close()), so a client never loses a call in flight to the idle timeout; a
 * session that breaks a limit on purpose (no SETTINGS, a reset flood) is destroyed with ENHANCE_YOUR_CALM.
 */
export class Http2SessionPolicy {
  private readonly ended = new Map<SessionEnd, number>();

  constructor(private readonly limits: Http2SessionLimits = defaultSessionLimits) {}

  /** `socket` is the connection the session runs on: closed by force if the client outstays its GOAWAY. */
  apply(session: Http2Session, socket: Socket): void {
    const { limits } = this;
    const end = (reason: SessionEnd, goaway: 'graceful' | 'calm') => {
      if (session.closed || session.destroyed) return;
      this.ended.set(reason, (this.ended.get(reason) ?? 0) + 1);
      // Not destroy(undefined, code): its first parameter defaults to NO_ERROR, which then wins over the code; and
      // a destroyed session over TLS waits for its socket's end, which a client that keeps writing can hold off.
      if (goaway === 'calm') session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM);
      session.close();
      // A closed session ends its side and waits for the client's FIN, which a hostile client never sends.
      const linger = setTimeout(() => socket.destroy(), goaway === 'calm' ? CALM_LINGER_MS : LINGER_MS).unref();
      socket.once('close', () => clearTimeout(linger));
    };

    const handshake = setTimeout(() => end('handshake_timeout', 'calm'), limits.handshakeTimeoutMs).unref();
    session.once('remoteSettings', () => clearTimeout(handshake));

    // One timer per session, refreshed whenever the session falls idle: no allocation per call.
    let active = 0;
    const idle = setTimeout(() => {
      if (active === 0) end('idle', 'graceful');
    }, limits.idleTimeoutMs).unref();

    let resetTokens = limits.resetBurst;
    let refilledAt = Date.now();
    const clientReset = () => {
      const now = Date.now();
      resetTokens = Math.min(limits.resetBurst, resetTokens + ((now - refilledAt) / 1000) * limits.resetsPerSecond);
      refilledAt = now;
      resetTokens -= 1;
      if (resetTokens < 0) end('reset_flood', 'calm');
    };

    session.on('stream', (stream: ServerHttp2Stream) => {
      active += 1;
      let resetHere = false;
      stream.setTimeout(limits.stalledRequestMs, () => {
        // Long-lived answers (server streams) are quiet for good reasons; only a request still arriving is stalled.
        if (!isRequestComplete(stream)) {
          resetHere = true;
          this.ended.set('stalled_request', (this.ended.get('stalled_request') ?? 0) + 1);
          stream.close(constants.NGHTTP2_CANCEL);
        }
      });
      stream.once('close', () => {
        active -= 1;
        if (active === 0) idle.refresh();
        if (stream.rstCode !== constants.NGHTTP2_NO_ERROR && !resetHere) clientReset();
      });
    });
    session.once('close', () => {
      clearTimeout(handshake);
      clearTimeout(idle);
    });
  }

  /** Sessions ended by a limit since start, by the limit. */
  endedSessions(): Record<string, number> {
    return Object.fromEntries(this.ended);
  }
}

function isRequestComplete(stream: ServerHttp2Stream): boolean {
  const state = stream.state.state;
  return (
    state === constants.NGHTTP2_STREAM_STATE_HALF_CLOSED_REMOTE ||
    state === constants.NGHTTP2_STREAM_STATE_CLOSED ||
    state === undefined
  );
}
