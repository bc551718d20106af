import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { createHash } from 'node:crypto';
import { type Dirent, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Logger } from '@tripwire/logger';
import { guarded, type ReportFailure } from './handler-guard.js';
import { endWithSharedBody } from './shared-body.js';

/** The command that produces the folder this module serves. */
export const DASHBOARD_BUILD_COMMAND = 'pnpm --filter @tripwire/dashboard build';

// A build is a few hundred KiB; these only stop a mistaken DASHBOARD_DIR (say `/`) from
// being read into memory.
const MAX_FILES = 2_000;
const MAX_TOTAL_BYTES = 64 * 1024 * 1024;
const GZIP_MIN_BYTES = 1024;

/** Paths the service itself answers; never the dashboard's, even without a file extension. */
const SERVICE_PATHS = ['/api', '/ws', '/healthz', '/readyz', '/metrics'];

export const DASHBOARD_CSP =
  "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; " +
  "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'";

const HTML_HEADERS: Record<string, string> = {
  'content-security-policy': DASHBOARD_CSP,
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
};

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.txt': 'text/plain; charset=utf-8',
  '.xml': 'application/xml',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.avif': 'image/avif',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.otf': 'font/otf',
  '.wasm': 'application/wasm',
};

const COMPRESSIBLE = /^(text\/|application\/(json|manifest\+json|xml|wasm)|image\/svg\+xml)/;

interface StaticFile {
  body: Buffer;
  /** Present when gzip saves bytes; compressed once, at load. */
  gzipped: Buffer | null;
  contentType: string;
  etag: string;
  /** Hashed build output under /assets/: cached for a year, never revalidated. */
  immutable: boolean;
}

export type DashboardFiles =
  | { available: true; dir: string; files: Map<string, StaticFile> }
  | { available: false; reason: string };

/**
 * Reads the dashboard's build output into memory, keyed by URL path. A folder
 * that is not there (not built yet) is reported, not thrown: the service runs
 * its API and WebSocket without a dashboard.
 */
export function loadDashboardFiles(dir: string | undefined): DashboardFiles {
  if (!dir) {
    return {
      available: false,
      reason: 'the @tripwire/dashboard package is not installed and DASHBOARD_DIR is not set',
    };
  }
  const files = new Map<string, StaticFile>();
  let totalBytes = 0;
  const pending: string[] = [''];
  try {
    while (pending.length > 0) {
      const rel = pending.pop()!;
      let entries: Dirent[];
      try {
        entries = readdirSync(join(dir, rel), { withFileTypes: true });
      } catch (err) {
        if (rel === '' && (err as NodeJS.ErrnoException).code === 'ENOENT') {
          return { available: false, reason: `${dir} does not exist` };
        }
        throw err;
      }
      for (const entry of entries) {
        // Dotfiles are never build output (.DS_Store, editor files).
        if (entry.name.startsWith('.')) continue;
        const path = `${rel}/${entry.name}`;
        if (entry.isDirectory()) pending.push(path);
        if (!entry.isFile()) continue;
        if (files.size >= MAX_FILES) throw new Error(`more than ${MAX_FILES} files`);
        const body = readFileSync(join(dir, path));
        totalBytes += body.length;
        if (totalBytes > MAX_TOTAL_BYTES) {
          throw new Error(`more than ${MAX_TOTAL_BYTES / 1024 / 1024} MiB of files`);
        }
        files.set(path, staticFile(path, body));
      }
    }
  } catch (err) {
    return { available: false, reason: `cannot read ${dir}: ${(err as Error).message}` };
  }
  if (!files.has('/index.html')) return { available: false, reason: `${dir} has no index.html` };
  return { available: true, dir, files };
}

function staticFile(path: string, body: Buffer): StaticFile {
  const contentType = CONTENT_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
  let gzipped: Buffer | null = null;
  if (body.length >= GZIP_MIN_BYTES && COMPRESSIBLE.test(contentType)) {
    const packed = gzipSync(body, { level: 9 });
    if (packed.length < body.length * 0.9) gzipped = packed;
  }
  return {
    body,
    gzipped,
    contentType,
    etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
    immutable: path.startsWith('/assets/'),
  };
}

function isServicePath(path: string) {
  return SERVICE_PATHS.some((p) => path === p || path.startsWith(`${p}/`));
}

