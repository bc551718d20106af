// Files shipped with the agent besides its code: default-rules.yaml, package.json and, in the
// single executable, the native re2 addon. Run from its package folder (dist/cli.js) they sit
// beside dist/. The single executable (pnpm package:agent) has no folder of its own: they sit in
// <prefix>/lib/tripwire-agent beside <prefix>/bin/tripwire-agent, found from the binary's real
// path, so an unpacked package tree runs from wherever it is as the installed one does.

import { realpathSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Set by services/agent/packaging/bundle.mjs (esbuild `define`); absent in the tsc build. */
declare const TRIPWIRE_AGENT_BUNDLE: { version: string } | undefined;

/** What the single executable's build recorded; undefined when running from the package folder. */
export const BUNDLE: { version: string } | undefined =
  typeof TRIPWIRE_AGENT_BUNDLE === 'undefined' ? undefined : TRIPWIRE_AGENT_BUNDLE;

/** The folder of the single executable's companion files: /usr/lib/tripwire-agent once installed. */
export function bundleLibDir(): string {
  return join(dirname(realpathSync(process.execPath)), '..', 'lib', 'tripwire-agent');
}

/** The path of a file shipped with the agent (`default-rules.yaml`, `package.json`). */
export function shippedFile(name: string): string {
  if (BUNDLE) return join(bundleLibDir(), name);
  // Only the package folder's code reaches this line: the bundle is CommonJS, without import.meta.
  return fileURLToPath(new URL(`../${name}`, import.meta.url));
}

/**
 * Loads a native addon the single executable cannot embed (re2.node) from bundleLibDir(). The
 * bundle's own require() loads built-in modules only (Node's SEA); one made for a real path loads
 * files, .node addons included. packaging/bundle.mjs routes every `require('…/x.node')` here.
 */
export function loadShippedAddon(name: string): unknown {
  const path = join(bundleLibDir(), name);
  try {
    const real = trustedCodePath(path);
    return createRequire(real)(real);
  } catch (err) {
    // Loaded while the bundle's modules initialise, before any command runs: a broken install
    // says what is missing and stops, rather than a stack trace.
    const reason = (err as Error).message.split('\n')[0];
    console.error(
      `tripwire-agent: cannot load ${path} (${reason}); the tripwire-agent package ships it beside the binary, owned by root: reinstall it`,
    );
    process.exit(1);
  }
}

/**
 * The real path of `path` once refusePlantedCode accepts it. Resolved first: a symlink on the
 * way (lib/tripwire-agent -> elsewhere) must have the folders it leads through checked, not
 * the ones it sits in, and the file loaded is the one checked.
 */
export function trustedCodePath(path: string): string {
  const real = realpathSync(path);
  refusePlantedCode(real);
  return real;
}

/**
 * The addon is code run as the agent's user (root, often), found next to wherever the binary
 * is: a copy run from /tmp would load /tmp/lib/tripwire-agent/re2.node, which anyone can create.
 * So the file and every folder above it must belong to root or this user and be writable by no
 * one else (a sticky folder like /tmp excepted: others cannot replace what they do not own).
 */
function refusePlantedCode(path: string): void {
  const me = process.getuid?.();
  for (let p = path; ; p = dirname(p)) {
    const st = statSync(p);
    const sticky = (st.mode & 0o1000) !== 0;
    if (st.uid !== 0 && st.uid !== me)
      throw new Error(`${p} belongs to uid ${st.uid}, neither root nor this user`);
    if ((st.mode & 0o022) !== 0 && !(st.isDirectory() && sticky))
      throw new Error(`${p} is writable by other users`);
    if (p === dirname(p)) return;
  }
}
