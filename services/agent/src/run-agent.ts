// `tripwire-agent run`: the SDK client, the sensors it feeds, and the rules that drive them.
import { type AgentClient, type AgentRule, createAgentClient } from '@tripwire/agent-sdk';
import type { Logger } from '@tripwire/logger';
import { SingleBar } from 'cli-progress';
import type { AgentConfig } from './agent-config.js';
import { clientOptions } from './client-options.js';
import { DEFAULT_RULES_FILE, loadLocalRules, mergeRules } from './local-rules.js';
import { createSensors, type Sensor } from './sensors/index.js';
import { createAgentTasks } from './tasks/agent-tasks.js';

export interface RunningAgent {
  client: AgentClient;
  stop(): Promise<void>;
}

/** First-baseline progress: a bar at a terminal, a log line every few seconds otherwise. */
function baselineProgress(log: Logger) {
  if (process.stderr.isTTY) {
    const bar = new SingleBar({
      format: 'baseline {bar} {value}/{total} files  {path}',
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: true,
    });
    let started = false;
    return (done: number, total: number, path: string) => {
      if (!started) bar.start(total, 0, { path });
      started = true;
      bar.setTotal(total);
      bar.update(done, { path: path.length > 60 ? `…${path.slice(-59)}` : path });
      if (done >= total) {
        bar.stop();
        started = false;
      }
    };
  }
  let lastLog = 0;
  return (done: number, total: number) => {
    const now = Date.now();
    if (done < total && now - lastLog < 5_000) return;
    lastLog = now;
    log.info({ done, total }, done >= total ? 'file baseline complete' : 'building file baseline');
  };
}

export async function runAgent(config: AgentConfig, log: Logger): Promise<RunningAgent> {
  const localRules = loadLocalRules(config.TRIPWIRE_RULES_FILE ?? DEFAULT_RULES_FILE);
  let sensors: Sensor[] = [];
  // Rules updates are applied one at a time, in order, each replacing what is watched.
  let applying = Promise.resolve();
  const applyRules = (serverRules: AgentRule[]) => {
    const active = mergeRules(localRules, serverRules);
    applying = applying
      .then(() => Promise.all(sensors.map((s) => s.update(active))))
      .then(
        () =>
          log.info({ rules: active.filter((r) => r.enabled).map((r) => r.name) }, 'rules active'),
        (err: unknown) => log.error({ err }, 'applying rules failed'),
      );
  };

  const tasks = await createAgentTasks(config, log);
  const client = createAgentClient({
    ...clientOptions(config, log),
    onRules: applyRules,
    tasks: tasks.executor,
  });
  sensors = createSensors(
    {
      log,
      emit: (draft) => {
        client
          .enqueue(draft)
          .catch((err: unknown) => log.error({ err }, 'could not queue an alert'));
      },
    },
    {
      rescanMs: config.TRIPWIRE_RESCAN_INTERVAL_S * 1000,
      processPollMs: config.TRIPWIRE_PROCESS_POLL_MS,
      networkPollMs: config.TRIPWIRE_NETWORK_POLL_MS,
      cmdlineMaxBytes: config.TRIPWIRE_CMDLINE_MAX_BYTES,
      onBaselineProgress: baselineProgress(log),
    },
  );
  const stats = () => ({
    ...client.stats(),
    sensors: Object.fromEntries(sensors.map((s) => [s.type, s.stats?.() ?? {}])),
  });
  await client.start();
  tasks.policy.watch();
  // Persisted or server rules arrive through onRules; until then the local rules apply.
  applyRules(client.rules());
  await applying;
  log.info({ hostId: client.hostId, server: config.TRIPWIRE_SERVER }, 'tripwire agent running');
  // What a previous run left unacknowledged goes first; say when it is through.
  void client.flush(24 * 3600_000).then((empty) => {
    if (empty) log.info(stats(), 'outbox delivered');
  });
  return {
    client,
    async stop() {
      await Promise.all(sensors.map((s) => s.stop()));
      log.info(stats(), 'sensors stopped');
      tasks.policy.stop();
      await client.stop();
    },
  };
}
