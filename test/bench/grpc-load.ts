import { connect, constants, type ClientHttp2Session } from 'node:http2';
import { type DescMessage, type DescMethodUnary, type MessageInitShape, create, fromBinary, toBinary, type MessageShape } from '@bufbuild/protobuf';

/**
 * A lean gRPC load client: requests are encoded once, sent over a few HTTP/2 connections, and answers are decoded
 * only when asked. The load generator must cost far less than the server it measures, and a full RPC client
 * spends more CPU per call than the server's empty handler does.
 */
export class GrpcLoad {
  private readonly sessions: ClientHttp2Session[];
  private next = 0;

  constructor(baseUrl: string, connections = 4) {
    this.sessions = Array.from({ length: connections }, () => connect(baseUrl));
  }

  /** The gRPC frame for a request: uncompressed flag, big-endian length, message bytes. */
  frame<I extends DescMessage>(schema: I, init: MessageInitShape<I>): Buffer {
    const bytes = toBinary(schema, create(schema, init));
    const frame = Buffer.alloc(5 + bytes.length);
    frame.writeUInt32BE(bytes.length, 1);
    frame.set(bytes, 5);
    return frame;
  }

  /** Sends one call; resolves with the response bytes (without the frame header) or rejects on a non-OK status. */
  call(method: DescMethodUnary, frame: Buffer): Promise<Buffer> {
    const session = this.sessions[this.next++ % this.sessions.length]!;
    return new Promise((resolve, reject) => {
      const stream = session.request({
        [constants.HTTP2_HEADER_METHOD]: 'POST',
        [constants.HTTP2_HEADER_PATH]: `/${method.parent.typeName}/${method.name}`,
        'content-type': 'application/grpc+proto',
        te: 'trailers',
      });
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('trailers', (trailers) => {
        const status = trailers['grpc-status'];
        if (status !== '0') reject(new Error(`grpc-status ${String(status)}: ${String(trailers['grpc-message'])}`));
      });
      stream.on('end', () => resolve(Buffer.concat(chunks).subarray(5)));
      stream.on('error', reject);
      stream.end(frame);
    });
  }

  async decoded<O extends DescMessage>(method: DescMethodUnary<DescMessage, O>, frame: Buffer): Promise<MessageShape<O>> {
    return fromBinary(method.output, await this.call(method, frame));
  }

  close(): void {
    for (const session of this.sessions) session.close();
  }
}
