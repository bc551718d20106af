import { chmodSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Creates dir (and missing parents) as 0700 and makes sure dir itself is 0700 even if it
 * existed: no other local user may list or enter it, whatever the files inside say.
 */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

/**
 * Every folder under root 0700 and every file 0600. PGlite's first start copies a template
 * cluster in with mode 0666 (emscripten's default), whatever the umask; the files PostgreSQL
 * creates later are 0600 by itself, and `pnpm start` sets umask 077 for the folders.
 * Symbolic links are left alone (chmod would follow them out of the folder).
 */
export function tightenModes(root: string): void {
  const walk = (path: string) => {
    const stat = lstatSync(path, { throwIfNoEntry: false });
    if (!stat || stat.isSymbolicLink()) return;
    const wanted = stat.isDirectory() ? 0o700 : 0o600;
    if ((stat.mode & 0o777) !== wanted) ignoreVanished(() => chmodSync(path, wanted));
    if (stat.isDirectory()) {
      for (const name of ignoreVanished(() => readdirSync(path)) ?? []) walk(join(path, name));
    }
  };
  walk(root);
}

// PostgreSQL removes temporary files while the sweep runs: one gone meanwhile is fine.
function ignoreVanished<T>(action: () => T): T | undefined {
  try {
    return action();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
