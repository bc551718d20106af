// An IncidentService client for the tests: promises for unary calls, a recorder for streams.
import {
  type ClientReadableStream,
  credentials,
  Metadata,
  type ServiceError,
  type StatusObject,
} from '@grpc/grpc-js';
import { createOperatorAuth } from '@tripwire/operator-auth';
import {
  CreateIncidentRequest,
  type CreateIncidentResponse,
  GetIncidentRequest,
  type GetIncidentResponse,
  type IncidentEvent,
  IncidentEventType,
  IncidentServiceClient,
  ListIncidentAlertsRequest,
  type ListIncidentAlertsResponse,
  ListIncidentsRequest,
  type ListIncidentsResponse,
  ResolveIncidentRequest,
  type ResolveIncidentResponse,
  type StreamIncidentsRequest,
  UpdateIncidentRequest,
  type UpdateIncidentResponse,
} from '@tripwire/proto';
import { bearer, until } from './ingest-harness.js';

export const OPERATOR_JWT_SECRET = 'test-operator-secret-0123456789-abcdef';
export const operatorAuth = createOperatorAuth(OPERATOR_JWT_SECRET);

type Unary<Req, Res> = (
  req: Req,
  metadata: ReturnType<typeof bearer>,
  callback: (err: ServiceError | null, res: Res) => void,
) => unknown;

/** The service's unary methods as promises, every call with `token` (none when null). */
export function incidentCalls(address: string, token: string | null) {
  const client = new IncidentServiceClient(address, credentials.createInsecure());
  const metadata = () => (token === null ? new Metadata() : bearer(token));
  // Unset fields take their proto3 defaults, as a decoded empty message has them.
  const call =
    <Req, Res>(method: Unary<Req, Res>, type: { decode(bytes: Uint8Array): Req }) =>
    (req: Partial<Req> = {}) =>
      new Promise<Res>((resolve, reject) =>
        method.call(client, { ...type.decode(new Uint8Array()), ...req }, metadata(), (err, res) =>
          err ? reject(err) : resolve(res),
        ),
      );
  return {
    client,
    create: call<CreateIncidentRequest, CreateIncidentResponse>(
      client.createIncident,
      CreateIncidentRequest,
    ),
    get: call<GetIncidentRequest, GetIncidentResponse>(client.getIncident, GetIncidentRequest),
    list: call<ListIncidentsRequest, ListIncidentsResponse>(
      client.listIncidents,
      ListIncidentsRequest,
    ),
    listAlerts: call<ListIncidentAlertsRequest, ListIncidentAlertsResponse>(
      client.listIncidentAlerts,
      ListIncidentAlertsRequest,
    ),
    update: call<UpdateIncidentRequest, UpdateIncidentResponse>(
      client.updateIncident,
      UpdateIncidentRequest,
    ),
    resolve: call<ResolveIncidentRequest, ResolveIncidentResponse>(
      client.resolveIncident,
      ResolveIncidentRequest,
    ),
    close: () => client.close(),
  };
}

/** The status a failed call ended with: code and message. */
export async function failure(
  call: Promise<unknown> | (() => Promise<unknown>),
): Promise<{ code: number; details: string }> {
  try {
    await (typeof call === 'function' ? call() : call);
  } catch (err) {
    const { code, details } = err as ServiceError;
    return { code, details };
  }
  throw new Error('the call succeeded, a failure was expected');
}

/** A StreamIncidents call recording every event it receives and how it ended. */
export class IncidentWatcher {
  readonly events: IncidentEvent[] = [];
  readonly status: Promise<StatusObject>;
  readonly call: ClientReadableStream<IncidentEvent>;

  constructor(
    calls: ReturnType<typeof incidentCalls>,
    token: string,
    req: Partial<StreamIncidentsRequest>,
  ) {
    this.call = calls.client.streamIncidents(
      { states: [], severities: [], hostIds: [], tripwireTypes: [], includeCurrent: false, ...req },
      bearer(token),
    );
    this.call.on('data', (e: IncidentEvent) => this.events.push(e));
    this.status = new Promise((resolve) => {
      this.call.on('status', resolve);
      this.call.on('error', () => {});
    });
  }

  /** Events about one incident, as [type name, revision]. */
  of(incidentId: string) {
    return this.events
      .filter((e) => e.incident?.incidentId === incidentId)
      .map((e) => [IncidentEventType[e.type], e.incident!.revision] as const);
  }

  waitFor(predicate: (events: IncidentEvent[]) => boolean, what: string, timeoutMs = 10_000) {
    return until(() => predicate(this.events), timeoutMs, what);
  }

  cancel(): void {
    this.call.cancel();
  }
}
