import { basename, isAbsolute, relative, sep } from 'node:path';

/** Decides whether a path under a rule's root is left out (and, for a directory, not entered). */
export type ExcludeMatcher = (path: string) => boolean;

const GLOB_CHARS = /[*?]/;

function globToRegExp(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      out += '.*';
      i++;
    } else if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else out += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}

/**
 * config.exclude patterns, gitignore-like:
 * - without a slash (`*.swp`, `.git`): matches a file or directory name at any depth;
 * - starting with a slash: an absolute path; otherwise a path relative to the rule's root;
 * - with `*` / `?` / `**` a glob, else the path itself and everything under it.
 */
export function compileExclude(root: string, patterns: readonly string[]): ExcludeMatcher {
  const tests = patterns
    .filter((p) => typeof p === 'string' && p.length > 0)
    .map((raw): ((abs: string, rel: string, name: string) => boolean) => {
      const pattern = raw.length > 1 ? raw.replace(/\/+$/, '') : raw;
      const byName = !pattern.includes('/');
      const absolute = isAbsolute(pattern);
      if (GLOB_CHARS.test(pattern)) {
        const re = globToRegExp(pattern);
        if (byName) return (_abs, _rel, name) => re.test(name);
        return absolute ? (abs) => re.test(abs) : (_abs, rel) => re.test(rel);
      }
      if (byName) return (_abs, _rel, name) => name === pattern;
      const under = (p: string, prefix: string) => p === prefix || p.startsWith(`${prefix}/`);
      return absolute ? (abs) => under(abs, pattern) : (_abs, rel) => under(rel, pattern);
    });
  if (tests.length === 0) return () => false;
  return (path) => {
    const rel = relative(root, path).split(sep).join('/');
    const name = basename(path);
    return tests.some((t) => t(path, rel, name));
  };
}
