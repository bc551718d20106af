/**
 * Whether an Accept-Encoding header asks for gzip: `gzip` (or `*`) listed without `q=0`.
 * A header this cannot read means identity, which every client accepts.
 */
export function acceptsGzip(header: string): boolean {
  let gzip: boolean | undefined;
  let star = false;
  for (const part of header.slice(0, 1024).split(',')) {
    const [name = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    const q = params.find((p) => p.startsWith('q='));
    const wanted = q === undefined || Number(q.slice(2)) > 0;
    if (name === 'gzip' || name === 'x-gzip') gzip = wanted;
    else if (name === '*') star = wanted;
  }
  return gzip ?? star;
}
