import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { TransparencyLog } from '../tlog/log.ts';
import { TILE_HEIGHT, TILE_WIDTH, parseTilePath } from '../tlog/tile-path.ts';

type Request = IncomingMessage | Http2ServerRequest;
type Response = ServerResponse | Http2ServerResponse;

const IMMUTABLE = 'public, max-age=31536000, immutable';
const FRESH = 'no-cache';

/**
 * The C2SP tlog-tiles read API under /log/: the latest checkpoint, the verifier key, hash tiles and entry bundles.
 * Only what the latest published checkpoint covers is served, so every tile is consistent with a signed root;
 * full tiles never change and are marked immutable, so a CDN can serve the log.
 */
export function tileRoutes(log: TransparencyLog) {
  return async (_req: Request, res: Response, path: string): Promise<boolean> => {
    const rest = path.slice('/log/'.length);
    if (rest === 'checkpoint') {
      const checkpoint = (await log.latestCheckpoint()) ?? (await log.publishCheckpoint());
      return send(res, 'text/plain; charset=utf-8', FRESH, checkpoint.note);
    }
    if (rest === 'key') return send(res, 'text/plain; charset=utf-8', 'public, max-age=3600', `${log.verifierKey}\n`);
    const tile = parseTilePath(rest);
    if (!tile) return false;
    const size = (await log.latestCheckpoint())?.size ?? 0;
    const level = tile.level === 'entries' ? 0 : tile.level * TILE_HEIGHT;
    // Nodes of that level in the checkpointed tree, and how many of them this tile holds.
    const available = Math.floor(size / 2 ** level) - tile.index * TILE_WIDTH;
    const width = tile.width ?? TILE_WIDTH;
    if (available < width) return notFound(res);
    const from = tile.index * TILE_WIDTH;
    const cache = tile.width === undefined ? IMMUTABLE : FRESH;
    if (tile.level === 'entries') {
      const entries = await log.entries(from, width);
      const bundle = Buffer.concat(
        entries.flatMap((entry) => [Buffer.from([entry.data.length >> 8, entry.data.length & 0xff]), Buffer.from(entry.data)]),
      );
      return send(res, 'application/octet-stream', cache, bundle);
    }
    const hashes = await log.nodeRange(level, from, width);
    return send(res, 'application/octet-stream', cache, Buffer.concat(hashes));
  };
}

function send(res: Response, type: string, cacheControl: string, body: string | Buffer): true {
  res.writeHead(200, { 'content-type': type, 'cache-control': cacheControl });
  res.end(body);
  return true;
}

function notFound(res: Response): true {
  res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
  res.end('not found\n');
  return true;
}
