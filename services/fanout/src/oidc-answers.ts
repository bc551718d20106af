import type { HttpResponse } from 'uWebSockets.js';
import { STATUS_TEXT } from './http-route.js';

/** What a single sign-on route answers: a redirect (with its cookies) or a refusal. */
export type OidcAnswer =
  | { kind: 'redirect'; location: string; cookies: string[] }
  | {
      kind: 'refusal';
      status: number;
      code: string;
      title: string;
      message: string;
      cookies?: string[];
    };

/** A page of its own: nothing from elsewhere, no script. */
const PAGE_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'";

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * Writes the answer, corked. A refusal is answered where the person is: a browser back from the
 * provider gets a short page with a way back to the sign-in screen, any other client the API's
 * JSON error shape.
 */
export function sendOidcAnswer(res: HttpResponse, accept: string, answer: OidcAnswer) {
  const headers: Array<[string, string]> = [
    ['cache-control', 'no-store'],
    ['x-content-type-options', 'nosniff'],
    ['referrer-policy', 'no-referrer'],
    ...(answer.cookies ?? []).map((c): [string, string] => ['set-cookie', c]),
  ];
  let status: number;
  let body: string;
  if (answer.kind === 'redirect') {
    status = 302;
    body = '';
    headers.push(['location', answer.location]);
  } else if (accept.includes('text/html')) {
    status = answer.status;
    body = refusalPage(answer);
    headers.push(
      ['content-type', 'text/html; charset=utf-8'],
      ['content-security-policy', PAGE_CSP],
    );
  } else {
    status = answer.status;
    body = JSON.stringify({ error: { code: answer.code, message: answer.message } });
    headers.push(['content-type', 'application/json']);
  }
  res.cork(() => {
    res.writeStatus(STATUS_TEXT[status] ?? String(status));
    for (const [k, v] of headers) res.writeHeader(k, v);
    res.end(body);
  });
}

function refusalPage(refusal: { code: string; title: string; message: string }) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>TripWire: ${escapeHtml(refusal.title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;background:#11151c;color:#d8dee9;display:grid;place-items:center;min-height:90vh}
main{max-width:460px;padding:24px;border:1px solid #2e3440;border-radius:6px;background:#191e27}a{color:#88c0d0}</style>
</head><body><main data-code="${escapeHtml(refusal.code)}"><h1>${escapeHtml(refusal.title)}</h1>
<p>${escapeHtml(refusal.message)}</p><p><a href="/">Back to sign-in</a></p></main></body></html>`;
}
