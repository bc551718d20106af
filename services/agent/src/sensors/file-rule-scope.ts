import { dirname, resolve } from 'node:path';
import type { AgentRule } from '@tripwire/agent-sdk';
import { compileExclude } from './file-exclude.js';

/** Which paths one FILE rule watches: its target, below it when recursive, minus exclusions. */
export interface FileRuleScope {
  readonly root: string;
  readonly recursive: boolean;
  isExcluded(path: string): boolean;
  /** The root, or below it, not excluded (directly below it only when not recursive). */
  inScope(path: string): boolean;
  /** Directories that get an inotify watch. */
  watchable(dir: string): boolean;
}

/** `path` is `dir` or below it. */
export function isUnder(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir === '/' ? '/' : `${dir}/`);
}

export function fileRuleScope(rule: AgentRule): FileRuleScope {
  const root = resolve(rule.target);
  const recursive = rule.config.recursive !== false;
  const excludeList = Array.isArray(rule.config.exclude)
    ? rule.config.exclude.filter((p): p is string => typeof p === 'string')
    : [];
  const isExcluded = compileExclude(root, excludeList);
  const rootPrefix = root === '/' ? '/' : `${root}/`;
  const inScope = (path: string): boolean => {
    if (path === root) return true;
    if (!path.startsWith(rootPrefix)) return false;
    if (!recursive && dirname(path) !== root) return false;
    for (let p = path; p !== root && p !== '/'; p = dirname(p)) if (isExcluded(p)) return false;
    return true;
  };
  return {
    root,
    recursive,
    isExcluded,
    inScope,
    watchable: (dir) => dir === root || (recursive && inScope(dir)),
  };
}
