import type { HttpResponse } from 'uWebSockets.js';
import { jsonNestedDeeperThan, MAX_JSON_DEPTH } from '@tripwire/wire';
import { ApiError } from './api-errors.js';
import { isJsonContentType } from './cross-site.js';
import { MAX_BODY_BYTES } from './limits.js';

/**
 * A REST request's JSON body, bounded: at most MAX_BODY_BYTES (413), sent as
 * application/json (415: a form or text/plain body is what a cross-site page can send
 * without asking), nested at most MAX_JSON_DEPTH deep, and valid JSON (400). An empty
 * body is `undefined`. Must be called before the handler returns (onData is registered now).
 */
export function readJsonBody(
  res: HttpResponse,
  state: { aborted: boolean },
  contentType: string,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    res.onData((chunk, isLast) => {
      if (refused || state.aborted) return;
      size += chunk.byteLength;
      if (size > MAX_BODY_BYTES) {
        refused = true;
        reject(new ApiError(413, 'body_too_large', `request body over ${MAX_BODY_BYTES} bytes`));
        return;
      }
      // uWebSockets.js reuses the chunk's memory after this callback: copy it.
      chunks.push(Buffer.from(new Uint8Array(chunk)));
      if (!isLast) return;
      try {
        resolve(parseBody(Buffer.concat(chunks).toString(), contentType));
      } catch (err) {
        reject(err);
      }
    });
  });
}

function parseBody(text: string, contentType: string): unknown {
  if (!text) return undefined;
  if (!isJsonContentType(contentType)) {
    throw new ApiError(
      415,
      'unsupported_media_type',
      'send the request body as JSON with "Content-Type: application/json"',
    );
  }
  if (jsonNestedDeeperThan(text, MAX_JSON_DEPTH)) {
    throw new ApiError(400, 'invalid_json', `request body is nested over ${MAX_JSON_DEPTH} deep`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(400, 'invalid_json', 'request body is not valid JSON');
  }
}
