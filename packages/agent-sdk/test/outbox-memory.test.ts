import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SeverityName } from '../src/agent-types.js';
import { Outbox, type OutboxAlert } from '../src/index.js';

// An agent runs for days: acknowledged alerts must leave memory, not only the file.

/** A full, synchronous collection (the flag is set at run time, so no vitest config change). */
const collect: () => void = (() => {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();
const heapAfterGc = () => {
  collect();
  collect();
  return process.memoryUsage().heapUsed;
};

const TOTAL = 100_000;
const BATCH = 1_000;
const SEVERITIES: SeverityName[] = ['INFO', 'WARN', 'CRITICAL'];

let dir: string;
let outbox: Outbox | undefined;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tripwire-outbox-memory-'));
});
afterEach(async () => {
  await outbox?.close();
  outbox = undefined;
  await rm(dir, { recursive: true, force: true });
});

const START_US = 1_767_225_600_000_000;
const alert = (n: number): OutboxAlert => ({
  alertId: randomUUID(),
  tripwireType: 'FILE',
  severity: SEVERITIES[n % 3]!,
  ruleName: 'etc-passwd-watch',
  timestampUs: START_US + n * 1000,
  // ~200 bytes, its own string per alert (as when read from a sensor)
  detailJson: JSON.stringify({ path: `/etc/passwd.${n}`, note: 'x'.repeat(160) + n }),
});

describe('outbox memory over a long run', () => {
  it('100,000 alerts appended and acknowledged in batches: entries held and heap stay flat, compaction keeps the unacked', async () => {
    const path = join(dir, 'outbox.log');
    outbox = await Outbox.open({ path, compactMinBytes: 1024 * 1024 });
    const kept: OutboxAlert[] = []; // one alert per 10,000 never acknowledged: acks out of order
    let baseline = 0;
    let maxHeld = 0;
    let maxFile = 0;
    for (let sent = 0; sent < TOTAL; sent += BATCH) {
      const batch = Array.from({ length: BATCH }, (_, i) => alert(sent + i));
      await Promise.all(batch.map((a) => outbox!.append(a)));
      const taken = outbox.next(BATCH);
      expect(taken).toHaveLength(BATCH);
      const acked: OutboxAlert[] = [];
      for (const [i, a] of taken.entries()) ((sent + i) % 10_000 === 0 ? kept : acked).push(a);
      expect(outbox.complete(acked.map((a) => a.alertId))).toBe(acked.length);
      await outbox.settled();
      maxHeld = Math.max(maxHeld, outbox.held);
      maxFile = Math.max(maxFile, outbox.fileSize);
      if (sent === 10 * BATCH) baseline = heapAfterGc(); // after warm-up (JIT, buffers)
    }
    const growth = heapAfterGc() - baseline;

    expect(outbox.size).toBe(kept.length);
    expect(kept).toHaveLength(TOTAL / 10_000);
    // In memory: no more than a batch and its sweep slack, not one entry per alert ever seen.
    expect(maxHeld).toBeLessThan(2 * BATCH + 200);
    expect(outbox.held).toBeLessThan(2 * BATCH + 200);
    // 90,000 leaked alerts with ~200-byte details would be tens of MB; allow generous noise.
    expect(growth).toBeLessThan(12 * 1024 * 1024);
    // On disk: compaction ran (the log never grew past a few times its threshold)...
    expect(maxFile).toBeLessThan(4 * 1024 * 1024);
    // ...and kept exactly the unacknowledged alerts, in order, across a reopen.
    await outbox.close();
    outbox = await Outbox.open({ path });
    expect(outbox.alerts()).toEqual(kept);
    // Still working: a new alert goes in and comes out.
    const last = alert(0);
    await outbox.append(last);
    expect(outbox.get(last.alertId)).toEqual(last);
  });
});
