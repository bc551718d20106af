import type { Logger } from '@tripwire/logger';
import { RejectCode, type Rejection } from '@tripwire/proto';
import { TRIPWIRE_TYPES } from '@tripwire/wire';
import type { AlertDraft } from './agent-types.js';
import { MAX_FIXES_PER_ALERT } from './alert-limits.js';
import { type DeadLetterFile, deadLetterEntry } from './dead-letter.js';
import type { Outbox } from './outbox.js';
import type { OutboxAlert } from './outbox-records.js';
import { type FixContext, fixRejectedAlert } from './rejection-fixes.js';

/** The rule name of the alert that reports a CRITICAL alert kept in the dead-letter file. */
export const DEAD_LETTER_RULE_NAME = 'tripwire-agent.dead-letter';
/** A server's reason is quoted at most this long (in logs, letters and reports). */
const MAX_REASON_CHARS = 512;

export interface RejectionHandlerDeps {
  outbox: Outbox;
  deadLetters: DeadLetterFile;
  log: Logger;
  /** Queues a new alert (the dead-letter report), as the client's enqueue does. */
  enqueue: (draft: AlertDraft) => Promise<string>;
  fixContext: () => FixContext;
  /** The server refused a detail of this size: clip later alerts to `bytes` too. */
  lowerDetailLimit: (bytes: number) => void;
}

/**
 * A rejected alert is fixed and sent again when the agent can fix what the server refused
 * (rejection-fixes.ts). One it cannot fix leaves the outbox: a CRITICAL one only after it is
 * in the dead-letter file, with an alert saying so; any other is logged and counted.
 */
export class RejectionHandler {
  /** Rejected alerts fixed and sent again. */
  fixed = 0;
  /** Rejected alerts that could not be fixed (dead-lettered or dropped). */
  rejected = 0;
  /** CRITICAL rejected alerts written to the dead-letter file. */
  deadLettered = 0;
  /** Unfixable rejections by RejectCode name. */
  readonly byCode: Record<string, number> = {};
  /** Fixes tried per alert still held: a fix the server refuses again is not tried forever. */
  private readonly attempts = new Map<string, number>();

  constructor(private readonly deps: RejectionHandlerDeps) {}

  /** These alerts were stored: no more fixes to track for them. */
  forget(alertIds: readonly string[]): void {
    if (this.attempts.size === 0) return;
    for (const id of alertIds) this.attempts.delete(id);
  }

  async handle(rejection: Rejection): Promise<void> {
    const { outbox, log } = this.deps;
    const alert = outbox.get(rejection.alertId);
    if (!alert) return;
    const code = RejectCode[rejection.code] ?? `REJECT_CODE_${rejection.code}`;
    const reason = rejection.reason.slice(0, MAX_REASON_CHARS);
    const fields = { alertId: alert.alertId, ruleName: alert.ruleName, code, reason };
    const tried = this.attempts.get(alert.alertId) ?? 0;
    const fix =
      tried < MAX_FIXES_PER_ALERT
        ? fixRejectedAlert(alert, rejection.code, rejection.reason, this.deps.fixContext())
        : null;
    if (fix) {
      this.attempts.set(alert.alertId, tried + 1);
      if (fix.detailMaxBytes) this.deps.lowerDetailLimit(fix.detailMaxBytes);
      await outbox.replace(fix.alert);
      this.fixed++;
      log.warn(
        { ...fields, fix: fix.fix },
        'the server rejected an alert; fixed it and sent it again',
      );
      return;
    }
    this.attempts.delete(alert.alertId);
    this.rejected++;
    this.byCode[code] = (this.byCode[code] ?? 0) + 1;
    if (alert.severity !== 'CRITICAL') {
      outbox.complete([alert.alertId]);
      log.warn(
        fields,
        'the server rejected an alert the agent cannot fix; dropped it (not CRITICAL)',
      );
      return;
    }
    // On disk before it leaves the outbox: a crash in between sends it again, never loses it.
    const discarded = await this.deps.deadLetters.append(deadLetterEntry(alert, code, reason));
    this.deadLettered++;
    // A refused report is dead-lettered like any alert, but never reported again (no loop),
    // unless the rotation discarded older letters: that loss is always reported.
    if (alert.ruleName !== DEAD_LETTER_RULE_NAME || discarded > 0) {
      await this.deps
        .enqueue(this.report(alert, code, reason, discarded))
        .catch((err: unknown) => log.error({ err }, 'could not queue the dead-letter alert'));
    }
    if (discarded > 0)
      log.error(
        { discarded, deadLetterFile: this.deps.deadLetters.path },
        'the dead-letter file was full; its oldest letters were discarded',
      );
    outbox.complete([alert.alertId]);
    log.error(
      { ...fields, deadLetterFile: this.deps.deadLetters.path },
      'the server rejected a CRITICAL alert the agent cannot fix; kept it in the dead-letter file',
    );
  }

  private report(alert: OutboxAlert, code: string, reason: string, discarded: number): AlertDraft {
    return {
      tripwireType: TRIPWIRE_TYPES.includes(alert.tripwireType) ? alert.tripwireType : 'PROCESS',
      severity: 'CRITICAL',
      ruleName: DEAD_LETTER_RULE_NAME,
      detail: {
        rejected_alert_id: alert.alertId,
        code,
        reason,
        rule_name: alert.ruleName.slice(0, 256),
        tripwire_type: alert.tripwireType,
        timestamp_us: alert.timestampUs,
        detail_bytes: Buffer.byteLength(alert.detailJson),
        dead_letter_file: this.deps.deadLetters.path,
        // Older letters the file's rotation discarded to make room for this one (usually 0).
        discarded_letters: discarded,
      },
    };
  }
}
