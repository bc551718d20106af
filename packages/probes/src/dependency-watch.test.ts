import { describe, expect, it } from 'vitest';
import { DependencyWatch, type HangReport, hangChecks } from './dependency-watch.js';

/** Polls until the condition holds (no sleeps gating assertions). */
async function until(predicate: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function watchWith(probe: () => boolean | Promise<boolean>) {
  const events: string[] = [];
  const timeouts: string[] = [];
  let probes = 0;
  const watch = new DependencyWatch({
    dependency: 'postgres',
    hungAfterMs: 30,
    probeIntervalMs: 20,
    probe: () => {
      probes++;
      return probe();
    },
    onTimeout: (op) => timeouts.push(op),
    onHung: (r: HangReport) => events.push(`hung ${r.reason}`),
    onRecovered: () => events.push('recovered'),
  });
  return { watch, events, timeouts, probes: () => probes };
}

describe('DependencyWatch', () => {
  it('declares a hang only when the probe is not answered either, and recovers on the first answer', async () => {
    let answering = false;
    const w = watchWith(() => answering);
    w.watch.timedOut('alert_flush', 'statement timeout');
    w.watch.timedOut('alert_flush', 'statement timeout (again)');
    expect(w.timeouts).toEqual(['alert_flush', 'alert_flush']);
    await until(() => w.events.length === 1, 'the hang');
    expect(w.events).toEqual(['hung alert_flush: statement timeout (again)']);
    expect(hangChecks([w.watch]).hung).toBe(true);
    expect(String(hangChecks([w.watch]).checks.postgres_hung)).toMatch(
      /^not answering in time since /,
    );
    const probesWhileHung = w.probes();
    await until(() => w.probes() > probesWhileHung + 1, 'probes while hung');
    answering = true;
    await until(() => w.events.length === 2, 'the recovery');
    expect(w.events[1]).toBe('recovered');
    expect(hangChecks([w.watch])).toEqual({ hung: false, checks: { postgres_hung: false } });
    w.watch.stop();
  });

  it('cuts nothing for one slow statement: an answer, or a probe answered, clears the suspicion', async () => {
    const w = watchWith(() => true);
    w.watch.timedOut('alert_flush', 'statement timeout');
    await until(() => w.probes() === 1, 'the probe');
    w.watch.timedOut('alert_flush', 'statement timeout');
    w.watch.answered();
    // Neither the answered probe nor the answer declared anything; a new run starts afresh.
    await until(() => w.probes() === 1 && hangChecks([w.watch]).hung === false, 'quiet');
    expect(w.events).toEqual([]);
    w.watch.stop();
  });

  it('does not declare a hang from a probe that was overtaken by an answer', async () => {
    let release!: (v: boolean) => void;
    const w = watchWith(() => new Promise<boolean>((r) => (release = r)));
    w.watch.timedOut('publish', 'Command timed out');
    await until(() => w.probes() === 1, 'the probe');
    w.watch.answered();
    release(false);
    await new Promise((r) => setImmediate(r));
    expect(w.watch.hang).toBeUndefined();
    expect(w.events).toEqual([]);
    w.watch.stop();
  });
});
