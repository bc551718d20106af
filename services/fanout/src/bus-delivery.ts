import type { TemplatedApp } from 'uWebSockets.js';
import {
  type Bus,
  type BusEntry,
  type BusMessage,
  type BusSubscriber,
  parsePosition,
} from '@tripwire/bus';
import type { Logger } from '@tripwire/logger';
import { AlertDedupeWindow } from './alert-dedupe-window.js';
import type { FanoutConfig } from './config.js';
import { deliverySpans } from './delivery-spans.js';
import type { FanoutMetrics } from './fanout-metrics.js';
import { LatestVersions } from './latest-versions.js';
import { RECENT_HOST_VERSIONS, RECENT_INCIDENT_REVISIONS, RECENT_TASK_VERSIONS } from './limits.js';
import { RecentIds } from './recent-ids.js';
import { frameFor, type ReplayEntry, type ReplayWindow } from './resume-window.js';
import { BROADCAST_TOPIC } from './socket-state.js';
import type { FilterSubject } from './subscription-filter.js';
import type { TopicRouter } from './topic-router.js';

export interface BusDelivery {
  /** Each new entry: into the replay window, then to every topic whose filters let it through. */
  deliver(entries: BusEntry[]): void;
  /** Entries were lost: the replay window is cleared and every browser told to reload. */
  broadcastGap(message: string): void;
}

/** Bus messages → sockets: repeats and stale host changes dropped, each frame encoded once. */
export function createBusDelivery(parts: {
  app: TemplatedApp;
  router: TopicRouter;
  replayWindow: ReplayWindow;
  config: Pick<FanoutConfig, 'ALERT_DEDUPE_WINDOW_S' | 'ALERT_DEDUPE_MAX_IDS'>;
  metrics: FanoutMetrics;
}): BusDelivery {
  const { app, router, replayWindow, config, metrics } = parts;
  const alertIds = new AlertDedupeWindow(
    config.ALERT_DEDUPE_WINDOW_S * 1000,
    config.ALERT_DEDUPE_MAX_IDS,
    (n) => metrics.dedupeForgottenEarly.inc(n),
  );
  const isNew = createNewnessCheck(alertIds, metrics);
  /** Sends one entry; returns how many frames went out (sockets reached). */
  const publish = (entry: BusEntry, offset: bigint, appendedAtMs: number, now: number) => {
    const subject = filterSubject(entry.message);
    const record: ReplayEntry = {
      epoch: entry.epoch,
      offset,
      position: entry.position,
      appendedAtMs,
      frame: frameFor(entry),
      ...(subject ? { subject } : {}),
    };
    replayWindow.add(record);
    const topics = subject ? router.matching(subject) : [BROADCAST_TOPIC];
    let frames = 0;
    for (const topic of topics) {
      app.publish(topic, record.frame);
      const reached = app.numSubscribers(topic);
      metrics.framesSent.inc(reached);
      frames += reached;
    }
    metrics.deliveryLatency.observe(Math.max(0, now - appendedAtMs) / 1000);
    return frames;
  };
  const broadcastGap = (message: string) => {
    replayWindow.clear();
    metrics.gaps.inc();
    app.publish(BROADCAST_TOPIC, JSON.stringify({ type: 'error', code: 'stream_gap', message }));
  };
  return {
    deliver(entries) {
      const now = Date.now();
      const spans = deliverySpans();
      for (const entry of entries) {
        const { message } = entry;
        metrics.busMessages.inc({ type: message.type });
        if (message.type === 'rules' || message.type === 'suppressions') continue;
        const { ms, offset } = parsePosition(entry.position);
        const appendedAtMs = Number(ms);
        if (!isNew(message, appendedAtMs)) continue;
        if (message.type === 'gap') {
          // The ingest side dropped messages while Redis was down: the window cannot be trusted.
          broadcastGap(
            `${message.data.dropped} alerts were not published live; reload from /api/alerts`,
          );
        } else if (spans) {
          spans.begin(entry.traceparent);
          spans.delivered(publish(entry, offset, appendedAtMs, now));
        } else {
          publish(entry, offset, appendedAtMs, now);
        }
      }
      spans?.end();
      metrics.dedupeIds.set(alertIds.size);
      metrics.dedupeCovered.set(alertIds.coveredMs / 1000);
    },
    broadcastGap,
  };
}

