// Client-side checks for .ci/deploy-check.sh against services started from their
// `pnpm deploy` folders (and through the load balancer). Node built-ins only, except
// @grpc/grpc-js, which is loaded from the ingest deploy folder it is checking, and yaml, from
// the agent's.
//
//   node infra/smoke-probe.mjs wait-ready <url> <seconds> <pid>
//   node infra/smoke-probe.mjs dashboard <base-url>
//   node infra/smoke-probe.mjs api-reference <base-url>
//   node infra/smoke-probe.mjs grpc-health <host:port> <ingest-deploy-dir> [<ca> [<cert> <key>]]
//   node infra/smoke-probe.mjs grpc-refused <host:port> <ingest-deploy-dir> <ca>
//   node infra/smoke-probe.mjs websocket <base-url> <operator-jwt-secret>
//   node infra/smoke-probe.mjs metrics <public-base-url> <metrics-base-url>
//   node infra/smoke-probe.mjs healthcheck <Dockerfile> <target> <KEY=VALUE>...
//   node infra/smoke-probe.mjs dockerfile <Dockerfile> <context-dir>
//   node infra/smoke-probe.mjs compose-tls <compose-config.yml> tls|plaintext <dir-with-yaml>
// Exits 0 and prints one line on success; prints the reason and exits 1 otherwise.
import { spawnSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
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

/** `/` (or another page of the build) is the dashboard's HTML, and every asset it references is served. */
async function dashboard(base, page = '/') {
  const res = await fetch(new URL(page, base));
  const html = await res.text();
  const type = res.headers.get('content-type') ?? '';
  if (res.status !== 200 || !type.startsWith('text/html')) {
    fail(`GET ${page} -> ${res.status} ${type}: ${html.slice(0, 200)}`);
  }
  const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]);
  if (assets.length === 0)
    fail(`GET ${page} returned HTML without /assets/ references: ${html.slice(0, 300)}`);
  for (const asset of assets) {
    const a = await fetch(new URL(asset, base));
    await a.arrayBuffer();
    if (a.status !== 200) fail(`GET ${asset} -> ${a.status}`);
  }
  return `GET ${page} -> 200 ${type}, ${html.length} bytes; ${assets.length} assets -> 200 (${assets.join(', ')})`;
}

/** The API document the deploy folder carries, and the reference page that renders it. */
async function apiReference(base) {
  const res = await fetch(new URL('/api/openapi.yaml', base));
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  if (
    res.status !== 200 ||
    !type.startsWith('application/yaml') ||
    !text.startsWith('openapi: 3.1')
  ) {
    fail(`GET /api/openapi.yaml -> ${res.status} ${type}: ${text.slice(0, 200)}`);
  }
  const page = await dashboard(base, '/docs');
  return `GET /api/openapi.yaml -> 200 ${type}, ${text.length} bytes; ${page}`;
}

function grpcClient(target, ingestDir, tls) {
  const grpc = createRequire(join(ingestDir, 'package.json'))('@grpc/grpc-js');
  const credentials = tls.ca
    ? grpc.credentials.createSsl(
        readFileSync(tls.ca),
        tls.key ? readFileSync(tls.key) : null,
        tls.cert ? readFileSync(tls.cert) : null,
      )
    : grpc.credentials.createInsecure();
  return new grpc.Client(target, credentials);
}

/**
 * grpc.health.v1.Health/Check with the grpc-js the image ships: plaintext HTTP/2, or TLS
 * trusting <ca>, with a client certificate when <cert> and <key> are given.
 */
async function grpcHealth(target, ingestDir, tls = {}) {
  const client = grpcClient(target, ingestDir, tls);
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
  const mode = tls.cert ? 'mTLS' : tls.ca ? 'TLS' : 'plaintext';
  return `gRPC grpc.health.v1.Health/Check on ${target} (${mode}) -> SERVING`;
}

