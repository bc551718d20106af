import type { AgentRule } from '@tripwire/agent-sdk';
import { createFileRuleWatch, type FileRuleWatch, ruleWatchKey } from './file-rule-watch.js';
import { draftFor, rulesOfType, type Sensor, type SensorContext, safeEmit } from './sensor.js';

export interface FileSensorOptions {
  /** Full re-walk of every target, catching what events missed; default 60 s. */
  rescanMs?: number;
  /**
   * Progress of a silent baseline (all targets an update() adds, together): files hashed so
   * far, of how many, the latest path. Reported once every new target has been listed.
   */
  onBaselineProgress?: (done: number, total: number, path: string) => void;
  /** Per-path quiet time before an event is checked; default 75 ms. */
  debounceMs?: number;
  /** Use inotify (fs.watch) on every watched directory; default true. Off: rescans only. */
  watch?: boolean;
}

/**
 * Baselines new targets side by side, reporting one combined count: nothing until every target
 * has been listed (so the total is right), then each file hashed.
 */
async function baselineAll(
  watches: FileRuleWatch[],
  onProgress: FileSensorOptions['onBaselineProgress'],
): Promise<void> {
  let uncounted = watches.length;
  let total = 0;
  let done = 0;
  let lastPath = '';
  await Promise.all(
    watches.map(async (w) => {
      let counted = false;
      const count = (n: number) => {
        if (counted) return;
        counted = true;
        total += n;
        if (--uncounted === 0 && done > 0) onProgress?.(done, total, lastPath);
      };
      await w.baseline({
        counted: count,
        hashed(path) {
          done++;
          lastPath = path;
          if (uncounted === 0) onProgress?.(done, total, path);
        },
      });
      count(0); // a target that failed before it was listed must not hold the others' progress back
    }),
  );
}

/**
 * FILE tripwires: a SHA-256 baseline of every file under each rule's target, kept current by
 * per-directory inotify watches and a periodic full rescan.
 */
export function createFileSensor(ctx: SensorContext, opts: FileSensorOptions = {}): Sensor {
  const log = ctx.log.child({ sensor: 'file' });
  const rescanMs = opts.rescanMs ?? 60_000;
  const watches = new Map<string, FileRuleWatch>();
  let rescanTimer: NodeJS.Timeout | undefined;
  let stopped = false;

  const scheduleRescan = () => {
    if (rescanTimer || stopped || watches.size === 0) return;
    rescanTimer = setTimeout(async () => {
      const started = Date.now();
      await Promise.all([...watches.values()].map((w) => w.rescan()));
      if (!stopped) log.debug({ ms: Date.now() - started, rules: watches.size }, 'rescan done');
      rescanTimer = undefined;
      scheduleRescan();
    }, rescanMs);
  };

  const onChange = (rule: AgentRule, detail: Record<string, unknown>) => {
    log.info({ ruleId: rule.ruleId, path: detail.path, change: detail.change }, 'file tripwire');
    safeEmit(ctx, draftFor(rule, detail));
  };

  return {
    type: 'FILE',
    async update(rules) {
      if (stopped) return;
      const wanted = rulesOfType(rules, 'FILE');
      const wantedIds = new Set(wanted.map((r) => r.ruleId));
      for (const [id, w] of watches) {
        const now = wanted.find((r) => r.ruleId === id);
        if (!now || ruleWatchKey(now) !== w.key) {
          w.close();
          watches.delete(id);
        }
      }
      const fresh: FileRuleWatch[] = [];
      for (const rule of wanted) {
        const existing = watches.get(rule.ruleId);
        if (existing) {
          existing.rule = rule; // same target and config: keep the baseline, take the new name/severity
          continue;
        }
        const w = createFileRuleWatch(rule, {
          log,
          onChange,
          watch: opts.watch ?? true,
          debounceMs: opts.debounceMs ?? 75,
        });
        watches.set(rule.ruleId, w);
        fresh.push(w);
      }
      await baselineAll(fresh, opts.onBaselineProgress);
      log.info(
        {
          rules: wantedIds.size,
          files: [...watches.values()].reduce((n, w) => n + w.fileCount, 0),
          directories: [...watches.values()].reduce((n, w) => n + w.watchedDirs, 0),
        },
        'file tripwires armed',
      );
      if (watches.size === 0 && rescanTimer) {
        clearTimeout(rescanTimer);
        rescanTimer = undefined;
      }
      scheduleRescan();
    },
    async stop() {
      stopped = true;
      if (rescanTimer) clearTimeout(rescanTimer);
      rescanTimer = undefined;
      for (const w of watches.values()) w.close();
      watches.clear();
    },
  };
}
