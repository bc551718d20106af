import { type ServerWritableStream, status } from '@grpc/grpc-js';
import type { IncidentEventData, IncidentJson } from '@tripwire/bus';
import type { Logger } from '@tripwire/logger';
import { IncidentEvent, IncidentEventType, type StreamIncidentsRequest } from '@tripwire/proto';
import {
  type IncidentState,
  listIncidents,
  type Queryable,
  type Severity,
  type TripwireType,
  toIncidentJson,
} from '@tripwire/storage';
import type { HandlerGuard } from './handler-guard.js';
import {
  BadField,
  checkUuid,
  names,
  severityName,
  stateName,
  toWireIncident,
  typeName,
  WIRE_EVENT,
} from './incident-wire.js';
import type { IngestMetrics } from './ingest-metrics.js';
import { WriteBudget } from './write-budget.js';

/** The most incidents a stream's include_current snapshot sends. */
export const SNAPSHOT_LIMIT = 500;
/** Most host ids one stream may filter on. */
export const MAX_STREAM_HOSTS = 100;

export interface IncidentStreamsOptions {
  guard: HandlerGuard;
  metrics: Pick<IngestMetrics, 'limitsHit'>;
  /** A viewer this many bytes behind (INCIDENT_STREAM_MAX_BUFFERED_BYTES) is cut off. */
  maxBufferedBytes: number;
}

export interface IncidentFilter {
  states: IncidentState[];
  severities: Severity[];
  hostIds: string[];
  tripwireTypes: TripwireType[];
}

/** The request's filter, with each bad field named (BadField). */
export function incidentFilter(req: StreamIncidentsRequest): IncidentFilter {
  if (req.hostIds.length > MAX_STREAM_HOSTS) {
    throw new BadField(`host_ids may name at most ${MAX_STREAM_HOSTS} hosts`);
  }
  return {
    states: names('states', req.states, stateName),
    severities: names('severities', req.severities, severityName),
    hostIds: req.hostIds.map((id, i) => checkUuid(`host_ids[${i}]`, id).toLowerCase()),
    tripwireTypes: names('tripwire_types', req.tripwireTypes, typeName),
  };
}

const admits = <T>(allowed: readonly T[], value: T) =>
  allowed.length === 0 || allowed.includes(value);

export function matches(f: IncidentFilter, i: IncidentJson): boolean {
  return (
    admits(f.states, i.state) &&
    admits(f.severities, i.max_severity) &&
    admits(f.hostIds, i.host_id) &&
    admits(f.tripwireTypes, i.tripwire_type)
  );
}

/** The matching incidents as they stand: at most SNAPSHOT_LIMIT, highest severity first. */
async function snapshot(db: Queryable, f: IncidentFilter): Promise<IncidentJson[]> {
  const { incidents } = await listIncidents(db, {
    states: f.states,
    severities: f.severities,
    hostIds: f.hostIds,
    tripwireTypes: f.tripwireTypes,
    limit: SNAPSHOT_LIMIT,
  });
  return incidents.map(toIncidentJson);
}

/**
 * The open StreamIncidents calls, fed by the incident messages on the bus's
 * control stream. A change reaches a stream when the incident matches its
 * filter after the change, or when that stream was already sent the incident
 * (so a stream of OPEN incidents also sees the one it follows get resolved).
 * Each stream sends an incident's revision at most once and never an older one.
 */
export class IncidentStreams {
  private readonly open = new Set<IncidentWatch>();

  constructor(
    private readonly db: Queryable,
    private readonly log: Logger,
    private readonly options: IncidentStreamsOptions,
  ) {}

  get size(): number {
    return this.open.size;
  }

  /** One incident message from the control stream. */
  deliver(data: IncidentEventData): void {
    // One viewer's failure ends that viewer's stream, never the delivery to the others.
    for (const watch of this.open) {
      this.options.guard.run(
        'StreamIncidents.live',
        () => watch.live(data),
        (error) => watch.fail(error.code, error.message),
      );
    }
  }

  /**
   * Starts streaming to `call`; live events are collected from now, before the snapshot is read.
   * A call cancelled before this (while its token was checked) is not watched: its 'cancelled'
   * was emitted already, so nothing would ever take it out of `open`. Returns whether it is watched.
   */
  async watch(
    call: ServerWritableStream<StreamIncidentsRequest, IncidentEvent>,
    filter: IncidentFilter,
  ): Promise<boolean> {
    if (call.cancelled) return false;
    const watch = new IncidentWatch(call, filter, this.log, this.options);
    this.open.add(watch);
    const forget = () => {
      watch.closed = true;
      this.open.delete(watch);
    };
    call.on('cancelled', forget);
    call.on('close', forget);
    call.on('error', forget);
    try {
      const current = call.request.includeCurrent ? await snapshot(this.db, filter) : [];
      watch.begin(current);
      return true;
    } catch (err) {
      forget();
      throw err;
    }
  }

  /** Server stop: end every stream with OK (clients reconnect elsewhere, with include_current). */
  endAll(): void {
    for (const watch of this.open) watch.end();
    this.open.clear();
  }
}

class IncidentWatch {
  closed = false;
  /** Until the snapshot is sent, live events wait here. */
  private queued: IncidentEventData[] | undefined = [];
  /** The revision last sent per incident: also the incidents this stream follows. */
  private readonly sent = new Map<string, number>();
  private readonly writes: WriteBudget<IncidentEvent>;

  constructor(
    private readonly call: ServerWritableStream<StreamIncidentsRequest, IncidentEvent>,
    private readonly filter: IncidentFilter,
    private readonly log: Logger,
    private readonly options: IncidentStreamsOptions,
  ) {
    this.writes = new WriteBudget(call, options.maxBufferedBytes);
  }

  begin(current: IncidentJson[]): void {
    for (const incident of current)
      this.send(IncidentEventType.INCIDENT_EVENT_TYPE_SNAPSHOT, incident);
    const queued = this.queued ?? [];
    this.queued = undefined;
    for (const data of queued) this.live(data);
  }

  live(data: IncidentEventData): void {
    if (this.closed) return;
    if (this.queued) {
      this.queued.push(data);
      return;
    }
    const { incident } = data;
    const last = this.sent.get(incident.incident_id);
    if (last === undefined && !matches(this.filter, incident)) return;
    if (last !== undefined && incident.revision <= last) return;
    this.send(WIRE_EVENT[data.event], incident);
  }

  end(): void {
    if (this.closed) return;
    this.closed = true;
    this.call.end();
  }

  /** Ends this stream with `code`; it is not written to again. */
  fail(code: status, details: string): void {
    if (this.closed) return;
    this.closed = true;
    this.call.emit('error', { code, details });
  }

  /** Writes one event within the byte budget; a viewer that stopped reading is cut off. */
  private send(type: IncidentEventType, incident: IncidentJson): void {
    if (this.closed) return;
    this.sent.set(incident.incident_id, incident.revision);
    const event: IncidentEvent = { type, incident: toWireIncident(incident) };
    const bytes = IncidentEvent.encode(event).finish().length;
    if (this.writes.write(event, bytes) !== 'over_budget') return;
    const max = this.options.maxBufferedBytes;
    this.log.warn(
      { pendingBytes: this.writes.pending, max },
      'incident viewer too slow; ending its stream',
    );
    this.options.metrics.limitsHit.inc({ limit: 'incident_stream_budget' });
    this.fail(
      status.RESOURCE_EXHAUSTED,
      `this stream fell more than ${max} bytes behind (INCIDENT_STREAM_MAX_BUFFERED_BYTES): ` +
        'reconnect with include_current',
    );
  }
}
