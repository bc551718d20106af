import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { redisServerUrl } from './server-urls.js';

export interface TestRedis {
  redisUrl: string;
  /** Every key a test file uses starts with this, so files never see each other's data. */
  keyPrefix: string;
  /** Deletes the file's keys. */
  cleanup(): Promise<void>;
}

export async function provisionRedis(): Promise<TestRedis> {
  const redisUrl = await redisServerUrl();
  const keyPrefix = `test:${randomBytes(6).toString('hex')}:`;
  return {
    redisUrl,
    keyPrefix,
    async cleanup() {
      const redis = new Redis(redisUrl, { lazyConnect: true });
      await redis.connect();
      try {
        let cursor = '0';
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 500);
          cursor = next;
          if (keys.length) await redis.del(...keys);
        } while (cursor !== '0');
      } finally {
        redis.disconnect();
      }
    },
  };
}
