import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

interface SecretsFile {
  enrollmentToken: string;
  operatorJwtSecret: string;
  adminToken?: string;
}

export interface LocalSecrets extends SecretsFile {
  save(update: Partial<SecretsFile>): void;
}

/**
 * The secrets `pnpm start` generates, kept in homeDir/secrets.json (0600) so a
 * restart keeps the same enrollment token, signing secret and admin token:
 * agents stay registered and the browser stays signed in. Environment
 * variables, when set, win over them (see startSingleProcess).
 */
export function loadLocalSecrets(homeDir: string): LocalSecrets {
  const file = join(homeDir, 'secrets.json');
  let stored: Partial<SecretsFile> = {};
  try {
    stored = JSON.parse(readFileSync(file, 'utf8')) as Partial<SecretsFile>;
  } catch {
    // First start, or an unreadable file: generate afresh.
  }
  const secrets: SecretsFile = {
    enrollmentToken: stored.enrollmentToken ?? `twe_${randomBytes(24).toString('base64url')}`,
    operatorJwtSecret: stored.operatorJwtSecret ?? randomBytes(32).toString('base64url'),
    ...(stored.adminToken ? { adminToken: stored.adminToken } : {}),
  };
  const write = () => {
    mkdirSync(homeDir, { recursive: true });
    writeFileSync(file, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  };
  write();
  return {
    ...secrets,
    save(update) {
      Object.assign(secrets, update);
      write();
    },
  };
}
