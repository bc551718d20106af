// A local user who owns the folder of a file the operator quarantines (the attacker's own
// dropper, typically) races the agent, which runs as root: between the agent's checks and its
// rename / link / chmod, they swap their folder for a symlink to a system folder, or the
// restored file for a symlink to a system file. Each race is opened deterministically through
// the actions' test hook (QuarantineDeps.onStep) at exactly the point a looping attacker aims for.
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { QuarantineFile, RestoreFile } from '@tripwire/proto';
import { describe, expect, it } from 'vitest';
import { quarantineFile, restoreFile } from '../../src/tasks/actions/quarantine.js';
import { QuarantineManifest } from '../../src/tasks/quarantine-manifest.js';
import { tempDir } from './task-harness.js';

type Step = 'quarantine:checked' | 'restore:checked' | 'restore:placed';

/** A host: the attacker's folder, a system folder with a precious file, the agent's state. */
function host(stateRoot = tempDir('race-state')) {
  const root = tempDir('race-host');
  const evil = join(root, 'home', 'mallory', 'drop');
  const etc = join(root, 'etc');
  mkdirSync(evil, { recursive: true });
  mkdirSync(etc);
  writeFileSync(join(etc, 'passwd'), 'root:x:0:0\n');
  chmodSync(join(etc, 'passwd'), 0o644);
  const stateDir = join(stateRoot, 'state');
  mkdirSync(stateDir);
  const manifest = new QuarantineManifest(join(stateDir, 'quarantine'));
  const deps = (step?: Step, race?: () => void) => ({
    manifest,
    stateDir,
    onStep: async (s: Step) => {
      if (s === step) race?.();
    },
  });
  /** The attacker's move: their folder becomes a symlink to the system folder. */
  const swapFolder = () => {
    renameSync(evil, `${evil}.old`);
    symlinkSync(etc, evil);
  };
  return { root, evil, etc, deps, swapFolder, manifest };
}

const signal = new AbortController().signal;
const q = (path: string): QuarantineFile => ({ path });
const r = (quarantineId: string): RestoreFile => ({ quarantineId });

async function quarantined(h: ReturnType<typeof host>, name: string, content: string) {
  writeFileSync(join(h.evil, name), content);
  chmodSync(join(h.evil, name), 0o4755);
  const out = await quarantineFile(q(join(h.evil, name)), signal, h.deps());
  return (out.response as { quarantineFile: { quarantineId: string } }).quarantineFile.quarantineId;
}

describe('quarantine and restore against a racing local user', () => {
  it('quarantine moves the file it checked, never one behind a folder swapped for a symlink', async () => {
    const h = host();
    writeFileSync(join(h.evil, 'passwd'), 'mallory dropper');
    const out = await quarantineFile(
      q(join(h.evil, 'passwd')),
      signal,
      h.deps('quarantine:checked', h.swapFolder),
    );
    // The system file stays; what went into quarantine is the attacker's own file.
    expect(readFileSync(join(h.etc, 'passwd'), 'utf8')).toBe('root:x:0:0\n');
    const id = (out.response as { quarantineFile: { quarantineId: string } }).quarantineFile
      .quarantineId;
    expect(existsSync(join(`${h.evil}.old`, 'passwd'))).toBe(false);
    expect((await h.manifest.get(id))?.state).toBe('held');
  });

  it('restore never chmods or chowns a symlink put at the path after the file is back', async () => {
    const h = host();
    const id = await quarantined(h, 'tool', 'setuid tool');
    const target = join(h.evil, 'tool');
    await restoreFile(
      r(id),
      h.deps('restore:placed', () => {
        rmSync(target);
        symlinkSync(join(h.etc, 'passwd'), target);
      }),
    ).catch(() => {});
    // The agent set mode 4755 on /etc/passwd before the fix.
    expect(lstatSync(join(h.etc, 'passwd')).mode & 0o7777).toBe(0o644);
  });

  it('restore puts the file back in its own folder, never into one a symlink now points to', async () => {
    const h = host();
    const id = await quarantined(h, 'profile.sh', 'echo owned');
    const out = await restoreFile(r(id), h.deps('restore:checked', h.swapFolder));
    expect(existsSync(join(h.etc, 'profile.sh'))).toBe(false);
    expect(out.response).toMatchObject({
      restoreFile: { restoredPath: join(h.evil, 'profile.sh') },
    });
    const back = join(`${h.evil}.old`, 'profile.sh');
    expect(readFileSync(back, 'utf8')).toBe('echo owned');
    // Owner set before the mode: the setuid bit survives (a chown after the chmod clears it).
    expect(lstatSync(back).mode & 0o7777).toBe(0o4755);
  });

  const shm = '/dev/shm';
  const otherFs = existsSync(shm) && statSync(shm).dev !== statSync(tmpdir()).dev;
  it.runIf(otherFs)(
    'restores across filesystems the same way (a copy through the pinned folder)',
    async () => {
      // The state folder on /dev/shm (tmpfs), the file under /tmp: rename and link fail EXDEV.
      const h = host(mkdtempSync(join(shm, 'tripwire-race-')));
      const id = await quarantined(h, 'tool', 'x');
      const out = await restoreFile(r(id), h.deps('restore:checked', h.swapFolder));
      expect(out.response).toMatchObject({ restoreFile: {} });
      expect(existsSync(join(h.etc, 'tool'))).toBe(false);
      expect(lstatSync(join(`${h.evil}.old`, 'tool')).mode & 0o7777).toBe(0o4755);
    },
  );
});
