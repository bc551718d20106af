// The .deb's postinst and the tripwire user, run for real (adduser, useradd, getent) against a
// private copy of /etc: a mount namespace (unshare, root only) binds it over /etc, so the
// machine's own users are never touched. What is held: the agent's user is a system account
// without a login shell; an existing "tripwire" that is a person's account is refused, not
// reused (it would own the agent's state folder, so its outbox and rules, and run with the
// unit's capabilities).
import { describe, expect, it } from 'vitest';
import { canRunMaintainerScripts, runMaintainerScript } from './maintainer-script.js';

/** `setup` then postinst configure, then `after`, inside a private /etc. */
const inPrivateEtc = (setup: string, after = '') =>
  runMaintainerScript({
    script: 'postinst',
    args: ['configure'],
    privateFolders: [{ path: '/etc' }],
    // A machine without the agent's user (this one may have it from an earlier install).
    setup: `for f in passwd shadow group gshadow; do sed -i '/^tripwire:/d' "/etc/$f"; done
mkdir -p /etc/tripwire-agent && touch /etc/tripwire-agent/agent.env
${setup}`,
    after,
  });

describe.skipIf(!canRunMaintainerScripts)(
  'postinst: the tripwire user and the unit (root, unshare)',
  () => {
    it('a fresh install makes tripwire a system user with no login shell', async () => {
      const { code, output } = await inPrivateEtc('', 'getent passwd tripwire');
      expect(code, output).toBe(0);
      expect(output).toContain('postinst exit 0');
      const [, uid, home, shell] = /^tripwire:x:(\d+):\d+:[^:]*:([^:]*):(.*)$/m.exec(output) ?? [];
      expect(Number(uid)).toBeLessThan(1000);
      expect({ home, shell }).toEqual({
        home: '/var/lib/tripwire-agent',
        shell: '/usr/sbin/nologin',
      });
    });

    it('an existing system user tripwire is kept (upgrade, reinstall)', async () => {
      const { output } = await inPrivateEtc(
        'adduser --system --group --quiet --no-create-home --home /var/lib/tripwire-agent tripwire',
      );
      expect(output).toContain('postinst exit 0');
    });

    it("a person's account named tripwire is refused, with what to do", async () => {
      const { output } = await inPrivateEtc('useradd -M -u 1777 -U -s /bin/bash tripwire');
      expect(output).toMatch(/postinst exit [1-9]/);
      expect(output).toContain('tripwire-agent: the user tripwire already exists');
    });

    it('a system account named tripwire with a login shell is refused', async () => {
      const { output } = await inPrivateEtc('useradd -M -r -U -s /bin/bash tripwire');
      expect(output).toMatch(/postinst exit [1-9]/);
      expect(output).toContain('login shell');
    });

    it('a unit installed by hand in /etc/systemd/system (shadowing the packaged one) is reported', async () => {
      const quiet = await inPrivateEtc('');
      expect(quiet.output).not.toContain('overrides the packaged unit');
      const { output } = await inPrivateEtc(
        'mkdir -p /etc/systemd/system && printf "[Service]\\nUser=root\\n" > /etc/systemd/system/tripwire-agent.service',
      );
      expect(output).toContain('postinst exit 0');
      expect(output).toContain(
        '/etc/systemd/system/tripwire-agent.service (installed by hand) overrides the packaged unit',
      );
    });
  },
);
