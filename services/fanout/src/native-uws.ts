import type * as Uws from 'uWebSockets.js';
import { createRequire } from 'node:module';

/** The Node versions the fan-out runs on (package.json `engines` says the same). */
export const FANOUT_NODE_RANGE = '>=20.11 <21';

/**
 * Why this Node cannot run the fan-out, or undefined when it can. The only native
 * uWebSockets.js build installable here (the npm republish in the catalog) ships binaries for
 * Node 16, 18 and 20 (ABI 93/108/115) alone, and the republishes with binaries for newer
 * Node need glibc 2.38, which Debian 12 (2.36) lacks. On any other Node the module silently
 * swaps in its pure-JS emulation; 20.11 is the floor of the rest of the stack.
 */
export function unsupportedNode(node: string = process.versions.node): string | undefined {
  const [major = 0, minor = 0] = node.split('.').map(Number);
  if (major === 20 && minor >= 11) return undefined;
  return (
    `the fan-out runs on Node ${FANOUT_NODE_RANGE} only, not Node ${node}: its uWebSockets.js ` +
    `build (@trufflesuite/uws-js-unofficial 20.30.0) has native binaries for Node 16, 18 and 20 ` +
    `only (the republishes for newer Node need glibc 2.38); run it on Node 20`
  );
}

/**
 * uWebSockets.js, refusing an unsupported Node and the silent pure-JS fallback: that fallback
 * is far slower and lacks the native pub/sub this service's fan-out relies on.
 */
export function loadNativeUws(node: string = process.versions.node): typeof Uws {
  const problem = unsupportedNode(node);
  if (problem) throw new Error(problem);
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
        `${process.platform}-${process.arch} Node ABI ${process.versions.modules} ` +
        `(glibc Linux x64 on Node ${FANOUT_NODE_RANGE} expected)`,
    );
  }
  return uws;
}
