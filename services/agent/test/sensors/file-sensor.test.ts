import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, writeFileSync } from 'node:fs';
import {
  chmod,
  chown,
  mkdir,
  mkdtemp,
  rename,
  rm,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFileSensor, type FileSensorOptions, type Sensor } from '../../src/sensors/index.js';
import {
  type RecordingContext,
  recordingContext,
  rule,
  settle,
  waitFor,
} from './sensor-harness.js';

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

let dir: string;
let rec: RecordingContext;
let sensor: Sensor | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tw-file-'));
  rec = recordingContext();
});
afterEach(async () => {
  await sensor?.stop();
  sensor = undefined;
  await rm(dir, { recursive: true, force: true });
});

async function put(path: string, content: string, mode = 0o644) {
  await writeFile(path, content);
  await chmod(path, mode);
}

/** A watched tree: etc/{passwd,hosts}, etc/ssh/sshd_config. */
async function tree() {
  await mkdir(join(dir, 'etc', 'ssh'), { recursive: true });
  await put(join(dir, 'etc', 'passwd'), 'root:x:0:0\n');
  await put(join(dir, 'etc', 'hosts'), '127.0.0.1 localhost\n');
  await put(join(dir, 'etc', 'ssh', 'sshd_config'), 'PermitRootLogin no\n', 0o600);
  return join(dir, 'etc');
}

async function start(opts: FileSensorOptions = {}, ...rules: ReturnType<typeof rule>[]) {
  sensor = createFileSensor(rec.ctx, opts);
  await sensor.update(rules);
  return sensor;
}

/** Waits for the first alert, then long enough that a second one would have shown up. */
async function onlyAlert() {
  await waitFor('an alert', () => rec.alerts.length > 0);
  await settle(400);
  expect(rec.alerts).toHaveLength(1);
  return rec.alerts[0]!;
}

