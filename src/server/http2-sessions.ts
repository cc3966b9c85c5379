import type { Http2SecureServer, Http2Server, ServerHttp2Session } from 'node:http2';
import type { Socket } from 'node:net';
import type { Http2SessionPolicy } from './http2-session-policy.ts';

/**
 * An HTTP/2 server that never listens: the listener hands it each connection it accepted. Keeps the open sessions
 * (to close on shutdown) and the one each handed socket made, with the session policy applied to every one.
 */
export class Http2Sessions {
  readonly open = new Set<ServerHttp2Session>();
  private handingOver: Socket | undefined;
  private made: ServerHttp2Session | undefined;

  constructor(
    private readonly server: Http2Server | Http2SecureServer,
    policy: Http2SessionPolicy,
  ) {
    server.on('session', (session: ServerHttp2Session) => {
      this.open.add(session);
      session.once('close', () => this.open.delete(session));
      if (this.handingOver) policy.apply(session, this.handingOver);
      this.made = session;
    });
    // A broken HTTP/2 peer ends its own session; it must not take the process down.
    server.on('sessionError', () => {});
  }

  /** Serves `socket` over HTTP/2; returns the session it made. */
  hand(socket: Socket, event: 'connection' | 'secureConnection'): ServerHttp2Session | undefined {
    // The session is made, and 'session' emitted, within this call.
    this.handingOver = socket;
    this.made = undefined;
    this.server.emit(event, socket);
    this.handingOver = undefined;
    return this.made;
  }
}
