// The benchmarks' measuring pieces: /proc CPU sampling (against real processes and the real
// PostgreSQL) and the percentile / spread arithmetic their reports rest on.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import {
  CpuMeter,
  cpuSeconds,
  postgresBackendPids,
  redisPidFromInfo,
  rssKiB,
  statTicks,
} from '../src/proc-cpu.js';
import { postgresServerUrl } from '../src/server-urls.js';
import { formatSpread, percentile, spread } from '../src/spread.js';
import { until } from '../src/until.js';

/** A node process that burns CPU until it is told to stop, or one that sleeps. */
function child(busy: boolean) {
  const code = busy ? 'for(;;){}' : 'setInterval(()=>{},1e6)';
  return spawn(process.execPath, ['-e', code], { stdio: 'ignore' });
}

describe('/proc CPU sampling', () => {
  it('reads utime + stime after a command name holding spaces and parentheses', () => {
    const stat = '123 (a) (b c) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0 99 0 0';
    expect(statTicks(stat)).toBe(300);
  });

  it('charges a busy process and not an idle one, and sees this process own memory', async () => {
    const [busy, idle] = [child(true), child(false)];
    try {
      const meter = new CpuMeter({ busy: () => [busy.pid!], idle: () => [idle.pid!] }, 50);
      await meter.start();
      const from = cpuSeconds(busy.pid!);
      await until(() => cpuSeconds(busy.pid!) - from >= 0.3, 20_000);
      const used = await meter.stop();
      expect(used.busy).toBeGreaterThanOrEqual(0.3);
      expect(used.idle).toBeLessThan(0.1);
      expect(used.total).toBeCloseTo(used.busy! + used.idle!, 6);
      expect(rssKiB(process.pid)).toBeGreaterThan(1024);
    } finally {
      busy.kill('SIGKILL');
      idle.kill('SIGKILL');
    }
  });

  it('counts a process that appears mid-measurement from zero and keeps one that exits', async () => {
    let pids: number[] = [];
    let sampledLate = false;
    const meter = new CpuMeter(
      {
        late: () => {
          if (pids.length > 0) sampledLate = true;
          return pids;
        },
      },
      50,
    );
    await meter.start();
    const late = child(true);
    // It has used 0.3 s before the meter first sees it: that time counts too.
    await until(() => cpuSeconds(late.pid!) >= 0.3, 20_000);
    pids = [late.pid!];
    await until(() => sampledLate, 20_000); // the meter has read it at least once
    late.kill('SIGKILL');
    await new Promise((r) => late.once('exit', r));
    pids = [];
    expect((await meter.stop()).late).toBeGreaterThanOrEqual(0.3);
  });

  it('finds the PostgreSQL backends of one application on one database, not its own', async () => {
    const url = await postgresServerUrl();
    const app = `bench-smoke-${randomUUID().slice(0, 8)}`;
    const clients = [1, 2].map(
      () => new pg.Client({ connectionString: url, application_name: app }),
    );
    const asker = new pg.Client({ connectionString: url, application_name: app });
    try {
      for (const c of [...clients, asker]) await c.connect();
      const own = await Promise.all(
        clients.map(async (c) => (await c.query('SELECT pg_backend_pid() AS p')).rows[0].p),
      );
      const database = new URL(url).pathname.slice(1) || 'postgres';
      const found = await postgresBackendPids(asker, database, app);
      expect(found.sort()).toEqual(own.sort());
      expect(await postgresBackendPids(asker, database, `${app}-other`)).toEqual([]);
    } finally {
      for (const c of [...clients, asker]) await c.end();
    }
  });

  it('reads the Redis server pid from INFO server', () => {
    expect(redisPidFromInfo('# Server\r\nredis_version:7.0.15\r\nprocess_id:4242\r\n')).toBe(4242);
    expect(() => redisPidFromInfo('# Server\r\n')).toThrow(/process_id/);
  });
});

describe('percentiles and spreads', () => {
  it('takes the nearest rank', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(sorted, 50)).toBe(50);
    expect(percentile(sorted, 99)).toBe(99);
    expect(percentile(sorted, 100)).toBe(100);
    expect(percentile([7], 1)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  it('gives min, median and max of repeated runs', () => {
    expect(spread([3, 1, 2])).toEqual({ min: 1, median: 2, max: 3 });
    expect(spread([4, 1, 3, 2])).toEqual({ min: 1, median: 2.5, max: 4 });
    expect(spread([5, Number.NaN])).toEqual({ min: 5, median: 5, max: 5 });
    expect(formatSpread(spread([1000, 3000, 2000]))).toBe('2,000 (1,000–3,000)');
    expect(formatSpread(spread([1.5]), 1)).toBe('1.5');
    expect(formatSpread(spread([]))).toBe('n/a');
  });
});
