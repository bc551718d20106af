import type * as Uws from 'uWebSockets.js';
import { createRequire } from 'node:module';

/**
 * uWebSockets.js, refusing its silent pure-JS fallback: that fallback is far
 * slower and lacks the native pub/sub this service's fan-out relies on.
 */
export function loadNativeUws(): typeof Uws {
  if (/^(1|true)$/i.test(process.env.UWS_USE_FALLBACK ?? '')) {
    throw new Error(
      'UWS_USE_FALLBACK is set: the fan-out service only runs on the native uWebSockets.js binary',
    );
  }
  const uws = createRequire(import.meta.url)('uWebSockets.js') as typeof Uws;
  const native = /\[native code\]/.test(Function.prototype.toString.call(uws.App));
  if (!native) {
    throw new Error(
      `uWebSockets.js fell back to its JavaScript implementation: no native binary for ` +
        `${process.platform}-${process.arch} Node ABI ${process.versions.modules} (glibc Linux x64 / Node 20 expected)`,
    );
  }
  return uws;
}