/** True unless the client refused gzip (`gzip;q=0`) or did not list it. */
export function acceptsGzip(acceptEncoding: string) {
  return acceptEncoding.split(',').some((part) => {
    const [coding, ...params] = part.trim().toLowerCase().split(';');
    if (coding !== 'gzip' && coding !== '*') return false;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

function notBuiltPage() {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>TripWire: dashboard not built</title></head>
<body>
<h1>The TripWire dashboard is not built</h1>
<p>This fan-out service found no dashboard to serve. Build it with
<code>${DASHBOARD_BUILD_COMMAND}</code> and restart the service, or set
<code>DASHBOARD_DIR</code> to a folder holding its <code>index.html</code>.</p>
<p>The REST API (<code>/api/…</code>) and live alerts (<code>/ws/alerts</code>) work without it.</p>
</body></html>
`;
}

/** Loads the dashboard from `dir`, says in the log whether there is one, and serves it (see serveDashboard). */
export function registerDashboard(
  app: TemplatedApp,
  dir: string | undefined,
  log: Logger,
  report: ReportFailure,
) {
  const dashboard = loadDashboardFiles(dir);
  if (dashboard.available) {
    log.info({ dir: dashboard.dir, files: dashboard.files.size }, 'serving the dashboard at /');
  } else {
    log.warn(
      { reason: dashboard.reason },
      `no dashboard to serve: / answers 503 until it is built (${DASHBOARD_BUILD_COMMAND}); the API and WebSocket work without it`,
    );
  }
  serveDashboard(app, dashboard, report);
}

/**
 * Serves the dashboard at `/`: its files, and index.html for any other path
 * without a file extension (the app's own routes, e.g. /alerts). Paths of the
 * service itself (/api, /ws, probes) are passed on to the routes registered
 * after this one. No authentication: the app signs in through POST /api/session.
 */
export function serveDashboard(
  app: TemplatedApp,
  dashboard: DashboardFiles,
  report: ReportFailure = () => {},
) {
  const notBuilt = dashboard.available ? '' : notBuiltPage();
  const serve = (res: HttpResponse, req: HttpRequest) => {
    const url = req.getUrl();
    if (isServicePath(url)) {
      req.setYield(true);
      return;
    }
    if (!dashboard.available) {
      res.cork(() => {
        res.writeStatus('503 Service Unavailable');
        writeHeaders(res, {
          'content-type': 'text/html; charset=utf-8',
          'cache-control': 'no-store',
          ...HTML_HEADERS,
        });
        res.end(notBuilt);
      });
      return;
    }
    const path = decodePath(url);
    const found = path === null ? undefined : findFile(dashboard.files, path);
    if (!found) {
      res.cork(() => {
        res.writeStatus('404 Not Found');
        writeHeaders(res, {
          'content-type': 'text/plain; charset=utf-8',
          'cache-control': 'no-store',
          'x-content-type-options': 'nosniff',
        });
        res.end('no such file');
      });
      return;
    }
    const gzip = found.gzipped !== null && acceptsGzip(req.getHeader('accept-encoding'));
    const etag = gzip ? `${found.etag.slice(0, -1)}-gz"` : found.etag;
    const notModified = req
      .getHeader('if-none-match')
      .split(',')
      .some((tag) => tag.trim() === etag);
    const headers: Record<string, string> = {
      'content-type': found.contentType,
      'cache-control': found.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
      etag,
      'x-content-type-options': 'nosniff',
      ...(found.contentType.startsWith('text/html') ? HTML_HEADERS : {}),
      ...(found.gzipped ? { vary: 'accept-encoding' } : {}),
      ...(gzip ? { 'content-encoding': 'gzip' } : {}),
    };
    res.cork(() => {
      if (notModified) {
        res.writeStatus('304 Not Modified');
        writeHeaders(res, headers);
        res.endWithoutBody();
        return;
      }
      writeHeaders(res, headers);
      endWithSharedBody(res, gzip ? found.gzipped! : found.body);
    });
  };
  app.get(
    '/*',
    guarded('dashboard', report, serve, (res) => {
      res.cork(() => {
        res.writeStatus('500 Internal Server Error');
        res.end('internal error');
      });
    }),
  );
}

function writeHeaders(res: HttpResponse, headers: Record<string, string>) {
  for (const [name, value] of Object.entries(headers)) res.writeHeader(name, value);
}

function decodePath(url: string): string | null {
  try {
    return decodeURIComponent(url);
  } catch {
    return null;
  }
}

/**
 * The file for a path: the file itself, a folder's own index.html (another page of the build,
 * such as the API reference at /docs), or the app's index.html for a route of the app.
 */
function findFile(files: Map<string, StaticFile>, path: string): StaticFile | undefined {
  if (path === '/') return files.get('/index.html');
  return (
    files.get(path) ??
    (isAppRoute(path)
      ? (files.get(`${path.replace(/\/$/, '')}/index.html`) ?? files.get('/index.html'))
      : undefined)
  );
}

/** A path the app routes itself: no file extension in its last segment, not under /assets/. */
function isAppRoute(path: string) {
  const last = path.slice(path.lastIndexOf('/') + 1);
  return !path.startsWith('/assets/') && !last.includes('.');
}
