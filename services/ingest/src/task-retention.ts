import type { Logger } from '@tripwire/logger';
import { deleteFinishedTasks, type Pool } from '@tripwire/storage';

/** Batches per run at most: a backlog is worked off over a few runs, never in one long burst. */
const MAX_BATCHES = 100;

/**
 * Retention: tasks finished more than `days` ago go, their output with them (ON DELETE
 * CASCADE). 0 keeps them forever. Their audit entries stay (the audit log is append-only).
 */
export async function applyTaskRetention(pool: Pool, days: number, log: Logger): Promise<number> {
  if (days <= 0) return 0;
  const before = new Date(Date.now() - days * 86_400_000);
  let total = 0;
  for (let i = 0; i < MAX_BATCHES; i++) {
    const deleted = await deleteFinishedTasks(pool, before);
    total += deleted;
    if (deleted < 10_000) break;
  }
  if (total) log.info({ deleted: total, before }, 'retention deleted old finished tasks');
  return total;
}
