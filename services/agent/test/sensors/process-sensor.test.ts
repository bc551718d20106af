import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_RULES_FILE, loadLocalRules } from '../../src/local-rules.js';
import { createFileSensor, createProcessSensor, type Sensor } from '../../src/sensors/index.js';
import { startTicksOf } from '../tasks/task-harness.js';
import {
  type RecordingContext,
  recordingContext,
  rule,
  settle,
  waitFor,
} from './sensor-harness.js';

let rec: RecordingContext;
let sensor: Sensor | undefined;
let fileSensor: Sensor | undefined;
const children: ChildProcess[] = [];

/** A unique sleep duration, so no other process on the machine has this command line. */
const uniqueSeconds = () => `30.${process.pid}${Math.floor(Math.random() * 1e6)}`;

function run(cmd: string, args: string[]): ChildProcess {
  const child = spawn(cmd, args, { stdio: 'ignore' });
  children.push(child);
  return child;
}

beforeEach(() => {
  rec = recordingContext();
});
afterEach(async () => {
  await sensor?.stop();
  await fileSensor?.stop();
  sensor = undefined;
  fileSensor = undefined;
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

async function start(...rules: ReturnType<typeof rule>[]) {
  sensor = createProcessSensor(rec.ctx, { pollMs: 100 });
  await sensor.update(rules);
  return sensor;
}

describe('process sensor', () => {
  it('alerts on a new process whose command line matches, with who and what it is', async () => {
    const secs = uniqueSeconds();
    const escaped = secs.replace('.', '\\.');
    await start(rule('PROCESS', `^sleep ${escaped}$`, { name: 'sleeper', severity: 'WARN' }));
    const child = run('sleep', [secs]);
    const alert = await waitFor('alert', () => rec.matching({ pid: child.pid })[0]);
    const btime = Number(/^btime (\d+)/m.exec(readFileSync('/proc/stat', 'utf8'))![1]);
    expect(alert).toMatchObject({ tripwireType: 'PROCESS', severity: 'WARN', ruleName: 'sleeper' });
    expect(alert.detail).toMatchObject({
      pid: child.pid,
      ppid: process.pid,
      cmdline: `sleep ${secs}`,
      exe: expect.stringMatching(/\/sleep$/),
      user: 'root',
      uid: 0,
      cwd: process.cwd(),
      matched_on: 'cmdline',
    });
    expect(alert.detail.start_ticks).toBe(await startTicksOf(child.pid!));
    const started = Date.parse(alert.detail.start_time as string);
    expect(started).toBeGreaterThan(btime * 1000);
    expect(Math.abs(started - Date.now())).toBeLessThan(60_000);
    await settle(300);
    expect(rec.alerts).toHaveLength(1); // one alert per process, not one per poll
  });

  it('ignores processes that do not match, and ones already running at the baseline', async () => {
    const before = uniqueSeconds();
    const early = run('sleep', [before]);
    // Running sleep itself (exec done), so the baseline sees its command line.
    await waitFor('early child running', () =>
      readFileSync(`/proc/${early.pid}/cmdline`, 'utf8').includes(before),
    );
    const wanted = uniqueSeconds();
    await start(
      rule('PROCESS', `sleep (${before.replace('.', '\\.')}|${wanted.replace('.', '\\.')})`),
    );
    const other = run('sleep', [uniqueSeconds()]);
    const match = run('sleep', [wanted]);
    await waitFor('match', () => rec.matching({ pid: match.pid })[0]);
    await settle(300);
    expect(rec.alerts.map((a) => a.detail.pid)).toEqual([match.pid]);
    expect(rec.matching({ pid: other.pid })).toEqual([]);
  });

  it("matches the executable path with config.match 'exe'", async () => {
    const secs = uniqueSeconds();
    await start(rule('PROCESS', '/sleep$', { config: { match: 'exe' } }));
    const child = run('sleep', [secs]);
    const alert = await waitFor('alert', () => rec.matching({ pid: child.pid })[0]);
    expect(alert.detail).toMatchObject({ matched_on: 'exe', cmdline: `sleep ${secs}` });
  });

  it('treats an invalid regular expression as a literal substring', async () => {
    const marker = `[tw-${process.pid}-${Date.now()}(`;
    await start(rule('PROCESS', marker));
    const child = run(process.execPath, ['-e', 'setTimeout(() => {}, 30000)', marker]);
    const alert = await waitFor('alert', () => rec.matching({ pid: child.pid })[0]);
    expect(alert.detail.cmdline).toBe(
      `${process.execPath} -e setTimeout(() => {}, 30000) ${marker}`,
    );
    expect(alert.detail.exe).toBe(process.execPath);
  });

  it('sees a process that exec()s into a match after it was first seen', async () => {
    const secs = uniqueSeconds();
    await start(rule('PROCESS', `^sleep ${secs.replace('.', '\\.')}$`));
    // The shell is seen as "sh -c ..." first; after 150 ms it becomes the sleep itself.
    const child = run('sh', ['-c', `sleep 0.15; exec sleep ${secs}`]);
    const alert = await waitFor('alert', () => rec.matching({ pid: child.pid })[0]);
    expect(alert.detail).toMatchObject({ cmdline: `sleep ${secs}`, ppid: process.pid });
  });

  it('takes a rules update without restart, and goes quiet with no rules', async () => {
    const a = uniqueSeconds();
    const b = uniqueSeconds();
    const ruleA = rule('PROCESS', a.replace('.', '\\.'));
    const ruleB = rule('PROCESS', b.replace('.', '\\.'));
    const s = await start(ruleA);
    await s.update([ruleB, rule('FILE', '/etc/passwd')]);
    const childA = run('sleep', [a]);
    const childB = run('sleep', [b]);
    await waitFor('b', () => rec.matching({ pid: childB.pid })[0]);
    await settle(300);
    expect(rec.matching({ pid: childA.pid })).toEqual([]);

    await s.update([]);
    run('sleep', [b]);
    await settle(300);
    expect(rec.alerts).toHaveLength(1);
  });

  it('issue 13 row 3: a reverse shell padded to 128 KiB of "/nc /nc …" is caught (the whole matched on RE2), and a file alert after it is not held up', async () => {
    const watched = join(mkdtempSync(join(tmpdir(), 'tw-pad-')), 'app.conf');
    writeFileSync(watched, 'a\n');
    fileSensor = createFileSensor(rec.ctx, {});
    await fileSensor.update([rule('FILE', watched, { name: 'app-conf' })]);
    const reverseShell = loadLocalRules(DEFAULT_RULES_FILE).find(
      (r) => r.name === 'reverse-shell-tools',
    )!;
    const processSensor = createProcessSensor(rec.ctx, { pollMs: 100 });
    sensor = processSensor;
    await processSensor.update([reverseShell]);

    // A real process: argv[0] "/usr/bin/nc", then node's "-e <script>", then 32,768 "/nc"s.
    const args = ['-e', 'setTimeout(() => {}, 30000)', ...Array<string>(32 * 1024).fill('/nc')];
    const child = spawn(process.execPath, args, { argv0: '/usr/bin/nc', stdio: 'ignore' });
    children.push(child);
    const shell = await waitFor(
      'the reverse-shell alert',
      () => rec.matching({ pid: child.pid })[0],
    );
    const whole = Buffer.byteLength(['/usr/bin/nc', ...args].join(' '));
    expect(shell).toMatchObject({ ruleName: 'reverse-shell-tools', severity: 'CRITICAL' });
    expect(shell.detail.truncated).toEqual({ cmdline: whole });
    expect(Buffer.byteLength(shell.detail.cmdline as string)).toBeLessThanOrEqual(4096);
    expect((shell.detail.cmdline as string).startsWith('/usr/bin/nc -e setTimeout')).toBe(true);
    expect(
      (processSensor.stats() as { cmdlinesTruncated: number }).cmdlinesTruncated,
    ).toBeGreaterThanOrEqual(1);

    // The file change made after the padded process was matched is reported after it, and the
    // child is still running (it was matched while alive, not after a stall outlived it).
    writeFileSync(watched, 'b\n');
    const changed = await waitFor('the file alert', () =>
      rec.alerts.find((a) => a.tripwireType === 'FILE'),
    );
    expect(rec.alerts.indexOf(changed)).toBeGreaterThan(rec.alerts.indexOf(shell));
    expect(child.exitCode).toBeNull();
  });

  // Review of issue 13: matching only the first 4 KiB let padding before the telling flag hide it.
  it.each([
    ['nc', (keep: string) => [keep, ...Array<string>(2100).fill('-v'), '-e', '/bin/sh', 'h', 'p']],
    ['socat', (keep: string) => [keep, 'TCP:h:4444', 'x'.repeat(5000), 'EXEC:/bin/sh']],
  ])(
    'catches %s with the reverse-shell flag padded past the 4 KiB report cut',
    async (argv0, argsOf) => {
      const keep = join(mkdtempSync(join(tmpdir(), 'tw-late-')), 'keep.js');
      writeFileSync(keep, 'setTimeout(() => {}, 30000);\n');
      const reverseShell = loadLocalRules(DEFAULT_RULES_FILE).find(
        (r) => r.name === 'reverse-shell-tools',
      )!;
      const processSensor = await start(reverseShell);
      const args = argsOf(keep);
      const child = spawn(process.execPath, args, { argv0, stdio: 'ignore' });
      children.push(child);
      const shell = await waitFor(
        'the reverse-shell alert',
        () => rec.matching({ pid: child.pid })[0],
      );
      const whole = [argv0, ...args].join(' ');
      expect(whole.indexOf(argv0 === 'nc' ? ' -e ' : ' EXEC:')).toBeGreaterThan(4096);
      expect(shell).toMatchObject({ ruleName: 'reverse-shell-tools', severity: 'CRITICAL' });
      // The report stays cut to 4 KiB and says how large the whole was.
      expect(shell.detail.truncated).toEqual({ cmdline: Buffer.byteLength(whole) });
      expect(Buffer.byteLength(shell.detail.cmdline as string)).toBeLessThanOrEqual(4096);
      expect(whole.startsWith(shell.detail.cmdline as string)).toBe(true);
      expect(
        (processSensor.stats!() as { cmdlinesTruncated: number }).cmdlinesTruncated,
      ).toBeGreaterThanOrEqual(1);
      expect(child.exitCode).toBeNull();
    },
  );
});
