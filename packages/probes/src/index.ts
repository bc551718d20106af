export {
  PROBE_PATHS,
  type ProbeOptions,
  type ProbeResponse,
  probeResponse,
  type ReadinessReport,
} from './probe-response.js';
export { createProbeServer, type ProbeServer, type ProbeServerOptions } from './probe-server.js';
