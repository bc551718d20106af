// The command line of `pnpm chaos`: every knob with its default, checked; anything unknown
// or malformed is refused with the usage (exit 2), never guessed.
import { parseArgs } from 'node:util';

export const FAULT_KINDS = [
  'ingest-kill',
  'fanout-kill',
  'agent-kill',
  'redis-restart',
  'redis-hang',
  'fanout-redis-cut',
  'pg-cut',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface RunOptions {
  seed: number;
  /** Alerts generated in total, shared evenly by the agents. */
  alerts: number;
  agents: number;
  clients: number;
  /** Seconds over which the agents generate their alerts (faults fall in this span). */
  durationS: number;
  faults: FaultKind[];
  /** Checker self-test: the first client throws away this many alerts it received. */
  injectDrop: number;
  /** Processes that only burn CPU during the run (a crowded node). */
  busy: number;
}

export const DEFAULT_OPTIONS: Omit<RunOptions, 'seed'> = {
  alerts: 100_000,
  agents: 20,
  clients: 12,
  durationS: 120,
  faults: [...FAULT_KINDS],
  injectDrop: 0,
  busy: 0,
};

export const USAGE = `usage: pnpm chaos [options]

The reliability run: 2 ingest and 2 fan-out processes on a fresh PostgreSQL database and a
Redis of its own, agents (the agent SDK, durable outboxes) and WebSocket clients that resume,
under faults on a random schedule; then every alert is accounted for. Exits 0 only when
nothing was lost, duplicated, missed or out of order.

  --seed <n>          the schedule's seed (default: random; printed either way)
  --alerts <n>        alerts in total (default ${DEFAULT_OPTIONS.alerts})
  --agents <n>        agent processes, 1-50 (default ${DEFAULT_OPTIONS.agents})
  --clients <n>       WebSocket clients, 1-12 (default ${DEFAULT_OPTIONS.clients})
  --duration <s>      seconds of alert generation, 5-600 (default ${DEFAULT_OPTIONS.durationS})
  --faults <list>     comma list, or "all" or "none" (default all):
                      ${FAULT_KINDS.join(', ')}
  --inject-drop <n>   checker self-test: client 1 discards n alerts it received (reported missing)
  --busy <n>          n processes that only burn CPU for the whole run, 0-32 (a crowded node)
  --help              this text

Environment: DATABASE_URL (the server; the run creates and drops its own database).`;

export class UsageError extends Error {}

function intOption(
  name: string,
  raw: string | undefined,
  fallback: number,
  min: number,
  max: number,
) {
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) throw new UsageError(`--${name}: "${raw}" is not a whole number`);
  const value = Number(raw);
  if (value < min || value > max) throw new UsageError(`--${name}: must be ${min}-${max}`);
  return value;
}

export function parseFaults(raw: string | undefined): FaultKind[] {
  if (raw === undefined || raw === 'all') return [...FAULT_KINDS];
  if (raw === 'none' || raw === '') return [];
  const names = raw.split(',').map((f) => f.trim());
  for (const name of names) {
    if (!(FAULT_KINDS as readonly string[]).includes(name)) {
      throw new UsageError(`--faults: unknown fault "${name}" (known: ${FAULT_KINDS.join(', ')})`);
    }
  }
  return [...new Set(names)] as FaultKind[];
}

/** `null` when --help was asked for. Throws UsageError on anything it does not accept. */
export function parseRunOptions(argv: string[]): RunOptions | null {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        seed: { type: 'string' },
        alerts: { type: 'string' },
        agents: { type: 'string' },
        clients: { type: 'string' },
        duration: { type: 'string' },
        faults: { type: 'string' },
        'inject-drop': { type: 'string' },
        busy: { type: 'string' },
        help: { type: 'boolean' },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return null;
  const str = (k: string) => values[k] as string | undefined;
  const d = DEFAULT_OPTIONS;
  return {
    seed: intOption('seed', str('seed'), Math.floor(Math.random() * 2 ** 31), 0, 2 ** 32 - 1),
    alerts: intOption('alerts', str('alerts'), d.alerts, 1, 10_000_000),
    agents: intOption('agents', str('agents'), d.agents, 1, 50),
    clients: intOption('clients', str('clients'), d.clients, 1, 12),
    durationS: intOption('duration', str('duration'), d.durationS, 5, 600),
    faults: parseFaults(str('faults')),
    injectDrop: intOption('inject-drop', str('inject-drop'), 0, 0, 1_000_000),
    busy: intOption('busy', str('busy'), d.busy, 0, 32),
  };
}
