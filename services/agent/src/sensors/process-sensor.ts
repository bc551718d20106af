import type { AgentRule } from '@tripwire/agent-sdk';
import { readUserNames } from './passwd-users.js';
import { createPollLoop } from './poll-loop.js';
import {
  clockTicksPerSecond,
  DEFAULT_CMDLINE_MAX_BYTES,
  type FullCmdline,
  listPids,
  type ProcessInfo,
  readBootTime,
  readCmdline,
  readProcess,
  readProcLink,
  startTimeIso,
  truncatedCmdlines,
} from './proc-processes.js';
import { compileProcessPattern, type ProcessPattern } from './process-pattern.js';
import { draftFor, rulesOfType, type Sensor, type SensorContext, safeEmit } from './sensor.js';

export interface ProcessSensorOptions {
  /** Default 1000 ms. A process that starts and exits between two polls is not seen. */
  pollMs?: number;
  /** Default /proc. */
  procRoot?: string;
  /** Default /etc/passwd: where uids get their names. */
  passwdPath?: string;
  /** Command lines are cut to this many bytes in alerts (default 4096); rules match the whole. */
  cmdlineMaxBytes?: number;
}

/** What the process sensor counts, for the agent's stats. */
export interface ProcessSensorStats {
  /** Rules of the current set that RE2 cannot run, so they watch nothing. */
  rulesRefused: number;
  /** Command lines cut to the cap in an alert's report (matched whole), since start. */
  cmdlinesTruncated: number;
  /** Command lines longer than CMDLINE_READ_CAP_BYTES (only prctl PR_SET_MM makes one): the first 8 MiB were matched. */
  cmdlinesOverReadCap: number;
}

/**
 * How many polls a new pid's command line is re-read for: fork() and exec() are two steps, and a
 * poll that lands between them sees the parent's command line under the child's pid.
 */
const RECHECK_POLLS = 3;

interface ArmedRule {
  rule: AgentRule;
  pattern: ProcessPattern;
}

/** A pid seen since the baseline; null for one already running at the baseline. */
interface SeenProcess {
  info: ProcessInfo;
  exe: string | null | undefined;
  /** Rules this pid already alerted for: one alert per pid and rule. */
  alerted: Set<string>;
  /** Polls left in which to re-read the command line: fork then exec can straddle a poll. */
  recheck: number;
}

/** Counts a command line cut in its report, or longer than the read cap (logged: rare, odd). */
function countCmdline(
  counts: ProcessSensorStats,
  cmdline: FullCmdline,
  maxBytes: number,
  log: SensorContext['log'],
): void {
  if (cmdline.bytes > maxBytes) counts.cmdlinesTruncated++;
  if (!cmdline.overReadCap) return;
  counts.cmdlinesOverReadCap++;
  log.warn(
    { bytes: cmdline.bytes },
    'command line past the 8 MiB read cap; matched its first 8 MiB',
  );
}

/**
 * PROCESS tripwires: polls /proc, and a pid that was not there at the previous poll whose command
 * line (or executable) matches a rule's pattern raises an alert.
 */
