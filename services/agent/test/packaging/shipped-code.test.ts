// The single executable loads re2.node from <binary>/../lib/tripwire-agent only when no one but
// root or this user could have put it there (src/shipped-files.ts), on a real file system.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { trustedCodePath } from '../../src/shipped-files.js';

const base = mkdtempSync(join(tmpdir(), 'tripwire-shipped-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

/** <root>/lib/tripwire-agent/re2.node, its folders 0755 and the file 0644, as the .deb has them. */
function tree(root: string): string {
  const lib = join(root, 'lib', 'tripwire-agent');
  mkdirSync(lib, { recursive: true, mode: 0o755 });
  const file = join(lib, 're2.node');
  writeFileSync(file, 'not really an addon', { mode: 0o644 });
  return file;
}

describe('trustedCodePath: where the agent accepts native code from', () => {
  it('accepts the package layout and answers the real path', () => {
    const file = tree(join(base, 'installed'));
    expect(trustedCodePath(file)).toBe(file);
  });

  it('refuses a file in a folder others can write', () => {
    const file = tree(join(base, 'open'));
    chmodSync(join(base, 'open', 'lib'), 0o777);
    expect(() => trustedCodePath(file)).toThrow(/is writable by other users/);
  });

  it('follows a symlinked folder and checks where it leads: a folder anyone can write on the way is refused', () => {
    // lib/tripwire-agent -> <shared>/pkg, where <shared> is 0777 (not sticky): anyone can
    // rename pkg away and put their own re2.node in its place.
    const shared = join(base, 'shared');
    const target = tree(join(shared, 'pkg'));
    chmodSync(shared, 0o777);
    const linked = join(base, 'linked');
    mkdirSync(join(linked, 'lib'), { recursive: true, mode: 0o755 });
    symlinkSync(
      join(shared, 'pkg', 'lib', 'tripwire-agent'),
      join(linked, 'lib', 'tripwire-agent'),
    );
    expect(target).toContain('shared');
    expect(() => trustedCodePath(join(linked, 'lib', 'tripwire-agent', 're2.node'))).toThrow(
      new RegExp(`${shared} is writable by other users`),
    );
  });
});
