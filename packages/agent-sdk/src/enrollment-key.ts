import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-file.js';

/** Metadata names RegisterAgent reads besides the bearer (docs/security.md, "Agent enrollment"). */
export const AGENT_TOKEN_METADATA = 'x-tripwire-agent-token';
export const ENROLLMENT_KEY_METADATA = 'x-tripwire-enrollment-key';

const ENROLLMENT_KEY_FILE = 'enrollment-key';

/**
 * This agent's enrollment key: random, kept in the state folder (0600) so a restarted agent
 * presents the same one. When the hostname is already enrolled and the agent has no proof of
 * being that host, the server holds the registration for an admin; an approval is for this key
 * only, so the agent's retry (and no one else's) gets the host.
 */
export async function loadEnrollmentKey(stateDir: string): Promise<string> {
  const path = join(stateDir, ENROLLMENT_KEY_FILE);
  const stored = await readFile(path, 'utf8').then(
    (text) => text.trim(),
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return '';
      throw err;
    },
  );
  if (/^[\x21-\x7e]{16,256}$/.test(stored)) return stored;
  const key = randomBytes(32).toString('base64url');
  await writeFileAtomic(path, `${key}\n`);
  return key;
}
