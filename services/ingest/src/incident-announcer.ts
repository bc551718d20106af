import type { BusPublisher } from '@tripwire/bus';
import type { Logger } from '@tripwire/logger';
import {
  getIncidents,
  type Incident,
  type IncidentTouch,
  incidentMessage,
  type Queryable,
} from '@tripwire/storage';

/**
 * Publishes incident bus messages on both streams: `events` (the fan-out shows
 * them to browsers) and `control` (StreamIncidents reads them, so ingest never
 * follows the alert firehose).
 *
 * After a flush it waits until that flush's alerts are published, reads the
 * touched incidents as they stand and publishes them, off the ack path: a failure is logged and counted, never delays or fails an
 * acknowledgement. Flush announcements run one after another, so a later read
 * (a higher revision) is never published before an earlier one.
 */
export class IncidentAnnouncer {
  private chain: Promise<void> = Promise.resolve();
  /** Touched incidents not announced yet, with whether a flush opened them. */
  private readonly pending = new Map<string, boolean>();

  constructor(
    private readonly db: Queryable,
    private readonly publishers: readonly BusPublisher[],
    private readonly log: Logger,
    private readonly onFailure: () => void,
    /** Resolves once the alerts submitted so far are published (AlertIntake.published). */
    private readonly alertsPublished: () => Promise<unknown> = () => Promise.resolve(),
  ) {}

  /** The incidents a flush opened or joined; called once the flush settled (its alerts publish first). */
  afterFlush(touches: readonly IncidentTouch[] | undefined): void {
    if (!touches?.length) return;
    for (const t of touches) {
      this.pending.set(t.incidentId, this.pending.get(t.incidentId) === true || t.opened);
    }
    // Taken now: the submissions holding this flush's alerts are among those in flight, and so
    // are those of every flush still in flight beside it.
    const alertsFirst = this.alertsPublished();
    this.chain = this.chain.then(async () => {
      await alertsFirst;
      // Concurrent flushes settle in start order, but the one that opened an incident may have
      // started after one that joined it: by now both have reported, so announce them together
      // (once, as `created`) rather than one `updated` before its `created`.
      if (this.pending.size === 0) return;
      const opened = new Map(this.pending);
      this.pending.clear();
      try {
        const incidents = await getIncidents(this.db, [...opened.keys()]);
        for (const incident of incidents) this.announce(incident, opened.get(incident.incidentId)!);
      } catch (err) {
        this.onFailure();
        this.log.warn(
          { err: (err as Error).message, incidents: opened.size },
          'could not read incidents after a flush; their bus messages were not published',
        );
      }
    });
  }

  /** One incident after a change (an operator's, or a flush's). */
  announce(incident: Incident, opened: boolean): void {
    const message = incidentMessage(incident, opened);
    for (const publisher of this.publishers) publisher.publish([message]);
  }

  /** Resolves once every flush announcement queued so far is published (or failed). */
  settled(): Promise<void> {
    return this.chain;
  }
}
