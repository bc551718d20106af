import { describe, expect, it } from 'vitest';
import { AlertBatcher, alertBytes } from '../src/alert-batcher.js';
import { useTestDatabase } from './test-database.js';
import { newAlert, newHost } from './test-rows.js';

const t = useTestDatabase();

/** Holds every alert insert until released: PostgreSQL "stuck" mid-commit. */
async function blockAlertInserts() {
  const c = await t.pool.connect();
  await c.query('BEGIN');
  await c.query('LOCK TABLE alert_ids IN SHARE ROW EXCLUSIVE MODE');
  return async () => {
    await c.query('COMMIT');
    c.release();
  };
}

describe('AlertBatcher byte budget', () => {
  it('reports itself saturated at its byte high-water mark long before its count one, and drains', async () => {
    const host = await newHost(t.pool);
    const detail = JSON.stringify({ blob: 'x'.repeat(60 * 1024) });
    const big = () => newAlert(host.hostId, { eventDetailJson: detail });
    const batcher = new AlertBatcher({
      db: t.pool,
      maxBatchSize: 2,
      maxDelayMs: 1,
      highWaterMark: 20_000,
      highWaterBytes: 256 * 1024,
    });
    const drained = new Promise<void>((r) => batcher.once('drain', r));
    const release = await blockAlertInserts();
    // Four ~60 KiB alerts (61,707 bytes each, counted): under 256 KiB, still taking alerts.
    const submitted = [big(), big(), big(), big()];
    const stored = batcher.submit(submitted);
    expect(batcher.saturated).toBe(false);
    // A fifth passes 256 KiB: saturated at 5 alerts of a 20,000-alert mark.
    submitted.push(big());
    const last = batcher.submit(submitted.slice(4));
    expect(batcher.pending).toBe(5);
    expect(batcher.pendingBytes).toBe(submitted.reduce((sum, a) => sum + alertBytes(a), 0));
    expect(batcher.saturated).toBe(true);

    await release();
    await Promise.all([stored, last, drained]);
    expect(batcher.saturated).toBe(false);
    expect(batcher.pendingBytes).toBe(0);
    const rows = await t.pool.query('SELECT count(*)::int AS n FROM alerts WHERE host_id = $1', [
      host.hostId,
    ]);
    expect(rows.rows[0].n).toBe(5);
  });
});
