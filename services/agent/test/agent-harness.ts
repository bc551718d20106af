// Real processes for the agent's tests: the ingest service (killable with SIGKILL and
// restartable on the same port) and tripwire-agent itself, on real PostgreSQL and Redis.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BusEntry, BusSubscriber, createRedisClient } from '@tripwire/bus';
import { IngestProcess } from '@tripwire/ingest/testing';
import type { Pool } from '@tripwire/storage';
import * as storage from '@tripwire/storage';
import {
  type ProcessEnv,
  ServiceProcess,
  type TestEnvironment,
  until,
  useTestEnvironment,
} from '@tripwire/test-fixtures';
import { afterAll, beforeAll } from 'vitest';

export { IngestProcess, until };

const AGENT_DIR = fileURLToPath(new URL('..', import.meta.url));
export const ENROLLMENT_TOKEN = 'agent-test-enrollment-0123456789';

/**
 * tripwire-agent itself, from its CLI. The enrollment token comes from the environment, as
 * docs/agent.md says (never a flag: `ps` shows flags to every user); a 2 s lock staleness lets a
 * restart after kill -9 start quickly.
 */
export class AgentProcess extends ServiceProcess {
  constructor(
    readonly stateDir: string,
    private readonly commandArgs: string[],
  ) {
    super(AGENT_DIR, ['src/cli.ts'], {
      TRIPWIRE_LOG_LEVEL: 'debug',
      TRIPWIRE_ENROLL_TOKEN: ENROLLMENT_TOKEN,
      TRIPWIRE_LOCK_STALE_S: '2',
    });
  }

  start(extraArgs: string[] = [], env: ProcessEnv = {}) {
    this.spawn([...this.commandArgs, ...extraArgs], env);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }
}

export function tempDir(prefix: string) {
  return mkdtempSync(join(tmpdir(), `tripwire-${prefix}-`));
}

/** A rules file for `--rules-file`, in a folder of its own (the state dir has its own rules.json). */
export function rulesFile(rules: object[]): string {
  const path = join(tempDir('rules'), 'local-rules.json');
  writeFileSync(path, JSON.stringify({ rules }));
  return path;
}

export interface AgentTestEnv extends TestEnvironment<Pool> {
  /** Every message the ingest service published on the bus so far. */
  bus: BusEntry[];
}

/** This file's database, Redis prefix, a pool, and a recorder of the bus. */
export function useAgentTestEnv(): AgentTestEnv {
  const env = useTestEnvironment(storage) as AgentTestEnv;
  let subscriber: BusSubscriber | undefined;
  beforeAll(async () => {
    env.bus = [];
    subscriber = new BusSubscriber({
      redis: createRedisClient(env.redisUrl),
      keyPrefix: env.keyPrefix,
      from: '0-0',
      blockMs: 200,
      onEntries: (entries) => env.bus.push(...entries),
    });
    subscriber.start();
  });
  afterAll(() => subscriber?.stop());
  return env;
}

export async function alertRows(pool: Pool, where = 'TRUE', params: unknown[] = []) {
  const { rows } = await pool.query<{
    alert_id: string;
    host_id: string;
    rule_name: string;
    severity: string;
    tripwire_type: string;
    event_detail: Record<string, unknown> | null;
  }>(
    `SELECT alert_id, host_id, rule_name, severity, tripwire_type, event_detail FROM alerts WHERE ${where}`,
    params,
  );
  return rows;
}
