import { posix } from 'node:path';

/** The agent declined (policy or a safety check) and changed nothing: the task ends REFUSED. */
export class TaskRefusal extends Error {}

export const MAX_PATH_BYTES = 4096;

/** Text that reaches a syscall or a log: bounded, and never a NUL (which would cut it short). */
export function checkText(what: string, value: string, maxBytes: number): string {
  if (value.includes('\0')) throw new TaskRefusal(`${what} holds a NUL byte`);
  const bytes = Buffer.byteLength(value);
  if (bytes > maxBytes) throw new TaskRefusal(`${what} is ${bytes} bytes; at most ${maxBytes}`);
  return value;
}

/**
 * An absolute path in its plain form: no `.` or `..` segment, no `//`, no trailing slash, so
 * what the operator asked for is exactly what is touched (symlinks are checked at open).
 */
export function checkPath(what: string, path: string): string {
  checkText(what, path, MAX_PATH_BYTES);
  if (!path.startsWith('/')) throw new TaskRefusal(`${what} must be an absolute path`);
  if (path.split('/').some((segment) => segment === '..' || segment === '.'))
    throw new TaskRefusal(`${what} must not hold "." or ".." segments`);
  if (path !== '/' && posix.normalize(path) !== path)
    throw new TaskRefusal(`${what} must be in plain form (no "//", no trailing "/")`);
  return path;
}

/** Whether `path` is `dir` or inside it. */
export function isInside(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
}

/** A short, printable form of operator input for an error message. */
export function quoted(value: string): string {
  return JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}…` : value);
}
