import type { AgentRule } from '@tripwire/agent-sdk';
import type { Logger } from '@tripwire/logger';
import { readUserNames } from './passwd-users.js';
import { createPollLoop } from './poll-loop.js';
import { readTcpSockets, TCP_LISTEN, type TcpSocket } from './proc-net-tcp.js';
import {
  type Cmdline,
  DEFAULT_CMDLINE_MAX_BYTES,
  readCmdline,
  truncatedCmdlines,
} from './proc-processes.js';
import { draftFor, rulesOfType, type Sensor, type SensorContext, safeEmit } from './sensor.js';
import { findSocketOwners } from './socket-owners.js';

export interface NetworkSensorOptions {
  /** Default 2000 ms. A connection opened and fully gone between two polls is not seen. */
  pollMs?: number;
  /** Default /proc: /proc/net/tcp and tcp6 are read from here. */
  procRoot?: string;
  passwdPath?: string;
  /** The owning process's command line is cut to this many bytes (default 4096). */
  cmdlineMaxBytes?: number;
}

/** A NETWORK rule's target: "listen"/"*" (any new listener) or ports ("4444", "22,4444"). */
export type NetworkTarget = { kind: 'any-listen' } | { kind: 'ports'; ports: ReadonlySet<number> };

export function parseNetworkTarget(target: string): NetworkTarget | null {
  const t = target.trim().toLowerCase();
  if (t === 'listen' || t === '*') return { kind: 'any-listen' };
  const ports = t.split(',').map((p) => p.trim());
  if (ports.length === 0 || ports.some((p) => !/^\d{1,5}$/.test(p) || Number(p) > 65535)) {
    return null;
  }
  return { kind: 'ports', ports: new Set(ports.map(Number)) };
}

/** Does a socket first seen now trip this target? */
export function socketMatches(target: NetworkTarget, s: TcpSocket): boolean {
  if (target.kind === 'any-listen') return s.state === TCP_LISTEN;
  if (s.state === TCP_LISTEN) return target.ports.has(s.localPort);
  return target.ports.has(s.localPort) || target.ports.has(s.remotePort);
}

/**
 * A listener is the same one while its inode lives; a connection is its 4-tuple, whatever state
 * it moves through (SYN_SENT → ESTABLISHED → TIME_WAIT is one connection).
 */
function socketKey(s: TcpSocket): string {
  const local = `${s.localAddress}:${s.localPort}`;
  return s.state === TCP_LISTEN
    ? `L ${s.protocol} ${local} ${s.inode}`
    : `C ${s.protocol} ${local} ${s.remoteAddress}:${s.remotePort}`;
}

interface ArmedRule {
  rule: AgentRule;
  target: NetworkTarget;
}

function armRules(rules: AgentRule[], log: Logger): ArmedRule[] {
  const armed: ArmedRule[] = [];
  for (const rule of rulesOfType(rules, 'NETWORK')) {
    const target = parseNetworkTarget(rule.target);
    if (target) armed.push({ rule, target });
    else {
      log.warn(
        { ruleId: rule.ruleId, target: rule.target },
        'NETWORK rule target is neither "listen" nor a port list; rule ignored',
      );
    }
  }
  return armed;
}

/**
 * NETWORK tripwires: polls /proc/net/tcp and tcp6; a socket not there at the previous poll that a
 * rule's target matches raises an alert, with its owning process found through /proc/<pid>/fd.
 */
export function createNetworkSensor(ctx: SensorContext, opts: NetworkSensorOptions = {}): Sensor {
  const log = ctx.log.child({ sensor: 'network' });
  const procRoot = opts.procRoot ?? '/proc';
  let armed: ArmedRule[] = [];
  let known = new Set<string>();
  let stopped = false;

  async function poll(): Promise<void> {
    const sockets = await readTcpSockets(procRoot);
    const current = new Set<string>();
    const hits: { rule: AgentRule; socket: TcpSocket }[] = [];
    for (const socket of sockets) {
      const key = socketKey(socket);
      if (current.has(key)) continue;
      current.add(key);
      if (known.has(key)) continue;
      for (const { rule, target } of armed) {
        if (socketMatches(target, socket)) hits.push({ rule, socket });
      }
    }
    known = current;
    if (hits.length === 0 || stopped) return;

    const owners = await findSocketOwners(procRoot, new Set(hits.map((h) => h.socket.inode))).catch(
      (err: unknown) => {
        log.warn({ err }, 'cannot look up socket owners; alerting without pid');
        return new Map<number, number>();
      },
    );
    const users = await readUserNames(opts.passwdPath);
    const cmdlines = new Map<number, Cmdline | null>();
    for (const pid of new Set(owners.values()))
      cmdlines.set(pid, await readCmdline(procRoot, pid, opts.cmdlineMaxBytes));
    for (const { rule, socket: s } of hits) {
      if (stopped || !armed.some((a) => a.rule.ruleId === rule.ruleId)) continue;
      const pid = owners.get(s.inode) ?? null;
      const cmdline = pid === null ? null : (cmdlines.get(pid) ?? null);
      const truncated = truncatedCmdlines(
        { process: cmdline },
        opts.cmdlineMaxBytes ?? DEFAULT_CMDLINE_MAX_BYTES,
      );
      const detail = {
        kind: s.state === TCP_LISTEN ? 'listen' : 'connection',
        protocol: s.protocol,
        local_address: s.localAddress,
        local_port: s.localPort,
        remote_address: s.remoteAddress,
        remote_port: s.remotePort,
        state: s.stateName,
        inode: s.inode,
        uid: s.uid,
        user: users.get(s.uid) ?? null,
        pid,
        process: cmdline?.text ?? null,
        ...(truncated && { truncated }),
      };
      log.info({ ruleId: rule.ruleId, ...detail }, 'network tripwire');
      safeEmit(ctx, draftFor(rule, detail));
    }
  }

  const loop = createPollLoop(poll, opts.pollMs ?? 2000, log);

  return {
    type: 'NETWORK',
    async update(rules) {
      if (stopped) return;
      armed = armRules(rules, log);
      if (armed.length === 0) {
        await loop.stop();
        known = new Set();
        return;
      }
      if (!loop.running) {
        // Baseline: every socket open now is known, so none of it alerts.
        known = new Set((await readTcpSockets(procRoot)).map(socketKey));
        loop.start();
      }
      log.info({ rules: armed.map((a) => a.rule.target) }, 'network tripwires armed');
    },
    async stop() {
      stopped = true;
      await loop.stop();
    },
  };
}
