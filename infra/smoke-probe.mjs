// Client-side checks for .ci/deploy-check.sh against services started from their
// `pnpm deploy` folders (and through the load balancer). Node built-ins only, except
// @grpc/grpc-js, which is loaded from the ingest deploy folder it is checking.
//
//   node infra/smoke-probe.mjs wait-ready <url> <seconds> <pid>
//   node infra/smoke-probe.mjs dashboard <base-url>
//   node infra/smoke-probe.mjs grpc-health <host:port> <ingest-deploy-dir>
//   node infra/smoke-probe.mjs websocket <base-url> <operator-jwt-secret>
//   node infra/smoke-probe.mjs healthcheck <Dockerfile> <target> <KEY=VALUE>...
// Exits 0 and prints one line on success; prints the reason and exits 1 otherwise.
import { spawnSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const [command, ...args] = process.argv.slice(2);

function fail(message) {
  console.error(message);
  process.exit(1);
}

async function waitReady(url, seconds, pid) {
  const deadline = Date.now() + Number(seconds) * 1000;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      process.kill(Number(pid), 0);
    } catch {
      fail(`the process (pid ${pid}) exited before ${url} answered 200`);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      const body = await res.text();
      if (res.status === 200) return `${url} -> 200 ${body}`;
      last = `${res.status} ${body}`;
    } catch (err) {
      last = err.cause?.code ?? err.message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  fail(`${url} did not answer 200 within ${seconds} s (last: ${last})`);
}

/** `/` is the dashboard's HTML, and every asset it references is served. */
async function dashboard(base) {
  const res = await fetch(new URL('/', base));
  const html = await res.text();
  const type = res.headers.get('content-type') ?? '';
  if (res.status !== 200 || !type.startsWith('text/html')) {
    fail(`GET / -> ${res.status} ${type}: ${html.slice(0, 200)}`);
  }
  const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]);
  if (assets.length === 0)
    fail(`GET / returned HTML without /assets/ references: ${html.slice(0, 300)}`);
  for (const asset of assets) {
    const a = await fetch(new URL(asset, base));
    await a.arrayBuffer();
    if (a.status !== 200) fail(`GET ${asset} -> ${a.status}`);
  }
  return `GET / -> 200 ${type}, ${html.length} bytes; ${assets.length} assets -> 200 (${assets.join(', ')})`;
}

/** grpc.health.v1.Health/Check over plaintext HTTP/2, with the grpc-js the image ships. */
async function grpcHealth(target, ingestDir) {
  const grpc = createRequire(join(ingestDir, 'package.json'))('@grpc/grpc-js');
  const client = new grpc.Client(target, grpc.credentials.createInsecure());
  const identity = (b) => b;
  const response = await new Promise((resolve, reject) => {
    // An empty HealthCheckRequest (service "") encodes to zero bytes.
    client.makeUnaryRequest(
      '/grpc.health.v1.Health/Check',
      identity,
      identity,
      Buffer.alloc(0),
      { deadline: Date.now() + 5000 },
      (err, value) => (err ? reject(err) : resolve(value)),
    );
  }).catch((err) =>
    fail(`gRPC Health/Check on ${target}: ${err.code} ${err.details ?? err.message}`),
  );
  client.close();
  // HealthCheckResponse{status: SERVING (1)} is field 1, varint 1.
  if (!Buffer.from([0x08, 0x01]).equals(response)) {
    fail(`gRPC Health/Check on ${target}: not SERVING (${response.toString('hex')})`);
  }
  return `gRPC grpc.health.v1.Health/Check on ${target} -> SERVING`;
}

function operatorToken(secret) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const unsigned = `${b64({ alg: 'HS256' })}.${b64({ role: 'viewer', sub: 'deploy-check', iss: 'tripwire', iat: now, exp: now + 300 })}`;
  return `${unsigned}.${createHmac('sha256', secret).update(unsigned).digest('base64url')}`;
}

/** Upgrades /ws/alerts with a freshly signed viewer token and reads the `welcome` frame. */
async function websocket(base, secret) {
  const url = new URL(`/ws/alerts?access_token=${operatorToken(secret)}`, base);
  const frame = await new Promise((resolve, reject) => {
    const req = request(url, {
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'),
        origin: `${url.protocol}//${url.host}`,
      },
      timeout: 5000,
    });
    req.on('response', (res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.on('upgrade', (res, socket, head) => {
      let data = head;
      const timer = setTimeout(() => socket.destroy(new Error('no frame within 5 s')), 5000);
      const tryParse = () => {
        // One unmasked text frame from the server: FIN+opcode, length (7 bits, or 126 + 16 bits).
        if (data.length < 2) return;
        let length = data[1] & 0x7f;
        let offset = 2;
        if (length === 126) {
          if (data.length < 4) return;
          length = data.readUInt16BE(2);
          offset = 4;
        } else if (length === 127) {
          if (data.length < 10) return;
          length = Number(data.readBigUInt64BE(2));
          offset = 10;
        }
        if (data.length < offset + length) return;
        clearTimeout(timer);
        socket.destroy();
        resolve({
          status: res.statusCode,
          text: data.subarray(offset, offset + length).toString(),
        });
      };
      socket.on('data', (chunk) => {
        data = Buffer.concat([data, chunk]);
        tryParse();
      });
      socket.on('error', reject);
      tryParse();
    });
    req.end();
  }).catch((err) => fail(`WebSocket ${url.origin}/ws/alerts: ${err.message}`));
  let message;
  try {
    message = JSON.parse(frame.text);
  } catch {
    fail(`WebSocket first frame is not JSON: ${frame.text.slice(0, 200)}`);
  }
  if (message.type !== 'welcome')
    fail(`WebSocket first frame is not a welcome: ${frame.text.slice(0, 200)}`);
  return `WebSocket ${url.origin}/ws/alerts -> 101, first frame "welcome"`;
}

/** Runs the HEALTHCHECK that `FROM runtime AS <target>` declares, exactly as Docker would (exec form). */
function healthcheck(dockerfile, target, envPairs) {
  const lines = readFileSync(dockerfile, 'utf8').replace(/\\\n/g, ' ').split('\n');
  let inTarget = false;
  let cmd;
  for (const line of lines) {
    const from = /^FROM\s+\S+\s+AS\s+(\S+)/i.exec(line);
    if (from) inTarget = from[1] === target;
    const hc = /^HEALTHCHECK\b.*?\bCMD\s+(\[.*\])\s*$/.exec(line);
    if (inTarget && hc) cmd = JSON.parse(hc[1]);
  }
  if (!cmd) fail(`no HEALTHCHECK CMD [...] in the ${target} stage of ${dockerfile}`);
  const env = {
    ...process.env,
    ...Object.fromEntries(envPairs.map((p) => p.split(/=(.*)/s).slice(0, 2))),
  };
  const run = spawnSync(cmd[0], cmd.slice(1), { env, encoding: 'utf8', timeout: 5000 });
  if (run.status !== 0) fail(`HEALTHCHECK of ${target} exited ${run.status}: ${run.stderr}`);
  return `HEALTHCHECK of ${target} (${cmd.join(' ').slice(0, 60)}...) -> exit 0`;
}

const commands = {
  'wait-ready': () => waitReady(args[0], args[1], args[2]),
  dashboard: () => dashboard(args[0]),
  'grpc-health': () => grpcHealth(args[0], args[1]),
  websocket: () => websocket(args[0], args[1]),
  healthcheck: () => healthcheck(args[0], args[1], args.slice(2)),
};
if (!commands[command]) fail(`unknown command ${command}: ${Object.keys(commands).join(', ')}`);
console.log(await commands[command]());
