// The hardened unit's system-call filter against what the agent's code calls. A call outside
// SystemCallFilter= kills the process with SIGSYS unless SystemCallErrorNumber= turns it into an
// error: restore_file's best-effort fchown (src/tasks/actions/quarantine.ts) then ended the
// whole agent, and a task must never end it. Groups are expanded by systemd-analyze itself
// (systemd's own lists), the unit and docs/response-actions.md's drop-in read as shipped.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('../../../../', import.meta.url));
const unit = readFileSync(`${repo}infra/systemd/tripwire-agent.service`, 'utf8');
const dropIn = /response-actions\.conf\n([\s\S]*?)```/.exec(
  readFileSync(`${repo}docs/response-actions.md`, 'utf8'),
)?.[1];
const analyze = '/usr/bin/systemd-analyze';

const expanded = new Map<string, Set<string>>();
/** A group's system calls, nested groups included, as this machine's systemd defines them. */
function syscalls(name: string): Set<string> {
  if (!name.startsWith('@')) return new Set([name]);
  const known = expanded.get(name);
  if (known) return known;
  const out = new Set<string>();
  const lines = execFileSync(analyze, ['syscall-filter', name], { encoding: 'utf8' }).split('\n');
  for (const line of lines.slice(1)) {
    const item = line.trim();
    if (!item || item.startsWith('#')) continue;
    for (const call of syscalls(item)) out.add(call);
  }
  expanded.set(name, out);
  return out;
}

const settings = (text: string, key: string) =>
  [...text.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => (m[1] ?? '').trim());

/** systemd's merge: the first line sets an allow list, later ones add to it or (~) take away. */
function allowed(lines: string[]): Set<string> {
  const set = new Set<string>();
  for (const line of lines) {
    const deny = line.startsWith('~');
    for (const item of line.replace(/^~/, '').split(/\s+/).filter(Boolean))
      for (const call of syscalls(item)) deny ? set.delete(call) : set.add(call);
  }
  return set;
}

/** Calls the agent makes that the filter may refuse, and where (each must fail softly, not kill). */
const OUTSIDE_THE_SANDBOX = { fchown: 'restore_file: the owner put back, best effort' };

describe.skipIf(!existsSync(analyze))('the unit: system calls the filter refuses', () => {
  it('answer EPERM (SystemCallErrorNumber=), never SIGSYS: a task cannot end the agent', () => {
    const filter = allowed(settings(unit, 'SystemCallFilter'));
    expect(filter.has('openat') && filter.has('read'), 'the filter expands').toBe(true);
    const refused = Object.keys(OUTSIDE_THE_SANDBOX).filter((c) => !filter.has(c));
    expect(refused).toEqual(['fchown']);
    expect(settings(unit, 'SystemCallErrorNumber')).toEqual(['EPERM']);
  });

  it("response-actions.md's drop-in, which grants CAP_CHOWN, lets fchown through", () => {
    expect(dropIn, 'the drop-in block in docs/response-actions.md').toBeDefined();
    const caps = settings(dropIn ?? '', 'CapabilityBoundingSet').join(' ');
    expect(caps).toContain('CAP_CHOWN');
    const filter = allowed([
      ...settings(unit, 'SystemCallFilter'),
      ...settings(dropIn ?? '', 'SystemCallFilter'),
    ]);
    expect(filter.has('fchown')).toBe(true);
  });
});