/** The same call over TLS without a client certificate must fail (the server requires one). */
async function grpcRefused(target, ingestDir, ca) {
  const client = grpcClient(target, ingestDir, { ca });
  const err = await new Promise((resolve) => {
    client.makeUnaryRequest(
      '/grpc.health.v1.Health/Check',
      (b) => b,
      (b) => b,
      Buffer.alloc(0),
      { deadline: Date.now() + 5000 },
      (e) => resolve(e),
    );
  });
  client.close();
  if (!err) fail(`gRPC on ${target} answered a client without a certificate`);
  const reason = String(err.details).replace(/\s+/g, ' ').slice(0, 120);
  return `gRPC on ${target} without a client certificate -> refused (code ${err.code}: ${reason})`;
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
  // https: wss through the balancer's TLS (trusting NODE_EXTRA_CA_CERTS, like fetch).
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
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

/** The Dockerfile's instructions: continuation lines joined, comments and blanks dropped. */
function dockerfileInstructions(dockerfile) {
  return readFileSync(dockerfile, 'utf8')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const [keyword, ...rest] = line.split(/\s+/);
      return { keyword: keyword.toUpperCase(), args: rest.join(' ') };
    });
}

/**
 * What can be checked without an engine: the stages a target needs exist, COPY sources are
 * in the build context, the RUNs call build-service.sh exactly as deploy-check does, and each
 * service target runs `node dist/main.js` as a numeric non-root user with a HEALTHCHECK.
 */
function dockerfile(path, context) {
  const stages = new Map();
  let stage;
  for (const { keyword, args } of dockerfileInstructions(path)) {
    if (keyword === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!m) fail(`FROM ${args}: cannot read`);
      stage = { name: m[2] ?? `#${stages.size}`, base: m[1], instructions: [] };
      stages.set(stage.name, stage);
    } else if (stage) {
      stage.instructions.push({ keyword, args });
    } else if (keyword !== 'ARG') {
      fail(`${keyword} before the first FROM`);
    }
  }
  const recipe = [];
  for (const s of stages.values()) {
    for (const { keyword, args } of s.instructions) {
      if (keyword === 'COPY') {
        const from = /--from=(\S+)/.exec(args);
        if (from && !stages.has(from[1])) fail(`${s.name}: COPY --from=${from[1]}: no such stage`);
        if (!from) {
          const parts = args.split(/\s+/).filter((a) => !a.startsWith('--'));
          for (const source of parts.slice(0, -1)) {
            if (!existsSync(join(context, source)))
              fail(`${s.name}: COPY ${source}: not in the context`);
          }
        }
      }
      if (keyword === 'RUN' && args.includes('build-service.sh')) recipe.push(args);
    }
  }
  const expected = [
    'infra/build-service.sh fetch',
    'infra/build-service.sh deploy ingest /out',
    'infra/build-service.sh deploy fanout /out',
    'infra/build-service.sh deploy agent /out',
  ];
  if (JSON.stringify(recipe) !== JSON.stringify(expected)) {
    fail(
      `RUN lines calling build-service.sh are ${JSON.stringify(recipe)}, expected ${JSON.stringify(expected)}`,
    );
  }
  // Everything a final stage inherits, nearest first.
  const lineage = (name) => {
    const chain = [];
    for (let s = stages.get(name); s; s = stages.get(s.base)) chain.push(s);
    return chain;
  };
  const last = (name, keyword) =>
    lineage(name)
      .flatMap((s) => s.instructions.filter((i) => i.keyword === keyword).reverse())
      .at(0)?.args;
  for (const target of ['ingest', 'fanout']) {
    if (!stages.has(target)) fail(`no ${target} target`);
    const cmd = last(target, 'CMD');
    if (cmd !== '["node", "dist/main.js"]') fail(`${target}: CMD is ${cmd}`);
    const user = last(target, 'USER');
    if (!/^[1-9]\d*(:\d+)?$/.test(user ?? ''))
      fail(`${target}: USER ${user} is not a numeric non-root user`);
    if (!last(target, 'HEALTHCHECK')) fail(`${target}: no HEALTHCHECK`);
    const copies = lineage(target)[0].instructions.filter((i) => i.keyword === 'COPY');
    if (copies.length !== 1 || !/^--from=\S+-build \/out \/app$/.test(copies[0].args)) {
      fail(
        `${target}: expected exactly one COPY --from=<build stage> /out /app, got ${JSON.stringify(copies)}`,
      );
    }
  }
  return `${path}: ${stages.size} stages; targets ingest and fanout: COPY /out only, numeric USER, HEALTHCHECK, CMD node dist/main.js; RUN ${expected.map((e) => e.replace('infra/build-service.sh ', '')).join(' | ')}`;
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

