import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readUserNames } from '../../src/sensors/passwd-users.js';
import {
  parseCmdline,
  parseProcStat,
  parseStatusUid,
  readProcess,
  startTimeIso,
} from '../../src/sensors/proc-processes.js';

describe('/proc/<pid> parsing', () => {
  it('parses stat even when comm holds spaces and parentheses', () => {
    const line =
      '4242 (evil) (x y) S 1 4242 4242 0 -1 4194560 120 0 0 0 3 1 0 0 20 0 1 0 987654 4096000 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 2 0 0 0 0 0\n';
    expect(parseProcStat(line)).toEqual({
      comm: 'evil) (x y',
      state: 'S',
      ppid: 1,
      startTicks: 987654,
    });
    expect(parseProcStat('garbage')).toBeNull();
  });

  it('takes the real uid from status, and joins cmdline arguments with spaces', () => {
    expect(parseStatusUid('Name:\tsu\nUid:\t1000\t0\t0\t0\nGid:\t0\t0\t0\t0\n')).toBe(1000);
    expect(parseCmdline(Buffer.from('nc\0-lvp\x004444\0'))).toBe('nc -lvp 4444');
  });

  it('converts start ticks to a time using btime and CLK_TCK', () => {
    expect(startTimeIso(1_700_000_000, 12_345, 100)).toBe('2023-11-14T22:15:23.450Z');
  });

  it('reads this very process from the real /proc', async () => {
    const me = await readProcess('/proc', process.pid);
    expect(me!.info).toMatchObject({
      pid: process.pid,
      ppid: process.ppid,
      uid: process.getuid!(),
    });
    expect(me!.info.cmdline).toContain('node');
    expect(me!.cmdline.whole).toBe(me!.info.cmdline);
    expect(await readProcess('/proc', 2 ** 22 + 1)).toBeNull();
  });

  it('maps uids to names from a passwd file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tw-passwd-'));
    try {
      const path = join(dir, 'passwd');
      await writeFile(
        path,
        'root:x:0:0:root:/root:/bin/bash\n# comment\nbroken\nnobody:x:65534:65534::/:/bin/false\n',
      );
      expect(await readUserNames(path)).toEqual(
        new Map([
          [0, 'root'],
          [65534, 'nobody'],
        ]),
      );
      expect(await readUserNames(join(dir, 'missing'))).toEqual(new Map());
    } finally {
      await rm(dir, { recursive: true });
    }
  });
});
