import { connect } from 'node:net';

/**
 * One DNS message over TCP and its answer (RFC 1035 §4.2.2: each message after its 2-byte length). Rejects with
 * the reason (unreachable, no answer within `timeoutMs`, closed before the answer) as the error's message.
 */
export function exchangeTcp(host: string, port: number, message: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const chunks: Buffer[] = [];
    let settled = false;
    const settle = (error: Error | undefined, answer?: Buffer) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      if (error) reject(error);
      else resolve(answer!);
    };
    socket.setTimeout(timeoutMs, () => settle(new Error(`no answer within ${timeoutMs} ms`)));
    socket.on('error', (error: NodeJS.ErrnoException) => settle(new Error(error.code ?? error.message)));
    socket.on('connect', () => {
      const length = Buffer.alloc(2);
      length.writeUInt16BE(message.length);
      socket.write(Buffer.concat([length, message]));
    });
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      const received = Buffer.concat(chunks);
      if (received.length >= 2 && received.length >= 2 + received.readUInt16BE(0)) settle(undefined, received.subarray(2, 2 + received.readUInt16BE(0)));
    });
    socket.on('close', () => settle(new Error('the connection closed before the answer')));
  });
}
