import { beforeAll, describe, expect, it } from 'vitest';
import {
  alertData,
  auth,
  Browser,
  publishAlerts,
  startFanout,
  until,
  useEnvironment,
} from './fanout-harness.js';

const env = useEnvironment();
let viewer: string;
beforeAll(async () => {
  viewer = await auth.issue('otto', 'viewer');
});

const metricValue = async (url: string, line: RegExp) => {
  const text = await (await fetch(url)).text();
  return Number(line.exec(text)?.[1] ?? Number.NaN);
};

describe('slow consumers', () => {
  it('cuts off a browser that stops reading, with its own close code, while a fast one gets everything', async () => {
    const fanout = await startFanout(env, { WS_MAX_BACKPRESSURE_BYTES: '262144' });
    try {
      const slow = new Browser(fanout.wsUrl, { token: viewer });
      const fast = new Browser(fanout.wsUrl, { token: viewer });
      await Promise.all([slow.opened, fast.opened]);
      await until(() => slow.ofType('welcome').length === 1 && fast.ofType('welcome').length === 1);
      (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
      const alerts = Array.from({ length: 2000 }, (_, i) =>
        alertData({ event_detail: { blob: 'x'.repeat(8000), i } }),
      );
      // A steady 4 MB/s, which a reading client keeps up with easily.
      const publishing = (async () => {
        for (let i = 0; i < alerts.length; i += 10) {
          publishAlerts(env, alerts.slice(i, i + 10));
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      const slowCloses = () =>
        metricValue(fanout.metricsUrl, /^tripwire_fanout_slow_consumer_closes_total (\d+)/m);
      await until(
        async () => (await slowCloses()) === 1,
        20_000,
        'the server to cut the slow browser off',
      );
      // The browser reads again: it gets what was buffered for it, then the close frame with its code.
      (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
      expect((await slow.closed).code).toBe(4008);
      await publishing;
      await until(
        () => fast.alerts().length === alerts.length,
        20_000,
        'fast client to get every alert',
      );
      expect(fast.alertIds()).toEqual(alerts.map((a) => a.alert_id));
      expect(fast.ws.readyState).toBe(fast.ws.OPEN);
      expect(slow.alerts().length).toBeLessThan(alerts.length);
      // Everyone else carries on: the connected browser and a new one both get what follows.
      const newcomer = new Browser(fanout.wsUrl, { token: viewer });
      await newcomer.opened;
      await until(() => newcomer.ofType('welcome').length === 1);
      const after = alertData();
      publishAlerts(env, [after]);
      await until(
        () =>
          fast.alertIds().includes(after.alert_id) && newcomer.alertIds().includes(after.alert_id),
        10_000,
        'delivery after the cut',
      );
      newcomer.close();
      expect(
        await metricValue(fanout.metricsUrl, /^tripwire_fanout_slow_consumer_closes_total (\d+)/m),
      ).toBe(1);
      fast.close();
    } finally {
      await fanout.stop();
    }
  });
});
