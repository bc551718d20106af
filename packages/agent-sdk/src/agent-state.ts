import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { AgentRule } from './agent-types.js';
import { writeFileAtomic } from './atomic-file.js';

/** What RegisterAgent gave this host. The token is a secret: never log it. */
export interface AgentCredentials {
  hostId: string;
  agentToken: string;
  registeredAt: string;
}

const CREDENTIALS_FILE = 'credentials.json';
const RULES_FILE = 'rules.json';
export const OUTBOX_FILE = 'outbox.log';
export const DEAD_LETTER_FILE = 'dead-letter.jsonl';
export const TASKS_JOURNAL_FILE = 'tasks.json';

async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${path} is not valid JSON; remove it to start over`);
  }
}

/** `0o40755` → "0755". */
export function octal(mode: number): string {
  return `0${(mode & 0o777).toString(8)}`;
}

/**
 * The agent's state folder: credentials.json and rules.json (0600, replaced
 * atomically) and the outbox. The folder is created 0700.
 */
export class AgentState {
  constructor(readonly dir: string) {}

  get outboxPath(): string {
    return join(this.dir, OUTBOX_FILE);
  }

  get tasksJournalPath(): string {
    return join(this.dir, TASKS_JOURNAL_FILE);
  }

  get deadLetterPath(): string {
    return join(this.dir, DEAD_LETTER_FILE);
  }

  /**
   * Creates the folder (0700) if missing, and refuses one that another user could plant files in
   * (a symlink where the agent writes, a forged rules.json or outbox, a new agent token): it must
   * belong to this user and be writable by nobody else. `readableByOthers`: only a warning, since
   * every file in it is 0600.
   */
  async ensureDir(): Promise<{ readableByOthers: boolean }> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const { mode, uid } = await stat(this.dir);
    const me = process.getuid?.();
    if (me !== undefined && uid !== me)
      throw new Error(
        `the state folder ${this.dir} belongs to uid ${uid}, not to this user (uid ${me}): another user controls what is in it; chown it or pick another --state-dir`,
      );
    if ((mode & 0o022) !== 0)
      throw new Error(
        `the state folder ${this.dir} is writable by other users (mode ${octal(mode)}): they could plant files in it; chmod 700 ${this.dir}`,
      );
    return { readableByOthers: (mode & 0o055) !== 0 };
  }

  async loadCredentials(): Promise<AgentCredentials | undefined> {
    const path = join(this.dir, CREDENTIALS_FILE);
    const data = (await readJson(path)) as Partial<AgentCredentials> | undefined;
    if (data === undefined) return undefined;
    if (typeof data.hostId !== 'string' || typeof data.agentToken !== 'string')
      throw new Error(`${path} lacks hostId/agentToken; remove it to register again`);
    return {
      hostId: data.hostId,
      agentToken: data.agentToken,
      registeredAt: String(data.registeredAt ?? ''),
    };
  }

  saveCredentials(credentials: AgentCredentials): Promise<void> {
    return writeFileAtomic(
      join(this.dir, CREDENTIALS_FILE),
      `${JSON.stringify(credentials, null, 2)}\n`,
    );
  }

  /** The rules last received from the server, or undefined if none were ever stored. */
  async loadRules(): Promise<AgentRule[] | undefined> {
    const path = join(this.dir, RULES_FILE);
    const data = (await readJson(path)) as { rules?: unknown } | undefined;
    if (data === undefined) return undefined;
    if (!Array.isArray(data.rules)) throw new Error(`${path} has no "rules" list`);
    return data.rules as AgentRule[];
  }

  saveRules(rules: AgentRule[]): Promise<void> {
    return writeFileAtomic(
      join(this.dir, RULES_FILE),
      `${JSON.stringify({ savedAt: new Date().toISOString(), rules }, null, 2)}\n`,
    );
  }
}
