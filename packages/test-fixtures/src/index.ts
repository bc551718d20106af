export { provisionDatabase, type TestDatabase } from './test-database.js';
export { provisionRedis, type TestRedis } from './test-redis.js';
