import { constants, type Http2Session, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';

export interface Http2SessionLimits {
  /** From the connection's start to the client's SETTINGS frame (its half of the HTTP/2 preface). */
  readonly handshakeTimeoutMs: number;
  /** A session with no open stream for this long (up to half as long again) is sent GOAWAY and closed. */
  readonly idleTimeoutMs: number;
  /** A stream whose request (headers and body) has not all arrived after this long (up to half again) is reset. */
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
 * session that breaks a limit on purpose (no SETTINGS, a reset flood) gets GOAWAY with ENHANCE_YOUR_CALM.
 *
 * Streams are the hot path, so a stream costs a counter, a map entry and one listener shared by its session: the
 * idle and stalled-request checks run on one timer per session that ticks twice per timeout.
 */
export class Http2SessionPolicy {
  private readonly ended = new Map<SessionEnd, number>();

  constructor(private readonly limits: Http2SessionLimits = defaultSessionLimits) {}

  /** `socket` is the connection the session runs on: closed by force if the client outstays its GOAWAY. */
  apply(session: Http2Session, socket: Socket): void {
    const { limits } = this;
    const end = (reason: SessionEnd, goaway: 'graceful' | 'calm') => {
      if (session.closed || session.destroyed) return;
      this.count(reason);
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

    // Open streams with the tick they started at; the session is idle after two quiet ticks.
    const open = new Map<ServerHttp2Stream, number>();
    const tickMs = Math.max(1, Math.min(limits.idleTimeoutMs, limits.stalledRequestMs) / 2);
    const stalledTicks = Math.ceil(limits.stalledRequestMs / tickMs);
    let ticks = 0;
    let quietTicks = 0;
    let startedSinceTick = false;
    const resetHere = new WeakSet<ServerHttp2Stream>();
    const ticker = setInterval(() => {
      ticks += 1;
      quietTicks = open.size > 0 || startedSinceTick ? 0 : quietTicks + 1;
      startedSinceTick = false;
      if (quietTicks * tickMs >= limits.idleTimeoutMs) return end('idle', 'graceful');
      for (const [stream, startedAt] of open) {
        // Long-lived answers (server streams) are quiet for good reasons; only a request still arriving is stalled.
        if (ticks - startedAt < stalledTicks || isRequestComplete(stream)) continue;
        resetHere.add(stream);
        this.count('stalled_request');
        stream.close(constants.NGHTTP2_CANCEL);
      }
    }, tickMs).unref();

    let resetTokens = limits.resetBurst;
    let refilledAt = Date.now();
    // One listener for every stream of the session (`this` is the stream): no closure per stream.
    function streamClosed(this: ServerHttp2Stream) {
      open.delete(this);
      if (this.rstCode === constants.NGHTTP2_NO_ERROR || resetHere.has(this)) return;
      const now = Date.now();
      resetTokens = Math.min(limits.resetBurst, resetTokens + ((now - refilledAt) / 1000) * limits.resetsPerSecond) - 1;
      refilledAt = now;
      if (resetTokens < 0) end('reset_flood', 'calm');
    }
    session.on('stream', (stream: ServerHttp2Stream) => {
      open.set(stream, ticks);
      startedSinceTick = true;
      stream.on('close', streamClosed);
    });
    session.once('close', () => {
      clearTimeout(handshake);
      clearInterval(ticker);
    });
  }

  /** Sessions ended by a limit since start, by the limit. */
  endedSessions(): Record<string, number> {
    return Object.fromEntries(this.ended);
  }

  private count(reason: SessionEnd): void {
    this.ended.set(reason, (this.ended.get(reason) ?? 0) + 1);
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
