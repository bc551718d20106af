import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import {
  checkDestinationUrl,
  checkLiteralHost,
  DestinationError,
  guardedLookup,
} from './destination-address.js';

export interface PostPolicy {
  timeoutMs: number;
  allowPrivate: boolean;
  /** Response bytes read at most (the rest is dropped): a hostile receiver cannot fill memory. */
  maxResponseBytes: number;
}

/**
 * POSTs a body and resolves on a 2xx answer; anything else (a redirect, which is never
 * followed, an error status, a refused connection, the time limit) rejects with a short
 * reason for last_error. The time limit covers the whole exchange: a receiver that accepts
 * and never answers counts as a failed attempt.
 */
export function safePost(
  rawUrl: string,
  body: string,
  headers: Record<string, string>,
  policy: PostPolicy,
): Promise<{ status: number; body: string }> {
  const url = checkDestinationUrl(rawUrl);
  checkLiteralHost(url.hostname, policy.allowPrivate);
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...headers,
        'content-length': Buffer.byteLength(body),
      },
      lookup: guardedLookup(policy.allowPrivate),
      signal: AbortSignal.timeout(policy.timeoutMs),
      agent: false,
    });
    req.on('error', (err) =>
      reject(
        err.name === 'AbortError'
          ? new DestinationError(`timed out after ${policy.timeoutMs} ms`)
          : err,
      ),
    );
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (size < policy.maxResponseBytes)
          chunks.push(chunk.subarray(0, policy.maxResponseBytes - size));
        size += chunk.length;
        if (size >= policy.maxResponseBytes) res.destroy();
      });
      const done = () => {
        const status = res.statusCode ?? 0;
        const text = Buffer.concat(chunks).toString('utf8');
        if (status >= 200 && status < 300) resolve({ status, body: text });
        else if (status >= 300 && status < 400)
          reject(new DestinationError(`redirect (${status}) refused`));
        else reject(new DestinationError(`HTTP ${status}: ${text.slice(0, 200)}`));
      };
      res.on('end', done);
      res.on('close', done);
      res.on('error', reject);
    });
    req.end(body);
  });
}
