import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

interface SecretsFile {
  enrollmentToken: string;
  operatorJwtSecret: string;
  /** The embedded PostgreSQL's password (SCRAM-SHA-256 at its TCP port). */
  databasePassword: string;
  adminToken?: string;
}

export interface LocalSecrets extends SecretsFile {
  save(update: Partial<SecretsFile>): void;
}

/**
 * The secrets `pnpm start` generates, kept in homeDir/secrets.json (0600) so a
 * restart keeps the same enrollment token, signing secret, admin token and
 * database password: agents stay registered and the browser stays signed in.
 * A file from before a secret existed gets it added. Environment
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
    databasePassword: stored.databasePassword ?? randomBytes(24).toString('base64url'),
    ...(stored.adminToken ? { adminToken: stored.adminToken } : {}),
  };
  const write = () => {
    mkdirSync(homeDir, { recursive: true, mode: 0o700 });
    writeFileSync(file, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
    // `mode` applies only when the file is created: an older or copied file is tightened too.
    chmodSync(file, 0o600);
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
