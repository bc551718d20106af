import type { AgentRule } from '@tripwire/agent-sdk';
import { readUserNames } from './passwd-users.js';
import { createPollLoop } from './poll-loop.js';
import {
  clockTicksPerSecond,
  listPids,
  type ProcessInfo,
  readBootTime,
  readCmdline,
  readProcess,
  readProcLink,
  startTimeIso,
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

/**
 * PROCESS tripwires: polls /proc, and a pid that was not there at the previous poll whose command
 * line (or executable) matches a rule's pattern raises an alert.
 */
export function createProcessSensor(ctx: SensorContext, opts: ProcessSensorOptions = {}): Sensor {
  const log = ctx.log.child({ sensor: 'process' });
  const procRoot = opts.procRoot ?? '/proc';
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
      readCmdline(procRoot, info.ppid),
    ]);
    if (stopped || !armed.some((a) => a.rule.ruleId === rule.ruleId)) return;
    const detail = {
      pid: info.pid,
      ppid: info.ppid,
      cmdline: info.cmdline,
      exe: await exeOf(p),
      user: users.get(info.uid) ?? null,
      uid: info.uid,
      start_time: bootTime === null ? null : startTimeIso(bootTime, info.startTicks, ticks),
      cwd,
      parent_cmdline: parentCmdline,
      matched_on: on,
    };
    log.info({ ruleId: rule.ruleId, pid: info.pid, cmdline: info.cmdline }, 'process tripwire');
    safeEmit(ctx, draftFor(rule, detail));
  }

  async function evaluate(p: SeenProcess): Promise<void> {
    for (const { rule, pattern } of armed) {
      if (p.alerted.has(rule.ruleId)) continue;
      const text = pattern.on === 'exe' ? await exeOf(p) : p.info.cmdline;
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
      const cmdline = await readCmdline(procRoot, pid);
      if (!cmdline || cmdline === p.info.cmdline) continue;
      p.info = { ...p.info, cmdline };
      p.exe = undefined;
      await evaluate(p);
    }

    for (const pid of pids) {
      if (seen.has(pid) || stopped) continue;
      const info = await readProcess(procRoot, pid).catch((err: unknown) => {
        log.debug({ err, pid }, 'cannot read process');
        return null;
      });
      if (!info) {
        // Exited between listing and reading (or unreadable): never looked at again.
        seen.set(pid, null);
        continue;
      }
      const p: SeenProcess = { info, exe: undefined, alerted: new Set(), recheck: RECHECK_POLLS };
      seen.set(pid, p);
      await evaluate(p);
    }
  }

  const loop = createPollLoop(poll, opts.pollMs ?? 1000, log);

  return {
    type: 'PROCESS',
    async update(rules) {
      if (stopped) return;
      armed = rulesOfType(rules, 'PROCESS').map((rule) => ({
        rule,
        pattern: compileProcessPattern(rule, log),
      }));
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
  };
}
