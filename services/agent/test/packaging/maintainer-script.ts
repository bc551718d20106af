// Runs one of the .deb's maintainer scripts for real, as root, inside a mount namespace
// (unshare) where the folders it changes are private copies: the machine's own users, units and
// /var/lib are never touched.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const canRunMaintainerScripts =
  process.getuid?.() === 0 && ['/usr/bin/unshare', '/usr/sbin/adduser'].every(existsSync);

export interface ScriptOutcome {
  code: number | null;
  /** stdout and stderr, with "<script> exit <code>" after the script's own output. */
  output: string;
}

/**
 * `setup`, then `packaging/debian/<script> <args>`, then `after`, with `privateFolders` bound
 * over by copies (or, with `empty`, by empty folders) that go with the namespace.
 */
export function runMaintainerScript(options: {
  script: 'postinst' | 'postrm';
  args: string[];
  privateFolders: { path: string; empty?: boolean }[];
  setup?: string;
  after?: string;
}): Promise<ScriptOutcome> {
  const file = fileURLToPath(new URL(`../../packaging/debian/${options.script}`, import.meta.url));
  const binds = options.privateFolders
    .map(({ path, empty }, i) =>
      [
        `copy${i}=$(mktemp -d) && copies="$copies $copy${i}"`,
        empty ? '' : `cp -a ${path}/. "$copy${i}"`,
        `mount --bind "$copy${i}" ${path} && mounted="${path} $mounted"`,
      ].join('\n'),
    )
    .join('\n');
  const shell = `set -e
copies=''; mounted=''
# Copies of /etc hold /etc/shadow: they go with the namespace (mktemp -d is 0700 meanwhile).
trap 'for m in $mounted; do umount "$m" 2>/dev/null; done; rm -rf $copies' EXIT
${binds}
${options.setup ?? ''}
code=0
sh ${JSON.stringify(file)} ${options.args.join(' ')} || code=$?
echo "${options.script} exit $code"
${options.after ?? ''}`;
  const child = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', shell], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, output })));
}
