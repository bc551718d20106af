// Issue 13: the agent's sensor inputs, as a hostile local user shapes them (command lines huge,
// NUL-separated, invalid UTF-8, control characters; odd paths; garbage /proc/net/tcp lines).
// Properties: nothing throws, every call returns (bounded work per input), and the alert detail
// built from the input fits the server's limits with what was cut marked.
import { alertFromDraft } from '@tripwire/agent-sdk';
import { createLogger } from '@tripwire/logger';
import { fc, fuzz } from '@tripwire/test-fixtures/fuzz';
import { describe, it } from 'vitest';
import { DEFAULT_RULES_FILE, loadLocalRules } from '../src/local-rules.js';
import { parseProcNetTcpLine } from '../src/sensors/proc-net-tcp.js';
import { fullCmdline, parseProcStat, truncatedCmdlines } from '../src/sensors/proc-processes.js';
import { compileProcessPattern } from '../src/sensors/process-pattern.js';

const log = createLogger({ name: 'fuzz', level: 'silent' });
const patterns = loadLocalRules(DEFAULT_RULES_FILE)
  .filter((r) => r.tripwireType === 'PROCESS')
  .map((r) => compileProcessPattern(r, log)!);

/** argv as the kernel stores it: NUL-terminated arguments of any bytes, sometimes padded huge. */
const rawCmdline = fc
  .tuple(
    fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 16 }),
    fc.constantFrom('', '/nc\0', 'A', '\xff\xfe', 'é\0', '\x1b[31m'),
    fc.integer({ min: 0, max: 40_000 }),
  )
  .map(([args, pad, repeat]) =>
    Buffer.concat([
      ...args.map((a) => Buffer.concat([Buffer.from(a), Buffer.from([0])])),
      Buffer.from(pad.repeat(repeat), 'latin1'),
    ]),
  );

const isStorable = (s: string) => s.isWellFormed() && !s.includes('\u0000');

function everyString(value: unknown, check: (s: string) => boolean): boolean {
  const stack = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string' && !check(v)) return false;
    if (v && typeof v === 'object') stack.push(...Object.keys(v), ...Object.values(v));
  }
  return true;
}

describe('sensor inputs (fast-check)', () => {
  it('a command line of any bytes is matched whole, reported cut, and its alert fits the limits', () =>
    fuzz(
      'agent: cmdline → match → alert detail',
      fc.property(rawCmdline, fc.integer({ min: 256, max: 8192 }), (raw, maxBytes) => {
        const cmdline = fullCmdline(raw, maxBytes);
        if (Buffer.byteLength(cmdline.text) > maxBytes || cmdline.text.includes('\0')) return false;
        if (!cmdline.whole.startsWith(cmdline.text.replace(/\uFFFD$/, ''))) return false;
        for (const p of patterns) p.test(cmdline.whole);
        const truncated = truncatedCmdlines({ cmdline }, maxBytes);
        if (cmdline.bytes > maxBytes !== (truncated?.cmdline === cmdline.bytes)) return false;
        const detailMax = 2048;
        const alert = alertFromDraft(
          {
            tripwireType: 'PROCESS',
            severity: 'CRITICAL',
            ruleName: 'reverse-shell-tools',
            detail: {
              cmdline: cmdline.text,
              parent_cmdline: cmdline.text,
              ...(truncated && { truncated }),
            },
          },
          detailMax,
        );
        const detail = JSON.parse(alert.detailJson) as Record<string, unknown>;
        return (
          Buffer.byteLength(alert.detailJson) <= detailMax &&
          everyString(detail, isStorable) &&
          (Buffer.byteLength(
            JSON.stringify({ cmdline: cmdline.text, parent_cmdline: cmdline.text }),
          ) <
            detailMax - 200 ||
            detail.truncated !== undefined)
        );
      }),
      40,
    ));

  it('any path and any string field becomes a storable detail within the limit', () =>
    fuzz(
      'agent: file detail with hostile paths',
      fc.property(
        fc.string({
          unit: fc.constantFrom('a', '/', '\u0000', '\uD800', '\uDC00', '😀', '\n', '"', '\\'),
          maxLength: 3000,
        }),
        fc.string({ unit: 'binary', maxLength: 200 }),
        fc.integer({ min: 1024, max: 4096 }),
        (path, rule, detailMax) => {
          const alert = alertFromDraft(
            {
              tripwireType: 'FILE',
              severity: 'WARN',
              ruleName: rule,
              detail: { path, link_target: path },
            },
            detailMax,
          );
          return (
            Buffer.byteLength(alert.detailJson) <= detailMax &&
            everyString(JSON.parse(alert.detailJson), isStorable) &&
            alert.ruleName.length <= 256 &&
            !/\p{Cc}/u.test(alert.ruleName)
          );
        },
      ),
      60,
    ));

  it('any /proc/net/tcp or /proc/pid/stat line parses or gives null, never throws', () =>
    fuzz(
      'agent: /proc/net/tcp and stat lines',
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 400 }),
          fc
            .array(
              fc.oneof(
                fc.string({ unit: fc.constantFrom(...'0123456789ABCDEF'), maxLength: 40 }),
                fc.constantFrom('0:', ':', '0100007F:1F90', '0A', '-1', 'NaN'),
              ),
              {
                maxLength: 14,
              },
            )
            .map((f) => `  ${f.join(' ')}`),
        ),
        fc.constantFrom('tcp' as const, 'tcp6' as const),
        (line, protocol) => {
          const socket = parseProcNetTcpLine(line, protocol);
          parseProcStat(line);
          return (
            socket === null ||
            (Number.isInteger(socket.localPort) &&
              Number.isInteger(socket.uid) &&
              Number.isInteger(socket.state))
          );
        },
      ),
      300,
    ));
});
