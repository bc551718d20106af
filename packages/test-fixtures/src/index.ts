export { OtlpSink, type ReceivedSpan } from './otlp-sink.js';
export {
  type RedisSentinelGroup,
  RedisServerProcess,
  replicationInfo,
  startRedisSentinelGroup,
} from './redis-server-process.js';
export { freePort, type ProcessEnv, ServiceProcess } from './service-process.js';
export { proxyFor, startTcpProxy, type TcpProxy } from './tcp-proxy.js';
export { makeTestCertificates, type TestCertificates } from './test-certificates.js';
export { type ProvisionOptions, provisionDatabase, type TestDatabase } from './test-database.js';
export { provisionRedis, type TestRedis } from './test-redis.js';
export { until } from './until.js';
export {
  type StorageKit,
  type TestEnvironment,
  type TestServers,
  useTestEnvironment,
} from './use-test-environment.js';
export { within } from './within.js';
