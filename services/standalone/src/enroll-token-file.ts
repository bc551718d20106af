// The enrollment token in a file of its own (0600), for the demo agent command `pnpm start`
// prints: `--enroll-token-file` keeps the token off the agent's command line, where every local
// user could read it (`ps`), and out of the shell history.
import { closeSync, constants, fchmodSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Writes homeDir/enroll-token (mode 0600) and returns its path. */
export function writeEnrollTokenFile(homeDir: string, token: string): string {
  const path = join(homeDir, 'enroll-token');
  // O_NOFOLLOW: a symlink planted at the path is refused, not written through.
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW;
  const fd = openSync(path, flags, 0o600);
  try {
    // The mode given to open applies only to a new file.
    fchmodSync(fd, 0o600);
    writeFileSync(fd, `${token}\n`);
  } finally {
    closeSync(fd);
  }
  return path;
}
