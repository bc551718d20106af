import { type FSWatcher, watch } from 'node:fs';
import type { Logger } from '@tripwire/logger';
import { isMissing } from './file-facts.js';

/**
 * One non-recursive fs.watch (one inotify watch) per directory. Node 20's `recursive: true` on
 * Linux is emulated in JavaScript with one watch per file *and* directory and a synchronous
 * walk, which is too heavy for trees like /usr; a directory's inotify watch already reports
 * every change to the entries in it, so a watch per directory is enough.
 */
export interface DirWatchers {
  /**
   * Makes the watched directories among those `inScope` exactly `dirs` (path → inode): adds the
   * missing ones, drops the ones gone, and re-watches a directory whose inode changed (replaced).
   */
  sync(inScope: (dir: string) => boolean, dirs: ReadonlyMap<string, number>): void;
  readonly size: number;
  close(): void;
}

export function createDirWatchers(
  onEvent: (dir: string, name: string | null) => void,
  log: Logger,
): DirWatchers {
  const watched = new Map<string, { watcher: FSWatcher; ino: number }>();
  let closed = false;
  let warnedLimit = false;

  const drop = (dir: string) => {
    watched.get(dir)?.watcher.close();
    watched.delete(dir);
  };

  const add = (dir: string, ino: number) => {
    try {
      const watcher = watch(dir, { persistent: true }, (_event, name) => {
        if (!closed) onEvent(dir, typeof name === 'string' ? name : null);
      });
      // A watch dies with its directory; the next reconcile or rescan of that path re-adds it.
      watcher.on('error', (err) => {
        log.debug({ err, path: dir }, 'directory watch ended');
        if (watched.get(dir)?.watcher === watcher) drop(dir);
      });
      watched.set(dir, { watcher, ino });
    } catch (err) {
      if (isMissing(err)) return;
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOSPC' || code === 'EMFILE') {
        if (!warnedLimit) {
          log.warn({ err, path: dir }, 'inotify limit reached; relying on rescans for the rest');
          warnedLimit = true;
        }
        return;
      }
      log.warn({ err, path: dir }, 'cannot watch directory; relying on rescans');
    }
  };

  return {
    sync(inScope, dirs) {
      if (closed) return;
      for (const [dir, entry] of watched) {
        if (inScope(dir) && dirs.get(dir) !== entry.ino) drop(dir);
      }
      for (const [dir, ino] of dirs) {
        if (!watched.has(dir)) add(dir, ino);
      }
    },
    get size() {
      return watched.size;
    },
    close() {
      closed = true;
      for (const dir of [...watched.keys()]) drop(dir);
    },
  };
}
