export { proxyFor, startTcpProxy, type TcpProxy } from './tcp-proxy.js';
export { provisionDatabase, type TestDatabase } from './test-database.js';
export { provisionRedis, type TestRedis } from './test-redis.js';
export { until } from './until.js';
