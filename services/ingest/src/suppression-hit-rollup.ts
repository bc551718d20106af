import type { Logger } from '@tripwire/logger';
import { type Queryable, rollUpSuppressionHits } from '@tripwire/storage';

const ROLL_UP_EVERY_MS = 10_000;

/**
 * Folds the hit rows flushes append (one per suppression per flush, migration 0016) into the
 * suppressions' totals every ten seconds, so that table stays a few rows long. Listings add the
 * rows still waiting, so the counts shown are exact either way; several instances may run this
 * at once (each row is counted by the one that deletes it).
 */
export function createSuppressionHitRollup(db: Queryable, log: Logger) {
  let timer: NodeJS.Timeout | undefined;
  const rollUp = async () => {
    try {
      await rollUpSuppressionHits(db);
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'rolling up suppression hits failed; retrying');
    }
  };
  return {
    start() {
      timer = setInterval(() => void rollUp(), ROLL_UP_EVERY_MS);
      timer.unref();
    },
    stop: () => clearInterval(timer),
  };
}