export function createProcessSensor(
  ctx: SensorContext,
  opts: ProcessSensorOptions = {},
): Sensor & { stats(): ProcessSensorStats } {
  const log = ctx.log.child({ sensor: 'process' });
  const procRoot = opts.procRoot ?? '/proc';
  const cmdlineMaxBytes = opts.cmdlineMaxBytes ?? DEFAULT_CMDLINE_MAX_BYTES;
  const counts: ProcessSensorStats = {
    rulesRefused: 0,
    cmdlinesTruncated: 0,
    cmdlinesOverReadCap: 0,
  };
  let armed: ArmedRule[] = [];
  let seen = new Map<number, SeenProcess | null>();
  let bootTime: number | null | undefined;
  let stopped = false;

  const exeOf = async (p: SeenProcess) => {
    p.exe ??= await readProcLink(procRoot, p.info.pid, 'exe');
    return p.exe;
  };

  async function alert(rule: AgentRule, p: SeenProcess, on: 'cmdline' | 'exe'): Promise<void> {
    const { info } = p;
    bootTime ??= await readBootTime(procRoot).catch((err: unknown) => {
      log.warn({ err }, 'no boot time in /proc/stat; start_time will be null');
      return null;
    });
    const [users, ticks, cwd, parentCmdline] = await Promise.all([
      readUserNames(opts.passwdPath),
      clockTicksPerSecond(),
      readProcLink(procRoot, info.pid, 'cwd'),
      readCmdline(procRoot, info.ppid, cmdlineMaxBytes),
    ]);
    if (stopped || !armed.some((a) => a.rule.ruleId === rule.ruleId)) return;
    const truncated = truncatedCmdlines(
      {
        cmdline: { text: info.cmdline, bytes: info.cmdlineBytes },
        parent_cmdline: parentCmdline,
      },
      cmdlineMaxBytes,
    );
    const detail = {
      pid: info.pid,
      ppid: info.ppid,
      cmdline: info.cmdline,
      exe: await exeOf(p),
      user: users.get(info.uid) ?? null,
      uid: info.uid,
      start_time: bootTime === null ? null : startTimeIso(bootTime, info.startTicks, ticks),
      start_ticks: info.startTicks, // kill_process checks it (docs/response-actions.md)
      cwd,
      parent_cmdline: parentCmdline?.text ?? null,
      matched_on: on,
      ...(truncated && { truncated }),
    };
    log.info({ ruleId: rule.ruleId, pid: info.pid, cmdline: info.cmdline }, 'process tripwire');
    safeEmit(ctx, draftFor(rule, detail));
  }

  /** `whole` is the whole command line, matched and then dropped (alerts report the cut one). */
  async function evaluate(p: SeenProcess, whole: string): Promise<void> {
    for (const { rule, pattern } of armed) {
      if (p.alerted.has(rule.ruleId)) continue;
      const text = pattern.on === 'exe' ? await exeOf(p) : whole || p.info.cmdline;
      if (text === null || !pattern.test(text)) continue;
      p.alerted.add(rule.ruleId);
      await alert(rule, p, pattern.on);
    }
  }

  async function poll(): Promise<void> {
    const pids = await listPids(procRoot);
    const alive = new Set(pids);
    for (const pid of seen.keys()) if (!alive.has(pid)) seen.delete(pid);

    for (const [pid, p] of seen) {
      if (!p || p.recheck <= 0) continue;
      p.recheck--;
      const cmdline = await readCmdline(procRoot, pid, cmdlineMaxBytes);
      // The digest of the whole: an exec() that changes only what lies past the cut counts too.
      if (!cmdline || cmdline.digest === p.info.cmdlineDigest) continue;
      countCmdline(counts, cmdline, cmdlineMaxBytes, log);
      p.info = {
        ...p.info,
        cmdline: cmdline.text,
        cmdlineBytes: cmdline.bytes,
        cmdlineDigest: cmdline.digest,
      };
      p.exe = undefined;
      await evaluate(p, cmdline.whole);
    }

    for (const pid of pids) {
      if (seen.has(pid) || stopped) continue;
      const read = await readProcess(procRoot, pid, cmdlineMaxBytes).catch((err: unknown) => {
        log.debug({ err, pid }, 'cannot read process');
        return null;
      });
      if (!read) {
        // Exited between listing and reading (or unreadable): never looked at again.
        seen.set(pid, null);
        continue;
      }
      countCmdline(counts, read.cmdline, cmdlineMaxBytes, log);
      const p: SeenProcess = {
        info: read.info,
        exe: undefined,
        alerted: new Set(),
        recheck: RECHECK_POLLS,
      };
      seen.set(pid, p);
      await evaluate(p, read.cmdline.whole);
    }
  }

  const loop = createPollLoop(poll, opts.pollMs ?? 1000, log);

  return {
    type: 'PROCESS',
    async update(rules) {
      if (stopped) return;
      const compiled = rulesOfType(rules, 'PROCESS').map((rule) => ({
        rule,
        pattern: compileProcessPattern(rule, log),
      }));
      armed = compiled.filter((a): a is ArmedRule => a.pattern !== null);
      counts.rulesRefused = compiled.length - armed.length;
      if (armed.length === 0) {
        await loop.stop();
        seen = new Map();
        return;
      }
      if (!loop.running) {
        // Baseline: everything running now is known, so none of it alerts.
        seen = new Map((await listPids(procRoot)).map((pid) => [pid, null]));
        loop.start();
      }
      log.info({ rules: armed.map((a) => a.pattern.describe) }, 'process tripwires armed');
    },
    async stop() {
      stopped = true;
      await loop.stop();
    },
    stats: () => ({ ...counts }),
  };
}
