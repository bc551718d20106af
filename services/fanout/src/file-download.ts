/**
 * A file an agent fetched, handed to a browser as a download and never rendered: whatever its
 * content (HTML, SVG, a script), `attachment` plus `application/octet-stream` and `nosniff`
 * keep the browser from showing or running it on this origin, and a sandboxing CSP covers a
 * browser that opens it anyway. (uWebSockets.js writes Content-Length itself.)
 */
export function downloadHeaders(filename: string): Record<string, string> {
  return {
    'content-type': 'application/octet-stream',
    'content-disposition': `attachment; filename="${filename}"`,
    'x-content-type-options': 'nosniff',
    'content-security-policy': "default-src 'none'; sandbox",
    'cache-control': 'no-store',
  };
}

const MAX_FILENAME = 100;

/**
 * The name a download is saved under: the last segment of the agent's path, reduced to
 * `[A-Za-z0-9._-]` (no quote, backslash, CR/LF or `/` can reach the header or the user's
 * folder), never starting with a dot (no hidden file, no `..`), else `task-<id>.bin`.
 */
export function safeFilename(path: string, taskId: string): string {
  const base = path.split('/').pop() ?? '';
  const cleaned = base
    .replace(/[^A-Za-z0-9._-]/g, '_')
    .replace(/^[.]+/, '')
    .slice(0, MAX_FILENAME);
  return /[A-Za-z0-9]/.test(cleaned) ? cleaned : `task-${taskId.replace(/[^A-Za-z0-9-]/g, '')}.bin`;
}