/** /metrics answers on the metrics port and not on the public one (404). */
async function metrics(publicBase, metricsBase) {
  const onPublic = await fetch(new URL('/metrics', publicBase));
  if (onPublic.status !== 404)
    fail(`GET ${publicBase}/metrics -> ${onPublic.status}, expected 404`);
  const res = await fetch(new URL('/metrics', metricsBase));
  const text = await res.text();
  if (res.status !== 200 || !text.includes('tripwire_fanout_connections')) {
    fail(`GET ${metricsBase}/metrics -> ${res.status}: ${text.slice(0, 200)}`);
  }
  return `/metrics on ${metricsBase} -> 200; on the public port -> 404`;
}

/**
 * `docker compose config` output: TLS by default (the balancer mounts the certs volume, waits
 * for the `certs` one-shot, publishes 8443 and not 8080, the cookie is Secure), plaintext only
 * with docker-compose.plaintext.yml (LB_PLAINTEXT, 8080, COOKIE_SECURE=false).
 */
function composeTls(file, mode, yamlDir) {
  const { parse } = createRequire(join(yamlDir, 'package.json'))('yaml');
  const config = parse(readFileSync(file, 'utf8'));
  const { lb, fanout, certs } = config.services ?? {};
  if (!lb || !fanout || !certs) fail(`${file}: lb, fanout and certs are required`);
  const envOf = (service) =>
    Array.isArray(service.environment)
      ? Object.fromEntries(service.environment.map((e) => e.split(/=(.*)/s).slice(0, 2)))
      : (service.environment ?? {});
  const published = (lb.ports ?? []).map((p) =>
    Number(typeof p === 'object' ? p.target : String(p).split(':').at(-1)),
  );
  const mounts = (lb.volumes ?? []).map((v) =>
    typeof v === 'object' ? `${v.source}:${v.target}` : v,
  );
  const plaintext = envOf(lb).LB_PLAINTEXT !== undefined;
  const cookieSecure = String(envOf(fanout).COOKIE_SECURE);
  const dependsOnCerts =
    !Array.isArray(lb.depends_on) &&
    lb.depends_on?.certs?.condition === 'service_completed_successfully';
  if (!mounts.some((m) => m.startsWith('tls:') && m.includes('/usr/local/etc/haproxy/tls')))
    fail(`${file}: lb does not mount the tls volume at /usr/local/etc/haproxy/tls`);
  if (!dependsOnCerts) fail(`${file}: lb does not wait for certs to complete`);
  if (mode === 'tls') {
    if (plaintext) fail(`${file}: LB_PLAINTEXT is set by default`);
    if (cookieSecure !== 'true')
      fail(`${file}: fanout COOKIE_SECURE is ${cookieSecure}, expected true`);
    if (!published.includes(8443) || published.includes(8080))
      fail(`${file}: lb publishes ${published.join(', ')}; expected 50051 and 8443, not 8080`);
    return `${file.split('/').at(-1)}: lb TLS (tls volume, after certs), ports ${published.join(', ')}, COOKIE_SECURE=true`;
  }
  if (!plaintext) fail(`${file}: the plaintext override does not set LB_PLAINTEXT`);
  if (cookieSecure !== 'false')
    fail(`${file}: fanout COOKIE_SECURE is ${cookieSecure}, expected false`);
  if (!published.includes(8080)) fail(`${file}: the plaintext override does not publish 8080`);
  return `${file.split('/').at(-1)}: with docker-compose.plaintext.yml: LB_PLAINTEXT, ports ${published.join(', ')}, COOKIE_SECURE=false`;
}

const commands = {
  'compose-tls': () => composeTls(args[0], args[1], args[2]),
  'wait-ready': () => waitReady(args[0], args[1], args[2]),
  dashboard: () => dashboard(args[0]),
  'api-reference': () => apiReference(args[0]),
  'grpc-health': () => grpcHealth(args[0], args[1], { ca: args[2], cert: args[3], key: args[4] }),
  'grpc-refused': () => grpcRefused(args[0], args[1], args[2]),
  websocket: () => websocket(args[0], args[1]),
  metrics: () => metrics(args[0], args[1]),
  healthcheck: () => healthcheck(args[0], args[1], args.slice(2)),
  dockerfile: () => dockerfile(args[0], args[1]),
};
if (!commands[command]) fail(`unknown command ${command}: ${Object.keys(commands).join(', ')}`);
console.log(await commands[command]());