/** Follows the events stream from the start of the replay window, delivering what it reads. */
export function subscribeToEvents(parts: {
  bus: Bus;
  config: FanoutConfig;
  log: Logger;
  delivery: BusDelivery;
  /** A read failed (a hung Redis: the reply deadline passed); see dependency-health.ts. */
  onReadFailed: (err: Error) => void;
}): BusSubscriber {
  const { bus, config, log, delivery } = parts;
  return bus.subscriber({
    keyPrefix: config.BUS_KEY_PREFIX,
    // Warm the replay window from Redis history so clients can resume across a restart of this node.
    from: `${Date.now() - config.HISTORY_WINDOW_S * 1000}-0`,
    warmStart: true,
    blockMs: config.BUS_READ_BLOCK_MS,
    onEntries: delivery.deliver,
    onGap: (gap) => {
      if (gap.reason === 'reset') {
        log.warn(gap, 'the Redis stream was reset (a new epoch): clients must reload');
        delivery.broadcastGap(
          'the alert stream was reset (Redis lost its data or failed over); reload from /api/alerts',
        );
      } else {
        log.warn(gap, 'Redis history no longer reaches back to this node: clients must reload');
        delivery.broadcastGap('alerts may have been missed; reload from /api/alerts');
      }
    },
    onError: (err) => {
      parts.onReadFailed(err);
      log.warn({ err: err.message }, 'Redis subscription failed; retrying');
    },
    onMalformed: (position, err) =>
      log.error({ position, err: err.message }, 'unreadable bus message skipped'),
  });
}

/**
 * Whether a message is worth sending; counts and drops the others.
 * An alert can appear twice in the stream: a publisher whose reply was lost retries its chunk,
 * and an ingest instance that stopped between an alert's append and its mark in the ledger
 * leaves it to be published again on the agent's resend. Browsers must still see it once: the
 * alert ids of the last ALERT_DEDUPE_WINDOW_S of stream time are remembered (docs/fanout.md#exactly-once).
 * An incident's (id, revision) names one change of it:
 * the same change published twice (a retry, or by two publishers) is dropped the same way.
 * A task change and an output chunk likewise (repeatKey, docs/fanout.md). Two ingest instances changing one host
 * at once can publish out of order: of a host's changes, only those at least as new
 * (status_version) as the last one sent go out.
 */
function createNewnessCheck(
  recentAlertIds: AlertDedupeWindow,
  metrics: FanoutMetrics,
): (message: BusMessage, atMs: number) => boolean {
  // Alerts by stream time (alert-dedupe-window.ts); incident and task changes by count.
  const recent = {
    incident: new RecentIds(RECENT_INCIDENT_REVISIONS),
    task: new RecentIds(RECENT_TASK_VERSIONS),
  };
  const hostVersions = new LatestVersions(RECENT_HOST_VERSIONS);
  return (message, atMs) => {
    const key = repeatKey(message);
    if (key !== null) {
      const fresh =
        key.space === 'alert' ? recentAlertIds.add(key.id, atMs) : recent[key.space].add(key.id);
      if (!fresh) metrics.duplicatesSkipped.inc();
      return fresh;
    }
    // A message without a version (from an ingest before versions) is always current.
    if (message.type !== 'host' || typeof message.data.version !== 'number') return true;
    const current = hostVersions.offer(message.data.host_id, message.data.version);
    if (!current) metrics.staleHostMessages.inc();
    return current;
  };
}

/**
 * What names one change, for dropping repeats: an alert's id; an incident's (id, revision);
 * a task's (id, version), bumped by every change of it; an output chunk's (task, sequence, stream).
 */
function repeatKey(
  message: BusMessage,
): { space: 'alert' | 'incident' | 'task'; id: string } | null {
  if (message.type === 'alert') return { space: 'alert', id: message.data.alert_id };
  if (message.type === 'incident') {
    const { incident_id, revision } = message.data.incident;
    return { space: 'incident', id: `${incident_id}/${revision}` };
  }
  if (message.type === 'task') {
    const { task, output } = message.data;
    // One agent response can store a chunk per stream, each announced with the task as it
    // stands after the response (one version): a chunk is named by its (sequence, stream).
    const id = output
      ? `${task.task_id}/${output.sequence}/${output.stream}`
      : `${task.task_id}/v${task.version}`;
    return { space: 'task', id };
  }
  return null;
}

/**
 * What subscription filters look at: an alert's own host, type and severity; an
 * incident's host, type and highest severity so far; a task's host. Null: every socket gets it.
 */
function filterSubject(message: BusMessage): FilterSubject | null {
  if (message.type === 'alert') {
    const { host_id, tripwire_type, severity, suppression_id } = message.data;
    return { kind: 'alert', host_id, tripwire_type, severity, suppressed: Boolean(suppression_id) };
  }
  if (message.type === 'incident') {
    const { host_id, tripwire_type, max_severity } = message.data.incident;
    return { kind: 'incident', host_id, tripwire_type, severity: max_severity };
  }
  if (message.type === 'task') return { kind: 'task', host_id: message.data.task.host_id };
  return null;
}
