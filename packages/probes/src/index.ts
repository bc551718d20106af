export { dependencyMetrics } from './dependency-metrics.js';
export {
  answerWithin,
  type Dependency,
  DependencyWatch,
  DependencyWatches,
  type DependencyWatchesOptions,
  type DependencyWatchOptions,
  describeHang,
  type HangReport,
  hangChecks,
} from './dependency-watch.js';
export {
  PROBE_PATHS,
  type ProbeOptions,
  type ProbeResponse,
  probeResponse,
  type ReadinessReport,
} from './probe-response.js';
export { createProbeServer, type ProbeServer, type ProbeServerOptions } from './probe-server.js';
