/**
 * The scale benchmark's memory baseline: a bare uWebSockets.js server with nothing of TripWire
 * in it. Every socket is subscribed to one topic and gets a welcome frame; no Redis, no
 * authentication, no per-socket JavaScript state. What its RSS grows by per connection is
 * uWS's (and the kernel's accounting of the process's) own cost, which the fan-out service's
 * figure is compared with in the same run.
 *
 * Run by scale-fanout.ts as its own process: node bench/uws-bare-server.ts (via tsx).
 * Environment: HOST, PORT. GET /healthz and /readyz answer at once.
 */
import { loadNativeUws } from '../src/native-uws.js';

const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT ?? 8091);
const WELCOME = '{"type":"welcome","bare":true}';

loadNativeUws()
  .App()
  .ws('/ws/alerts', {
    idleTimeout: 120,
    maxBackpressure: 1024 * 1024,
    open: (ws) => {
      ws.subscribe('all');
      ws.send(WELCOME);
    },
  })
  .get('/healthz', (res) => void res.end('{"status":"ok"}'))
  .get('/readyz', (res) => void res.end('{"status":"ok"}'))
  .listen(host, port, (socket) => {
    if (!socket) {
      console.error(`uws bare: cannot listen on ${host}:${port}`);
      process.exit(1);
    }
  });