describe('file sensor', () => {
  it('takes a silent baseline, reporting one combined progress for all new targets', async () => {
    const etc = await tree();
    const bin = join(dir, 'bin');
    await mkdir(bin);
    for (let i = 0; i < 20; i++) await put(join(bin, `tool${i}`), `#!/bin/sh\necho ${i}\n`, 0o755);
    const progress: [number, number, string][] = [];
    await start(
      { onBaselineProgress: (done, total, path) => progress.push([done, total, path]) },
      rule('FILE', etc),
      rule('FILE', bin),
    );
    await waitFor('the baseline to finish', () => progress.at(-1)?.[0] === 23);
    // Silent: nothing reported for the files found, even a while after the baseline.
    await settle(300);
    expect(rec.alerts).toEqual([]);
    expect(progress.every(([, total]) => total === 23)).toBe(true);
    const dones = progress.map(([done]) => done);
    expect(dones).toEqual([...dones].sort((a, b) => a - b));
    expect(progress.at(-1)!.slice(0, 2)).toEqual([23, 23]);
  });

  it('reports a content change once, with both hashes', async () => {
    const etc = await tree();
    const r = rule('FILE', etc, { severity: 'WARN', name: 'etc-watch' });
    await start({}, r);
    await writeFile(join(etc, 'passwd'), 'root:x:0:0\nevil:x:0:0\n');
    const alert = await onlyAlert();
    expect(alert).toMatchObject({ tripwireType: 'FILE', severity: 'WARN', ruleName: 'etc-watch' });
    expect(alert.detail).toMatchObject({
      path: join(etc, 'passwd'),
      change: 'modified',
      old_sha256: sha('root:x:0:0\n'),
      new_sha256: sha('root:x:0:0\nevil:x:0:0\n'),
      old_mode: '0644',
      new_mode: '0644',
      uid: 0,
      gid: 0,
      size: 22,
    });
  });

  it('reports a burst of writes to one file as one alert', async () => {
    const etc = await tree();
    await start({}, rule('FILE', etc));
    for (let i = 0; i < 30; i++) appendFileSync(join(etc, 'hosts'), `10.0.0.${i} h${i}\n`);
    const alert = await onlyAlert();
    expect(alert.detail).toMatchObject({ path: join(etc, 'hosts'), change: 'modified' });
  });

  it('reports a deletion', async () => {
    const etc = await tree();
    await start({}, rule('FILE', etc));
    await rm(join(etc, 'ssh', 'sshd_config'));
    const alert = await onlyAlert();
    expect(alert.detail).toMatchObject({
      path: join(etc, 'ssh', 'sshd_config'),
      change: 'deleted',
      old_sha256: sha('PermitRootLogin no\n'),
      new_sha256: null,
      old_mode: '0600',
      new_mode: null,
    });
  });

  it('reports a mode change', async () => {
    const etc = await tree();
    await start({}, rule('FILE', etc));
    await chmod(join(etc, 'passwd'), 0o4777);
    const alert = await onlyAlert();
    expect(alert.detail).toMatchObject({
      path: join(etc, 'passwd'),
      change: 'mode_changed',
      old_mode: '0644',
      new_mode: '4777',
      old_sha256: sha('root:x:0:0\n'),
      new_sha256: sha('root:x:0:0\n'),
    });
  });

  it('reports an owner change', async () => {
    const etc = await tree();
    await start({}, rule('FILE', etc));
    await chown(join(etc, 'hosts'), 65534, 65534);
    const alert = await onlyAlert();
    expect(alert.detail).toMatchObject({
      path: join(etc, 'hosts'),
      change: 'owner_changed',
      uid: 65534,
      gid: 65534,
      old_uid: 0,
      old_gid: 0,
    });
  });

  it('reports a new file, in a new subdirectory too, and watches that subdirectory', async () => {
    const etc = await tree();
    await start({}, rule('FILE', etc));
    await put(join(etc, 'ssh', 'authorized_keys'), 'ssh-ed25519 AAAA attacker\n', 0o600);
    await waitFor('created', () => rec.matching({ change: 'created' }).length === 1);
    expect(rec.alerts[0]!.detail).toMatchObject({
      path: join(etc, 'ssh', 'authorized_keys'),
      change: 'created',
      old_sha256: null,
      new_sha256: sha('ssh-ed25519 AAAA attacker\n'),
      old_mode: null,
      new_mode: '0600',
      size: 26,
    });

    await mkdir(join(etc, 'cron.d'));
    await put(join(etc, 'cron.d', 'job'), '* * * * * root sh\n');
    await waitFor(
      'created in new dir',
      () => rec.matching({ path: join(etc, 'cron.d', 'job') })[0],
    );
    await settle(200);
    await writeFile(join(etc, 'cron.d', 'job'), '* * * * * root nc -e sh\n');
    await waitFor('modified in new dir', () => rec.matching({ change: 'modified' })[0]);
    await settle(300);
    expect(rec.alerts.map((a) => [a.detail.path, a.detail.change])).toEqual([
      [join(etc, 'ssh', 'authorized_keys'), 'created'],
      [join(etc, 'cron.d', 'job'), 'created'],
      [join(etc, 'cron.d', 'job'), 'modified'],
    ]);
  });

  it('stays quiet when nothing really changed: touch, same-content rewrite, atomic same-content save', async () => {
    const etc = await tree();
    await start({}, rule('FILE', etc));
    await utimes(join(etc, 'passwd'), new Date(), new Date());
    await writeFile(join(etc, 'hosts'), '127.0.0.1 localhost\n');
    await writeFile(join(etc, '.hosts.swp'), '127.0.0.1 localhost\n');
    await chmod(join(etc, '.hosts.swp'), 0o644);
    await rm(join(etc, '.hosts.swp'));
    await put(join(dir, 'hosts.new'), '127.0.0.1 localhost\n');
    await rename(join(dir, 'hosts.new'), join(etc, 'hosts'));
    await settle(600);
    // The swap file lived for less than the debounce: nothing to see when it was checked.
    expect(rec.alerts).toEqual([]);
  });

  it('catches an atomic replace (write elsewhere, rename over) of a single-file target, and nothing beside it', async () => {
    const etc = await tree();
    const target = join(etc, 'passwd');
    await start({}, rule('FILE', target));
    await writeFile(join(etc, 'hosts'), 'changed\n');
    await put(join(etc, 'group'), 'root:x:0:\n');
    await put(join(dir, 'passwd.new'), 'root::0:0\n');
    await rename(join(dir, 'passwd.new'), target);
    const alert = await onlyAlert();
    expect(alert.detail).toMatchObject({
      path: target,
      change: 'modified',
      new_sha256: sha('root::0:0\n'),
    });
  });

  it('leaves out excluded paths and, when not recursive, subdirectories', async () => {
    const etc = await tree();
    await mkdir(join(etc, 'cache'));
    await put(join(etc, 'cache', 'x'), 'a');
    await start(
      {},
      rule('FILE', etc, { config: { recursive: false, exclude: ['*.log', 'cache'] } }),
    );
    await writeFile(join(etc, 'ssh', 'sshd_config'), 'PermitRootLogin yes\n');
    await writeFile(join(etc, 'cache', 'x'), 'b');
    await writeFile(join(etc, 'app.log'), 'line\n');
    await writeFile(join(etc, 'hosts'), '0.0.0.0 evil\n');
    const alert = await onlyAlert();
    expect(alert.detail).toMatchObject({ path: join(etc, 'hosts'), change: 'modified' });
  });

  it('skips FIFOs and follows no symlinked directories, but reports a symlink retargeted', async () => {
    const etc = await tree();
    execFileSync('mkfifo', [join(etc, 'pipe')]);
    await symlink('/usr', join(etc, 'usr-link'));
    await symlink('passwd', join(etc, 'link'));
    await start({}, rule('FILE', etc));
    await rm(join(etc, 'link'));
    await symlink('/etc/shadow', join(etc, 'link'));
    const alert = await onlyAlert();
    expect(alert.detail).toMatchObject({
      path: join(etc, 'link'),
      change: 'modified',
      link_target: '/etc/shadow',
      new_sha256: sha('/etc/shadow'),
    });
  });

  it('catches a whole-directory replacement by the rescan alone (watching off)', async () => {
    const etc = await tree();
    await start({ watch: false, rescanMs: 200 }, rule('FILE', etc));
    const fresh = join(dir, 'etc.new');
    await mkdir(join(fresh, 'ssh'), { recursive: true });
    await put(join(fresh, 'passwd'), 'root::0:0\n');
    await put(join(fresh, 'hosts'), '127.0.0.1 localhost\n');
    await put(join(fresh, 'shadow'), 'root::1:0\n', 0o600);
    await rename(etc, join(dir, 'etc.old'));
    await rename(fresh, etc);
    await waitFor('three alerts', () => rec.alerts.length >= 3);
    await settle(500);
    const seen = rec.alerts.map((a) => `${a.detail.change} ${a.detail.path}`).sort();
    expect(seen).toEqual(
      [
        `created ${join(etc, 'shadow')}`,
        `deleted ${join(etc, 'ssh', 'sshd_config')}`,
        `modified ${join(etc, 'passwd')}`,
      ].sort(),
    );
  });

  it('catches a whole-directory replacement through the watch on its parent, then watches the new tree', async () => {
    const etc = await tree();
    await start({}, rule('FILE', etc));
    const fresh = join(dir, 'etc.new');
    await mkdir(join(fresh, 'ssh'), { recursive: true });
    await put(join(fresh, 'passwd'), 'root::0:0\n');
    await put(join(fresh, 'hosts'), '127.0.0.1 localhost\n');
    await put(join(fresh, 'ssh', 'sshd_config'), 'PermitRootLogin no\n', 0o600);
    await rm(etc, { recursive: true });
    await rename(fresh, etc);
    const alert = await onlyAlert();
    expect(alert.detail).toMatchObject({ path: join(etc, 'passwd'), change: 'modified' });

    writeFileSync(join(etc, 'ssh', 'sshd_config'), 'PermitRootLogin yes\n');
    await waitFor('second alert', () => rec.alerts.length === 2);
    expect(rec.alerts[1]!.detail).toMatchObject({
      path: join(etc, 'ssh', 'sshd_config'),
      change: 'modified',
    });
  });

  it('takes a rules update without restart: a new target is baselined silently, a removed one goes quiet', async () => {
    const etc = await tree();
    const other = join(dir, 'bin');
    await mkdir(other);
    await put(join(other, 'ls'), 'ELF ls', 0o755);
    const etcRule = rule('FILE', etc);
    const binRule = rule('FILE', other, { name: 'bin-watch' });
    const s = await start({ rescanMs: 200 }, etcRule);

    await s.update([
      etcRule,
      binRule,
      rule('PROCESS', 'nc'),
      rule('FILE', '/x', { enabled: false }),
    ]);
    await settle(300);
    expect(rec.alerts).toEqual([]);
    await writeFile(join(other, 'ls'), 'ELF ls trojan');
    await waitFor('bin alert', () => rec.matching({ path: join(other, 'ls') })[0]);

    await s.update([binRule]);
    await writeFile(join(etc, 'passwd'), 'changed after removal\n');
    await rm(join(etc, 'hosts'));
    await writeFile(join(other, 'ls'), 'ELF ls trojan v2');
    await waitFor('second bin alert', () => rec.matching({ path: join(other, 'ls') }).length === 2);
    await settle(500); // past two rescans too
    expect(rec.alerts.map((a) => a.ruleName)).toEqual(['bin-watch', 'bin-watch']);
  });

  it('keeps the baseline when only a rule name or severity changes', async () => {
    const etc = await tree();
    const r = rule('FILE', etc);
    const s = await start({}, r);
    await writeFile(join(etc, 'passwd'), 'before rename\n');
    await waitFor('first', () => rec.alerts.length === 1);
    await s.update([{ ...r, name: 'renamed', severity: 'INFO' }]);
    await writeFile(join(etc, 'passwd'), 'after rename\n');
    await waitFor('second', () => rec.alerts.length === 2);
    expect(rec.alerts[1]).toMatchObject({ ruleName: 'renamed', severity: 'INFO' });
    expect(rec.alerts[1]!.detail.old_sha256).toBe(sha('before rename\n'));
  });

  it('watches a target that does not exist yet, and reports its creation', async () => {
    const target = join(dir, 'later', 'secret');
    await start({ rescanMs: 200 }, rule('FILE', target));
    await mkdir(join(dir, 'later'));
    await put(target, 'k');
    const alert = await onlyAlert();
    expect(alert.detail).toMatchObject({ path: target, change: 'created', new_sha256: sha('k') });
  });

  it('stops emitting after stop()', async () => {
    const etc = await tree();
    const s = await start({ rescanMs: 100 }, rule('FILE', etc));
    await s.stop();
    await writeFile(join(etc, 'passwd'), 'x');
    await settle(400);
    expect(rec.alerts).toEqual([]);
  });
});
