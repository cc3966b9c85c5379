// The web UI's static files on the public listener: index.html at / (no-cache, so a deploy shows at once) and
// assets/ by content-hashed name (immutable), all under a Content-Security-Policy that lets the page load only
// its own scripts and styles and talk only to this origin.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../log/logger.ts';
import { sendJson } from './rest.ts';

type Request = IncomingMessage | Http2ServerRequest;
type Response = ServerResponse | Http2ServerResponse;

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

const SECURITY_HEADERS = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'x-frame-options': 'DENY',
};

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

type Encoding = 'br' | 'gzip' | 'identity';
const COMPRESSED: Record<string, Exclude<Encoding, 'identity'>> = { '.br': 'br', '.gz': 'gzip' };

interface StaticFile {
  readonly type: string;
  /** The file as it is, and the build's compressed copies (<name>.br, <name>.gz) for browsers that accept them. */
  readonly bodies: Partial<Record<Encoding, Buffer>> & { readonly identity: Buffer };
}

/** dist/web of the package this module belongs to, from src/server (tests, tsx) or dist/src/server (what ships). */
export function defaultWebUiDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return join(dir, 'dist', 'web');
}

export interface WebUiRoutes {
  readonly extraRoutes: Record<string, (req: Request, res: Response) => void>;
  readonly prefixRoutes: Record<string, (req: Request, res: Response, path: string) => Promise<boolean>>;
}

/**
 * The UI's routes, read into memory once (a few hundred KiB). When the UI was never built, / says how to build
 * it instead of failing the start: the API does not need it.
 */
export function webUiRoutes(dir: string = defaultWebUiDir(), logger?: Logger): WebUiRoutes {
  const index = readOptional(join(dir, 'index.html'));
  if (index === undefined) {
    logger?.warn({ dir }, 'the web UI is not built (npm run build writes it); / answers 503 until it is');
    const notBuilt = (_req: Request, res: Response) =>
      sendJson(res, 503, { detail: `the web UI is not built in ${dir}; run npm run build or set WEB_UI_DIR`, code: 'web_ui_not_built' });
    return { extraRoutes: { '/': notBuilt, '/index.html': notBuilt }, prefixRoutes: {} };
  }
  const assets = readAssets(join(dir, 'assets'));
  const serveIndex = (_req: Request, res: Response) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache', ...SECURITY_HEADERS });
    res.end(index);
  };
  return {
    extraRoutes: { '/': serveIndex, '/index.html': serveIndex },
    prefixRoutes: {
      '/assets/': async (req, res, path) => {
        const file = assets.get(path.slice('/assets/'.length));
        if (file === undefined) return false;
        const encoding = encodingFor(req.headers['accept-encoding'], file);
        res.writeHead(200, {
          'content-type': file.type,
          'cache-control': 'public, max-age=31536000, immutable',
          vary: 'accept-encoding',
          ...(encoding !== 'identity' && { 'content-encoding': encoding }),
          ...SECURITY_HEADERS,
        });
        res.end(file.bodies[encoding] ?? file.bodies.identity);
        return true;
      },
    },
  };
}

function readOptional(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

function readAssets(dir: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  const names = readdirSync(dir);
  for (const name of names) {
    if (COMPRESSED[extname(name)] !== undefined) continue;
    const bodies: StaticFile['bodies'] & Partial<Record<Encoding, Buffer>> = { identity: readFileSync(join(dir, name)) };
    for (const [suffix, encoding] of Object.entries(COMPRESSED)) {
      if (names.includes(name + suffix)) bodies[encoding] = readFileSync(join(dir, name + suffix));
    }
    files.set(name, { type: TYPES[extname(name)] ?? 'application/octet-stream', bodies });
  }
  return files;
}

/** Brotli when the browser takes it (every current one does) and the build made it, else gzip, else as it is. */
function encodingFor(accepted: string | string[] | undefined, file: StaticFile): Encoding {
  const names = new Set(
    String(accepted ?? '')
      .split(',')
      .filter((part) => !/;\s*q=0(\.0*)?\s*$/i.test(part))
      .map((part) => part.split(';', 1)[0]!.trim().toLowerCase()),
  );
  if (names.has('br') && file.bodies.br) return 'br';
  return names.has('gzip') && file.bodies.gzip ? 'gzip' : 'identity';
}
