import { Server, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import {
  type AlertServiceServer,
  AlertServiceService,
  type IncidentServiceServer,
  IncidentServiceService,
  type ResponseServiceServer,
  ResponseServiceService,
  reflectionPackageDefinition,
  type TaskServiceServer,
  TaskServiceService,
} from '@tripwire/proto';
import { HealthImplementation, protoPath as healthProtoPath } from 'grpc-health-check';
import type { IngestConfig } from './config.js';
import { serverCredentials } from './grpc-credentials.js';
import { tolerateMalformedRequests } from './malformed-message.js';

const SERVICE_NAME = 'tripwire.v1.AlertService';
const INCIDENT_SERVICE_NAME = 'tripwire.v1.IncidentService';
const TASK_SERVICE_NAME = 'tripwire.v1.TaskService';
const RESPONSE_SERVICE_NAME = 'tripwire.v1.ResponseService';
const SERVICE_NAMES = [
  '',
  SERVICE_NAME,
  INCIDENT_SERVICE_NAME,
  TASK_SERVICE_NAME,
  RESPONSE_SERVICE_NAME,
];

export interface IngestServices {
  alerts: AlertServiceServer & UntypedServiceImplementation;
  incidents: IncidentServiceServer & UntypedServiceImplementation;
  tasks: TaskServiceServer & UntypedServiceImplementation;
  responses: ResponseServiceServer & UntypedServiceImplementation;
}

export interface IngestGrpcServer {
  server: Server;
  /** Binds GRPC_HOST:GRPC_PORT with the configured credentials; resolves with the port bound. */
  bind(): Promise<number>;
  /** What grpc.health.v1.Health answers for the whole server and for each service. */
  setServing(serving: boolean): void;
}

/** The gRPC server: AlertService, IncidentService, TaskService and ResponseService, plus standard health and reflection. */
export function createGrpcServer(config: IngestConfig, services: IngestServices): IngestGrpcServer {
  const server = new Server({
    // Server pings find dead agents within ~40 s; grpc-js servers never answer
    // client pings with too_many_pings, so agent keepalives of 10 s+ are safe.
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.max_receive_message_length': config.GRPC_MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': config.GRPC_MAX_MESSAGE_BYTES,
    'grpc.max_concurrent_streams': config.GRPC_MAX_CONCURRENT_STREAMS,
    // Long-lived agent connections are asked to reconnect now and then, so a scaled-out
    // deployment rebalances; agents resend anything unacknowledged.
    ...(config.GRPC_MAX_CONNECTION_AGE_MS > 0
      ? {
          'grpc.max_connection_age_ms': config.GRPC_MAX_CONNECTION_AGE_MS,
          'grpc.max_connection_age_grace_ms': config.GRPC_MAX_CONNECTION_AGE_GRACE_MS,
        }
      : {}),
  });
  server.addService(tolerateMalformedRequests(AlertServiceService, 'tripwire.v1'), services.alerts);
  server.addService(
    tolerateMalformedRequests(IncidentServiceService, 'tripwire.v1'),
    services.incidents,
  );
  server.addService(tolerateMalformedRequests(TaskServiceService, 'tripwire.v1'), services.tasks);
  server.addService(
    tolerateMalformedRequests(ResponseServiceService, 'tripwire.v1'),
    services.responses,
  );
  const health = new HealthImplementation(
    Object.fromEntries(SERVICE_NAMES.map((name) => [name, 'NOT_SERVING' as const])),
  );
  health.addToServer(server);
  new ReflectionService(reflectionPackageDefinition([healthProtoPath])).addToServer(server);

  return {
    server,
    bind: () =>
      new Promise<number>((resolve, reject) => {
        server.bindAsync(
          `${config.GRPC_HOST}:${config.GRPC_PORT}`,
          serverCredentials(config),
          (err, port) => (err ? reject(err) : resolve(port)),
        );
      }),
    setServing(serving) {
      for (const name of SERVICE_NAMES) health.setStatus(name, serving ? 'SERVING' : 'NOT_SERVING');
    },
  };
}
