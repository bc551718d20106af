import { existsSync } from 'node:fs';
import type { Logger } from '@tripwire/logger';
import type { AgentTaskPolicy } from '@tripwire/proto';
import RE2 from 're2';
import type { ActionName } from './action-names.js';

export interface TaskPolicySettings {
  /** Only these actions run; empty (the default): none. */
  enabledActions: readonly ActionName[];
  /** RE2 patterns, each matched against the whole command line. */
  shellAllowPatterns: readonly string[];
  /** shell_execute runs anything (and through /bin/sh); only with an explicit setting. */
  shellUnrestricted: boolean;
  /** While this file exists, every task is refused. */
  killSwitchFile: string;
  defaultTimeoutS: number;
  maxTimeoutS: number;
  maxOutputBytes: number;
  maxFetchBytes: number;
  maxConcurrent: number;
}

/** How often the kill switch file is looked for, to report a change to the server. */
const KILL_SWITCH_POLL_MS = 2_000;

/**
 * The agent's own say over response actions, whatever the server asks: actions are off unless
 * the config enables them one by one, shell is limited to an allow-list unless explicitly
 * unrestricted, and one file on the host turns everything off at once.
 */
export class TaskPolicy {
  private readonly allow: RE2[];
  private readonly listeners = new Set<() => void>();
  private killSwitchOn: boolean;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly settings: TaskPolicySettings,
    private readonly log?: Logger,
  ) {
    // Anchored: a pattern must match the whole command line, not a piece of it.
    this.allow = settings.shellAllowPatterns.map((p) => {
      try {
        return new RE2(`^(?:${p})$`);
      } catch (err) {
        throw new Error(
          `shell allow pattern ${JSON.stringify(p)} is not an RE2 expression: ${(err as Error).message}`,
        );
      }
    });
    this.killSwitchOn = existsSync(settings.killSwitchFile);
  }

  /** Looks for the kill switch file now and then, so its change reaches the server's console. */
  watch(): void {
    this.timer ??= setInterval(() => this.killSwitch(), KILL_SWITCH_POLL_MS).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Checked on every task (not only by the poll): the switch works the moment the file exists. */
  killSwitch(): boolean {
    const on = existsSync(this.settings.killSwitchFile);
    if (on !== this.killSwitchOn) {
      this.killSwitchOn = on;
      this.log?.warn(
        { killSwitch: on, file: this.settings.killSwitchFile },
        on ? 'task kill switch on: every task is refused' : 'task kill switch off',
      );
      for (const listener of this.listeners) listener();
    }
    return on;
  }

  /** Why this action may not run, or null. */
  refusal(action: ActionName | undefined): string | null {
    if (this.killSwitch())
      return `response actions are switched off on this host (${this.settings.killSwitchFile} exists)`;
    if (!action) return 'this agent does not know that action';
    if (!this.settings.enabledActions.includes(action))
      return `${action} is not enabled in this agent's configuration (--task-actions)`;
    return null;
  }

  get shellRestricted(): boolean {
    return !this.settings.shellUnrestricted;
  }

  /** Whether a restricted shell may run this command line (argv joined by single spaces). */
  shellAllows(commandLine: string): boolean {
    return this.allow.some((re) => re.test(commandLine));
  }

  report(): AgentTaskPolicy {
    const s = this.settings;
    return {
      enabledActions: [...s.enabledActions],
      shellRestricted: this.shellRestricted,
      shellAllowPatterns: this.shellRestricted ? [...s.shellAllowPatterns] : [],
      killSwitch: this.killSwitch(),
      maxTimeoutSeconds: s.maxTimeoutS,
      defaultTimeoutSeconds: s.defaultTimeoutS,
      maxOutputBytes: s.maxOutputBytes,
      maxFetchBytes: s.maxFetchBytes,
      maxConcurrentTasks: s.maxConcurrent,
    };
  }
}
