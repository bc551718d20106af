export * from './gen/tripwire/v1/alert.js';
export {
  AlertServiceClient,
  type AlertServiceServer,
  AlertServiceService,
  RegisterAgentRequest,
  RegisterAgentResponse,
  SubmitAlertResponse,
} from './gen/tripwire/v1/alert_service.js';
export { reflectionPackageDefinition } from './reflection.js';
