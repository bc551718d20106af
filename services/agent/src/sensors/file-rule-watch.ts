import type { Stats } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { AgentRule } from '@tripwire/agent-sdk';
import type { Logger } from '@tripwire/logger';
import { createDirWatchers, type DirWatchers } from './dir-watchers.js';
import { describeChanges, type FileChangeDetail } from './file-changes.js';
import { type FileFacts, readFacts, statPath } from './file-facts.js';
import { fileRuleScope, isUnder } from './file-rule-scope.js';
import { scanTree } from './file-tree.js';

export interface FileRuleWatchOptions {
  log: Logger;
  onChange(rule: AgentRule, detail: FileChangeDetail): void;
  /** Watch directories with inotify; without it only rescans see changes. */
  watch: boolean;
  /** Quiet time per path before an event is acted on, so a burst of writes is one check. */
  debounceMs: number;
}

/** A baseline's progress: the file count once the tree is listed, then each file hashed. */
export interface BaselineProgress {
  counted(total: number): void;
  hashed(path: string): void;
}

/** One FILE rule's target: its baseline, its directory watches, and how it reconciles. */
export interface FileRuleWatch {
  /** Rules with the same key watch the same thing; a rename or new severity keeps the baseline. */
  readonly key: string;
  rule: AgentRule;
  /** The silent first scan: lists the tree, then hashes every file; alerts on nothing. */
  baseline(progress?: BaselineProgress): Promise<void>;
  /** A full re-walk that alerts on anything the events missed. */
  rescan(): Promise<void>;
  close(): void;
  readonly watchedDirs: number;
  readonly fileCount: number;
}

const HASH_CONCURRENCY = 4;

/** Runs `task` on each item, `concurrency` at a time, until done or `stopped()`. */
async function eachConcurrently<T>(
  items: T[],
  concurrency: number,
  stopped: () => boolean,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length && !stopped()) await task(items[next++]!);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

export function ruleWatchKey(rule: AgentRule): string {
  return JSON.stringify([resolve(rule.target), rule.config.recursive, rule.config.exclude]);
}

export function createFileRuleWatch(initial: AgentRule, opts: FileRuleWatchOptions): FileRuleWatch {
  const log = opts.log.child({ ruleId: initial.ruleId, target: initial.target });
  const scope = fileRuleScope(initial);
  const { root, recursive, isExcluded, inScope } = scope;
  const parent = dirname(root);

  const baseline = new Map<string, FileFacts>();
  const debounces = new Map<string, NodeJS.Timeout>();
  const unreadable = new Set<string>();
  let chain: Promise<void> = Promise.resolve();
  let rescanQueued = false;
  let closed = false;

  const enqueue = (task: () => Promise<void>): Promise<void> => {
    chain = chain.then(task).catch((err: unknown) => log.warn({ err }, 'file check failed'));
    return chain;
  };

  const watchers: DirWatchers | null = opts.watch
    ? createDirWatchers((dir, name) => onEvent(dir, name), log)
    : null;

  function onEvent(dir: string, name: string | null): void {
    let path = name === null ? dir : join(dir, name);
    if (!inScope(path)) {
      if (name !== null || !inScope(dir)) return;
      path = dir;
    }
    const pending = debounces.get(path);
    if (pending) clearTimeout(pending);
    debounces.set(
      path,
      setTimeout(() => {
        debounces.delete(path);
        void enqueue(() => reconcile(path, { silent: false, trustStat: false }));
      }, opts.debounceMs),
    );
  }

  function report(detail: FileChangeDetail): void {
    if (closed) return;
    opts.onChange(watch.rule, detail);
  }

  async function factsOf(path: string, st: Stats, known: FileFacts | undefined) {
    const { facts, error } = await readFacts(path, st, known);
    if (error) {
      if (!unreadable.has(path))
        log.warn({ err: error, path }, 'cannot read file; watching its metadata only');
      else log.debug({ err: error, path }, 'file still unreadable');
      unreadable.add(path);
    } else unreadable.delete(path);
    return facts;
  }

  /**
   * Brings the baseline for `start` and everything under it in line with the disk, alerting on
   * each difference unless silent. `trustStat` skips hashing a file whose stat (ctime included)
   * has not moved; event-driven checks always re-hash.
   */
  async function reconcile(
    start: string,
    mode: {
      silent: boolean;
      trustStat: boolean;
      progress?: BaselineProgress;
    },
  ): Promise<void> {
    if (closed) return;
    const scan = await scanTree(start, {
      recursive,
      follow: start === root,
      isExcluded,
      log,
    });
    if (closed) return;

    if (watchers) {
      const dirs = new Map([...scan.dirs].filter(([dir]) => scope.watchable(dir)));
      watchers.sync((dir) => isUnder(dir, start), dirs);
      if (start === root && parent !== root) {
        const parentStat = await statPath(parent, true).catch(() => null);
        watchers.sync(
          (dir) => dir === parent,
          new Map(parentStat ? [[parent, parentStat.ino]] : []),
        );
      }
    }

    const files = [...scan.files].filter(([path]) => inScope(path));
    mode.progress?.counted(files.length);
    const seen = new Set<string>();
    await eachConcurrently(
      files,
      HASH_CONCURRENCY,
      () => closed,
      async ([path, st]) => {
        const known = baseline.get(path);
        const facts = await factsOf(path, st, mode.trustStat ? known : undefined);
        if (facts) {
          seen.add(path);
          baseline.set(path, facts);
        } else baseline.delete(path);
        if (!mode.silent)
          for (const detail of describeChanges(path, known, facts ?? undefined)) report(detail);
        mode.progress?.hashed(path);
      },
    );
    if (closed) return;

    for (const [path, known] of baseline) {
      if (!isUnder(path, start) || seen.has(path)) continue;
      if (scan.unknown.some((u) => isUnder(path, u))) continue;
      baseline.delete(path);
      if (!mode.silent)
        for (const detail of describeChanges(path, known, undefined)) report(detail);
    }
  }

  const watch: FileRuleWatch = {
    key: ruleWatchKey(initial),
    rule: initial,
    baseline(progress) {
      return enqueue(() => reconcile(root, { silent: true, trustStat: false, progress }));
    },
    rescan() {
      if (rescanQueued) return chain;
      rescanQueued = true;
      return enqueue(async () => {
        rescanQueued = false;
        await reconcile(root, { silent: false, trustStat: true });
      });
    },
    close() {
      closed = true;
      for (const t of debounces.values()) clearTimeout(t);
      debounces.clear();
      watchers?.close();
    },
    get watchedDirs() {
      return watchers?.size ?? 0;
    },
    get fileCount() {
      return baseline.size;
    },
  };
  return watch;
}
