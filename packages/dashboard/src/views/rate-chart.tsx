import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import type { AlertRate } from '../alert-rate.js';

const COLORS = { CRITICAL: '#ff5c5c', WARN: '#f5b944', INFO: '#5ca8ff' } as const;

/** Stacked bars: each series is drawn as the sum of itself and those below it; legends show own counts. */
function chartData(rate: AlertRate): uPlot.AlignedData {
  const { INFO, WARN, CRITICAL } = rate.counts;
  const warnTop = WARN.map((w, i) => w + INFO[i]!);
  const critTop = CRITICAL.map((c, i) => c + warnTop[i]!);
  return [rate.minutes.map((m) => m / 1000), critTop, warnTop, INFO];
}

export function RateChart({ rate }: { rate: AlertRate }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  useEffect(() => {
    const el = box.current!;
    const own =
      (key: keyof typeof COLORS) => (_u: uPlot, _v: number | null, _s: number, i: number | null) =>
        i === null ? '—' : String(rate.counts[key][i] ?? 0);
    const bars = uPlot.paths.bars!({ size: [0.8, 24] });
    const series = (key: keyof typeof COLORS): uPlot.Series => ({
      label: key,
      stroke: COLORS[key],
      fill: `${COLORS[key]}cc`,
      paths: bars,
      points: { show: false },
      value: own(key),
    });
    plot.current = new uPlot(
      {
        width: el.clientWidth || 600,
        height: 150,
        cursor: { drag: { x: false, y: false } },
        legend: { live: true },
        axes: [
          { stroke: '#8b95a5', grid: { stroke: '#222a36' }, ticks: { stroke: '#222a36' } },
          {
            stroke: '#8b95a5',
            grid: { stroke: '#222a36' },
            ticks: { stroke: '#222a36' },
            size: 40,
          },
        ],
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(5, max)] } },
        series: [{}, series('CRITICAL'), series('WARN'), series('INFO')],
      },
      chartData(rate),
      el,
    );
    const resize = new ResizeObserver(() =>
      plot.current?.setSize({ width: el.clientWidth, height: 150 }),
    );
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
    };
  }, [rate]);
  // Cheap at 60 points: redraw on every change of the console state.
  useEffect(() => {
    plot.current?.setData(chartData(rate));
  });
  return (
    <section
      class="rate-chart"
      aria-label="Alerts per minute by severity, last hour"
      data-testid="rate-chart"
    >
      <h2>Alerts per minute, last hour</h2>
      <div ref={box} />
    </section>
  );
}
