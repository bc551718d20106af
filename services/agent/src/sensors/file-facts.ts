import { createHash } from 'node:crypto';
import { createReadStream, type Stats } from 'node:fs';
import { lstat, readlink, stat } from 'node:fs/promises';

/** What the file sensor remembers about one watched path. */
export interface FileFacts {
  /** SHA-256 of the content (of the link target's text for a symlink); null when unreadable. */
  sha256: string | null;
  /** Permission bits, setuid/setgid/sticky included. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeMs: number;
  /** Changes on every content, mode or owner change, and cannot be set back by a user. */
  ctimeMs: number;
  ino: number;
  /** Set for a symbolic link: where it points. */
  linkTarget?: string;
}

/** '0644', '4755': the way `stat -c %a` and people write modes. */
export function formatMode(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

export function hashFile(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('error', reject)
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/** Errors that mean "this path is gone or never was", as opposed to a real failure. */
export function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

export type PathKind = 'file' | 'symlink' | 'dir' | 'other' | 'missing';

export function kindOf(st: Stats | null): PathKind {
  if (!st) return 'missing';
  if (st.isFile()) return 'file';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isDirectory()) return 'dir';
  return 'other';
}

/** lstat (or stat, following links, for a rule's own target); null when the path is gone. */
export async function statPath(path: string, follow: boolean): Promise<Stats | null> {
  try {
    return follow ? await stat(path) : await lstat(path);
  } catch (err) {
    if (isMissing(err)) return null;
    throw err;
  }
}

/** True when nothing that stat shows has moved, so the content cannot have changed either. */
export function sameStat(st: Stats, known: FileFacts): boolean {
  return (
    st.ino === known.ino &&
    st.size === known.size &&
    st.mtimeMs === known.mtimeMs &&
    st.ctimeMs === known.ctimeMs &&
    (st.mode & 0o7777) === known.mode &&
    st.uid === known.uid &&
    st.gid === known.gid
  );
}

export interface ReadFactsResult {
  facts: FileFacts | null;
  /** Set when the content could not be read (facts then carry sha256 null). */
  error?: unknown;
}

/**
 * The facts of a regular file or symlink at `path` (stat already taken), hashing the content by
 * streaming. `known` with an unchanged stat skips the hash. A path that vanished gives null.
 */
export async function readFacts(
  path: string,
  st: Stats,
  known: FileFacts | undefined,
): Promise<ReadFactsResult> {
  const base = {
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    size: st.size,
    mtimeMs: st.mtimeMs,
    ctimeMs: st.ctimeMs,
    ino: st.ino,
  };
  if (known && sameStat(st, known)) return { facts: known };
  try {
    if (st.isSymbolicLink()) {
      const linkTarget = await readlink(path);
      return {
        facts: {
          ...base,
          sha256: createHash('sha256').update(linkTarget).digest('hex'),
          linkTarget,
        },
      };
    }
    return { facts: { ...base, sha256: await hashFile(path) } };
  } catch (err) {
    if (isMissing(err)) return { facts: null };
    return { facts: { ...base, sha256: null }, error: err };
  }
}
