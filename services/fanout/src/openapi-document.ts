import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { acceptsGzip } from './dashboard-files.js';
import { guarded, type ReportFailure } from './handler-guard.js';
import { INTERNAL_ERROR_BODY, sendJson } from './http-route.js';
import { endWithSharedBody } from './shared-body.js';

/** Where the API describes itself; the reference page (/docs) reads it from here. */
export const OPENAPI_PATH = '/api/openapi.yaml';

/**
 * openapi.yaml sits at the package root, one level above both src/ and dist/, and ships in
 * the package (`files`), so the running service serves the document it was built with.
 */
export function readOpenApiDocument(): Buffer {
  return readFileSync(new URL('../openapi.yaml', import.meta.url));
}

/**
 * GET /api/openapi.yaml, without a credential: the document says what the API accepts and
 * answers, nothing about the data behind it (it is in the public repository), and client
 * generators and the reference page must fetch it before anyone signs in. It changes only
 * with a deploy, so clients revalidate (no-cache) against its ETag and get a 304 meanwhile.
 */
export function registerOpenApiDocument(
  app: TemplatedApp,
  document: Buffer,
  report: ReportFailure,
) {
  const gzipped = gzipSync(document, { level: 9 });
  const etag = `"${createHash('sha256').update(document).digest('base64url').slice(0, 22)}"`;
  const serve = (res: HttpResponse, req: HttpRequest) => {
    const gzip = acceptsGzip(req.getHeader('accept-encoding'));
    const tag = gzip ? `${etag.slice(0, -1)}-gz"` : etag;
    const notModified = req
      .getHeader('if-none-match')
      .split(',')
      .some((t) => t.trim() === tag);
    const headers: Record<string, string> = {
      // RFC 9512's media type for YAML.
      'content-type': 'application/yaml; charset=utf-8',
      'cache-control': 'public, no-cache',
      etag: tag,
      vary: 'accept-encoding',
      'x-content-type-options': 'nosniff',
      // Read by the same-origin reference page and by tools; never framed or run as a page.
      'content-security-policy': "default-src 'none'; sandbox",
      ...(gzip ? { 'content-encoding': 'gzip' } : {}),
    };
    res.cork(() => {
      res.writeStatus(notModified ? '304 Not Modified' : '200 OK');
      for (const [name, value] of Object.entries(headers)) res.writeHeader(name, value);
      if (notModified) res.endWithoutBody();
      else endWithSharedBody(res, gzip ? gzipped : document);
    });
  };
  app.get(
    OPENAPI_PATH,
    guarded('openapi', report, serve, (res) => sendJson(res, 500, INTERNAL_ERROR_BODY)),
  );
}
