/**
 * The fan-out benchmark's baseline: what a quick Node implementation of
 * /ws/alerts looks like with the `ws` package. Same Redis stream, same
 * BusSubscriber, same frame shape as the fan-out service, but for every alert
 * it builds each client's frame with JSON.stringify and sends it with
 * ws.send(), one client at a time. Tokens are only checked for presence.
 *
 * Run by fanout-bench.ts as its own process:
 *   node --conditions=@tripwire/source --import tsx bench/ws-baseline-server.ts
 * Environment: REDIS_URL, BUS_KEY_PREFIX, HOST, PORT.
 * GET /healthz answers at once; GET /readyz once the first XREAD has answered.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { BusSubscriber, createRedisClient } from '@tripwire/bus';
import { WebSocket, WebSocketServer } from 'ws';

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const keyPrefix = process.env.BUS_KEY_PREFIX ?? '';
const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT ?? 8090);

const clients = new Set<WebSocket>();
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });

const subscriber = new BusSubscriber({
  redis: createRedisClient(redisUrl),
  keyPrefix,
  from: 'latest',
  onEntries: (entries) => {
    for (const { position, message } of entries) {
      if (message.type !== 'alert' && message.type !== 'host') continue;
      for (const ws of clients) {
        if (ws.readyState === WebSocket.OPEN) {
          ws.send(JSON.stringify({ type: message.type, position, data: message.data }));
        }
      }
    }
  },
  onError: (err) => console.error(`ws baseline: Redis subscription failed: ${err.message}`),
});

const server = createServer((req, res) => {
  const ready = req.url === '/healthz' || (req.url === '/readyz' && subscriber.lastReadAt > 0);
  res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ status: ready ? 'ok' : 'not ready' }));
});

server.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname !== '/ws/alerts' || !url.searchParams.get('access_token')) {
    socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    clients.add(ws);
    ws.on('close', () => clients.delete(ws));
    ws.on('error', () => clients.delete(ws));
    ws.send(
      JSON.stringify({
        type: 'welcome',
        session_id: randomUUID(),
        server_time: new Date().toISOString(),
        position: subscriber.position || null,
        subscriptions: [{ subscription_id: 'default', filters: {} }],
      }),
    );
  });
});

subscriber.start();
server.listen(port, host);

const stop = async () => {
  for (const ws of clients) ws.terminate();
  server.close();
  await subscriber.stop();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
