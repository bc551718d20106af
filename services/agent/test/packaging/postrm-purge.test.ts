// dpkg -P runs postrm purge, which removes the agent's state folder. Quarantined files are not
// the package's data but this host's, held for an operator's restore_file: purge keeps them.
// Run for real (root, unshare) over an empty private /var/lib.
import { describe, expect, it } from 'vitest';
import { canRunMaintainerScripts, runMaintainerScript } from './maintainer-script.js';

const state = '/var/lib/tripwire-agent';
const purge = (setup: string) =>
  runMaintainerScript({
    script: 'postrm',
    args: ['purge'],
    privateFolders: [{ path: '/var/lib', empty: true }],
    setup: `mkdir -m 0700 ${state}
echo '{}' > ${state}/credentials.json
touch ${state}/outbox.log
${setup}`,
    after: `find ${state} 2>/dev/null | sort`,
  });

describe.skipIf(!canRunMaintainerScripts)('postrm purge: the state folder (root, unshare)', () => {
  it('removes the state folder when nothing is in quarantine', async () => {
    const { output } = await purge(`mkdir -m 0700 ${state}/quarantine
echo '[]' > ${state}/quarantine/manifest.json`);
    expect(output).toContain('postrm exit 0');
    expect(output).not.toContain(state);
  });

  it('keeps quarantined files and their manifest, removes the rest, and says so', async () => {
    const held = `${state}/quarantine/0b7c1c9e-5d1f-4c36-9d7e-2f7d1b1f0a11`;
    const { output } = await purge(`mkdir -m 0700 ${state}/quarantine
echo '[{"path":"/srv/www/index.php"}]' > ${state}/quarantine/manifest.json
echo 'a host file' > ${held} && chmod 0000 ${held}`);
    expect(output).toContain('postrm exit 0');
    const left = output.split('\n').filter((line) => line.startsWith(state));
    expect(left).toEqual([state, `${state}/quarantine`, held, `${state}/quarantine/manifest.json`]);
    expect(output).toContain(`purge kept ${state}/quarantine`);
  });
});
