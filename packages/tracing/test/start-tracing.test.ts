// startTracing in a process of its own each time, as a service starts it: with the standard
// variable unset (or the SDK disabled) nothing is loaded, registered or exported; with it set,
// spans reach a real OTLP/HTTP endpoint.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { OtlpSink, until } from '@tripwire/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));

// What the probe process reports: whether the SDK took over, and which SDK modules it loaded.
const PROBE = `
import { createRequire } from 'node:module';
import { trace } from '@opentelemetry/api';
import { startSpan, startTracing, tracingActive } from '@tripwire/tracing';
const tracing = await startTracing('tracing-probe');
const span = startSpan('probe.span', {});
const recording = span.isRecording();
span.end();
const loaded = Object.keys(createRequire(import.meta.url).cache).filter((path) =>
  /@opentelemetry[\\\\/](sdk-trace|exporter-trace|resources)/.test(path),
);
const active = tracingActive();
await tracing.shutdown();
console.log(JSON.stringify({
  enabled: tracing.enabled,
  active,
  recording,
  provider: trace.getTracerProvider().getDelegate?.().constructor.name,
  loaded: loaded.length,
}));
`;

interface ProbeReport {
  enabled: boolean;
  active: boolean;
  recording: boolean;
  provider: string;
  loaded: number;
}

function probe(env: Record<string, string>): Promise<ProbeReport> {
  const child = spawn(
    process.execPath,
    ['--conditions=@tripwire/source', '--import', 'tsx', '--input-type=module', '-e', PROBE],
    { cwd: PACKAGE_DIR, env: { PATH: process.env.PATH ?? '', ...env }, stdio: 'pipe' },
  );
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    out += d;
  });
  return new Promise((resolve, reject) =>
    child.once('exit', (code) => {
      const last = out.trim().split('\n').at(-1) ?? '';
      if (code === 0 && last.startsWith('{')) resolve(JSON.parse(last) as ProbeReport);
      else reject(new Error(`probe exited ${code}: ${out}`));
    }),
  );
}

let sink: OtlpSink;
beforeAll(async () => {
  sink = await OtlpSink.start();
});
afterAll(() => sink?.close());

describe('startTracing', () => {
  it('with OTEL_EXPORTER_OTLP_ENDPOINT unset loads no SDK, registers nothing, exports nothing', async () => {
    const report = await probe({});
    expect(report).toEqual({
      enabled: false,
      active: false,
      recording: false,
      provider: 'NoopTracerProvider',
      loaded: 0,
    });
  });

  it('with OTEL_SDK_DISABLED=true stays off even with an endpoint', async () => {
    const report = await probe({
      OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint,
      OTEL_SDK_DISABLED: 'true',
    });
    expect(report.enabled).toBe(false);
    expect(report.loaded).toBe(0);
    // A traced run just below ends with its span in the sink: this one sent nothing before it.
    expect(sink.named('probe.span')).toEqual([]);
  });

  it('with the endpoint set registers the SDK and exports over OTLP/HTTP, named by OTEL_SERVICE_NAME', async () => {
    const report = await probe({
      OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint,
      OTEL_SERVICE_NAME: 'probe-service',
    });
    expect(report).toMatchObject({ enabled: true, active: true, recording: true });
    expect(report.provider).toBe('NodeTracerProvider');
    expect(report.loaded).toBeGreaterThan(0);
    // shutdown() flushed it before the process exited.
    await until(() => sink.named('probe.span').length === 1, 5_000, 'the exported span');
    expect(sink.named('probe.span')[0]?.service).toBe('probe-service');
    expect(sink.rejected).toEqual([]);
  });

  it('samples as OTEL_TRACES_SAMPLER says', async () => {
    const report = await probe({
      OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint,
      OTEL_TRACES_SAMPLER: 'always_off',
    });
    expect(report).toMatchObject({ enabled: true, recording: false });
  });
});
