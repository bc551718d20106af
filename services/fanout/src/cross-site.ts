/**
 * Where a browser request comes from, judged in one place for the WebSocket upgrade and
 * the REST writes: a cookie is sent by the browser whatever page asks, so a request
 * that carries one must prove it comes from the dashboard's own origin.
 */

/**
 * Same origin as the Host header, or listed in ALLOWED_ORIGINS (`*`: any). The Host header
 * carries no scheme: with `httpsOnly` (COOKIE_SECURE, so the public origin is https) an
 * `http:` page on the same host is foreign; without it the scheme is not compared.
 */
export function originAllowed(
  origin: string,
  host: string,
  allowed: string[],
  httpsOnly = false,
): boolean {
  if (allowed.includes('*') || allowed.includes(origin)) return true;
  try {
    const url = new URL(origin);
    return url.host === host && (!httpsOnly || url.protocol === 'https:');
  } catch {
    return false;
  }
}

export interface RequestOrigin {
  origin: string;
  host: string;
  /** The Fetch Metadata header browsers send: `same-origin`, `same-site`, `cross-site`, `none`. */
  secFetchSite: string;
}

/**
 * A state-changing request sent with ambient credentials (the session cookie), or a
 * sign-in: allowed only when the browser says it comes from this origin (Origin matches,
 * or Sec-Fetch-Site is same-origin). A same-site page (a sibling subdomain, another port)
 * is not enough: SameSite=Strict lets those through.
 */
export function sameOriginRequest(
  req: RequestOrigin,
  allowed: string[],
  httpsOnly = false,
): boolean {
  if (req.origin) return originAllowed(req.origin, req.host, allowed, httpsOnly);
  return req.secFetchSite === 'same-origin';
}

/** Whether a Content-Type header names JSON (`application/json`, any parameters, any case). */
export function isJsonContentType(contentType: string): boolean {
  return contentType.split(';')[0]!.trim().toLowerCase() === 'application/json';
}
