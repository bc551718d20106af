#!/usr/bin/env bash
# Proves what the service images would contain, without a Docker engine.
#
# 1. Copies the build context (the working tree's tracked and untracked, not ignored,
#    files, as `docker build .` would see them less .dockerignore) into a scratch folder.
# 2. Checks infra/Dockerfile's structure (stages, COPY sources, CMD, USER, HEALTHCHECK, and
#    that its RUNs call infra/build-service.sh as below), then runs the images' own recipe
#    there (infra/build-service.sh: pnpm fetch, pruned offline install, turbo build,
#    pnpm deploy --prod) for ingest and fanout.
# 3. Checks each deploy folder: entry point, no dev dependencies, the migrations, the
#    dashboard build, one uWebSockets.js binary.
# 4. Migrates a scratch database with the image's migrate command, starts each service
#    from its deploy folder (`node dist/main.js`, as the image's CMD) against the local
#    PostgreSQL and Redis, waits for /readyz, runs the Dockerfile's HEALTHCHECKs, calls gRPC
#    health, loads the dashboard and opens a WebSocket, then the same through the Compose
#    load balancer's HAProxy config (TLS by default, with certificates from
#    infra/tls/make-dev-ca.sh, and its plaintext opt-in), then stops them with SIGTERM. A
#    second ingest runs with mTLS on those certificates.
# 5. The agent's package (as root with dpkg, on a machine without tripwire-agent installed):
#    `pnpm package:agent`, `dpkg -i` the .deb, `tripwire-agent --version`, a demo streamed to the
#    ingest above (the alerts counted in PostgreSQL), `dpkg -r` and `dpkg -P` (the files gone).
# 6. Renders every kustomize tree (the monitoring component's ServiceMonitors and PrometheusRule
#    too, which must hold infra/prometheus/alerts.yaml) and validates the Compose files (TLS by
#    default, the plaintext override).
# Steps whose tool is missing (haproxy, openssl, kubectl, docker compose / docker-compose)
# are skipped with a SKIP line that says so.
#
# Environment: DATABASE_URL (any database on the server to use; default
# postgres://postgres@127.0.0.1:5432/postgres), REDIS_URL (default redis://127.0.0.1:6379),
# DEPLOY_CHECK_KEEP=1 keeps the scratch folder. Exits non-zero on the first failure.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
started=$(date +%s)
admin_url="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
redis_url="${REDIS_URL:-redis://127.0.0.1:6379}"
run_id="$(date +%s)_$$"
db_name="tripwire_deploy_check_$run_id"
bus_prefix="deploy-check:$run_id:"
work="$(mktemp -d "${TMPDIR:-/tmp}/tripwire-deploy-check.XXXXXX")"
src="$work/src"
pids=()
db_created=false
agent_installed=false

section() { printf '\n== %s  (%ss)\n' "$*" "$(($(date +%s) - started))"; }
ok() { printf '   ok    %s\n' "$*"; }
skip() { printf '   SKIP  %s\n' "$*"; }
fail() {
  printf '   FAIL  %s\n' "$*" >&2
  exit 1
}
# Runs a command with its output in a log; shows the log's tail if it fails.
logged() {
  local log="$1"
  shift
  if ! "$@" >"$log" 2>&1; then
    tail -n 40 "$log" | sed 's/^/   | /' >&2
    fail "$* (log: $log)"
  fi
}
probe() { node "$src/infra/smoke-probe.mjs" "$@"; }
# SIGTERM, then up to $3 seconds for a clean exit (0); a service that hangs or fails is a failure.
stop_service() {
  local name="$1" pid="$2" limit="$3" t code=0
  t=$(date +%s)
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 $((limit * 5))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    tail -n 5 "$work/$name.log" | sed 's/^/   | /' >&2
    fail "$name still running $limit s after SIGTERM"
  fi
  wait "$pid" || code=$?
  if [ "$code" != 0 ]; then
    tail -n 20 "$work/$name.log" | sed 's/^/   | /' >&2
    fail "$name exited $code after SIGTERM"
  fi
  ok "$name: SIGTERM -> exit 0 ($(($(date +%s) - t))s)"
}

cleanup() {
  local status=$?
  # Whatever still runs (after a failure): SIGTERM, 5 s, then SIGKILL.
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 25); do
    local alive=false
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=true; done
    $alive || break
    sleep 0.2
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -d "$work/ingest/node_modules" ]; then
    # Removes this run's Redis keys (unique prefix) with the ioredis the ingest image ships.
    (cd "$work/ingest" && REDIS_URL="$redis_url" PREFIX="$bus_prefix" node --input-type=module -e "
      import { createRequire } from 'node:module';
      const Redis = createRequire(process.cwd() + '/package.json')('ioredis');
      const redis = new Redis(process.env.REDIS_URL, {
        lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 1, retryStrategy: () => null,
      });
      await redis.connect();
      const keys = await redis.keys(process.env.PREFIX + '*');
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    " >/dev/null 2>&1) || echo "   (could not remove Redis keys $bus_prefix*)"
  fi
  if $agent_installed; then
    dpkg -P tripwire-agent >/dev/null 2>&1 || echo "   (could not purge the tripwire-agent package)"
  fi
  if $db_created; then
    psql "$admin_url" -qAt -c "DROP DATABASE IF EXISTS \"$db_name\" WITH (FORCE)" >/dev/null 2>&1 ||
      echo "   (could not drop database $db_name)"
  fi
  if [ "${DEPLOY_CHECK_KEEP:-}" = 1 ]; then
    echo "   scratch folder kept: $work"
  else
    rm -rf "$work"
  fi
  if [ $status -eq 0 ]; then
    printf '\ndeploy-check: all checks passed in %ss\n' "$(($(date +%s) - started))"
  else
    printf '\ndeploy-check: FAILED after %ss\n' "$(($(date +%s) - started))" >&2
  fi
}
trap cleanup EXIT

for tool in node pnpm psql; do
  command -v "$tool" >/dev/null || fail "$tool is required"
done

section "build context -> $src"
mkdir -p "$src"
if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # Tracked and untracked files that git does not ignore (.dockerignore covers .gitignore).
  (cd "$repo" && git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
    tar --null -T - -cf -) | tar -xf - -C "$src"
else
  tar -C "$repo" --exclude=node_modules --exclude=dist --exclude=.turbo --exclude=.git \
    --exclude=test-output --exclude=coverage --exclude=.env -cf - . | tar -xf - -C "$src"
fi
ok "$(find "$src" -type f | wc -l) files"

section "infra/Dockerfile (structure; no engine to build it)"
(cd "$src" && probe dockerfile infra/Dockerfile .) | sed 's/^/   ok    /'

section "images' recipe: infra/build-service.sh (as infra/Dockerfile runs it)"
cd "$src"
t=$(date +%s)
logged "$work/fetch.log" infra/build-service.sh fetch
ok "fetch ($(($(date +%s) - t))s)"
for service in ingest fanout agent; do
  t=$(date +%s)
  logged "$work/build-$service.log" infra/build-service.sh deploy "$service" "$work/$service"
  ok "$service -> $work/$service: $(du -sh "$work/$service" | cut -f1) ($(($(date +%s) - t))s)"
done

section "deploy folders' contents"
# Packages that only build or test the code; none may reach an image.
dev_only='^(vitest|@vitest\+.*|typescript|@biomejs\+.*|playwright|playwright-core|testcontainers|@testcontainers\+.*|tsx|vite|turbo|turbo-.*|@bufbuild\+buf.*|ts-proto|esbuild|@esbuild\+.*|@tripwire\+test-fixtures)@'
for service in ingest fanout; do
  out="$work/$service"
  [ -f "$out/dist/main.js" ] || fail "$service: dist/main.js missing (the image's CMD)"
  node -e "const p=require('$out/package.json'); if (p.name!=='@tripwire/$service') process.exit(1)" ||
    fail "$service: package.json is not @tripwire/$service"
  found=$(ls "$out/node_modules/.pnpm" | grep -E "$dev_only" || true)
  [ -z "$found" ] || fail "$service: dev dependencies in the deploy folder: $(echo "$found" | tr '\n' ' ')"
  # Type packages only: @types/pg (and its @types/node) come in as node-pg-migrate's optional
  # peer, which the workspace satisfies; never loaded at run time. Any other is a leak.
  found=$(ls "$out/node_modules/.pnpm" | grep -E '^@types\+' | grep -Ev '^@types\+(pg|node)@' || true)
  [ -z "$found" ] || fail "$service: type packages in the deploy folder: $(echo "$found" | tr '\n' ' ')"
  [ -z "$(find -L "$out/node_modules/@tripwire" -maxdepth 2 -name src -type d)" ] ||
    fail "$service: workspace package sources (src/) in the deploy folder"
  tests=$(find "$out/dist" -name '*.test.js' | head -n 3)
  [ -z "$tests" ] || fail "$service: test files in dist: $tests"
  # A service's fixtures for other packages' tests (its `testing` export) stay out of dist.
  [ ! -e "$out/dist/testing" ] || fail "$service: test fixtures (dist/testing) in the deploy folder"
  [ -z "$(find "$out" -name '.env*' -not -path '*/node_modules/.pnpm/*' | head -n 1)" ] ||
    fail "$service: .env files in the deploy folder"
  ok "$service: dist/main.js, $(ls "$out/node_modules/.pnpm" | grep -vc '^node_modules$\|^lock.yaml$') packages, none of vitest/typescript/biome/playwright/testcontainers/tsx/vite/turbo/buf/ts-proto/esbuild/test-fixtures"
done
# The agent's folder (infra/Dockerfile's agent-bundle, /opt/tripwire-agent under systemd): its
# CLI runs, and re2 (compiled from source by node-gyp) loads and runs a PROCESS pattern.
agent_out="$work/agent"
[ -f "$agent_out/dist/cli.js" ] || fail "agent: dist/cli.js missing (what the agent-bundle image exports)"
found=$(ls "$agent_out/node_modules/.pnpm" | grep -E "$dev_only" || true)
[ -z "$found" ] || fail "agent: dev dependencies in the deploy folder: $(echo "$found" | tr '\n' ' ')"
node "$agent_out/dist/cli.js" --help >/dev/null || fail "agent: dist/cli.js --help failed"
(cd "$agent_out" && node --input-type=module -e "
  const { default: RE2 } = await import('re2');
  if (!new RE2('(^|/)nc( .*)? -e').test('/usr/bin/nc -e /bin/sh')) process.exit(1);
") || fail "agent: re2 does not load or match in the deploy folder"
ok "agent: dist/cli.js --help, re2 loads and matches ($(du -sh "$agent_out" | cut -f1))"
migrate_cli="node_modules/@tripwire/storage/dist/migrate-cli.js"
[ -f "$work/ingest/$migrate_cli" ] || fail "ingest: $migrate_cli missing"
migrations=$(ls "$work/ingest/node_modules/@tripwire/storage/migrations/"*.sql | wc -l)
[ "$migrations" -gt 0 ] || fail "ingest: no SQL migrations next to the storage package"
ok "ingest: $migrate_cli and $migrations SQL migrations"
[ -f "$work/fanout/node_modules/@tripwire/dashboard/dist/index.html" ] ||
  fail "fanout: node_modules/@tripwire/dashboard/dist/index.html missing (the dashboard build)"
ok "fanout: node_modules/@tripwire/dashboard/dist ($(find -L "$work/fanout/node_modules/@tripwire/dashboard/dist" -type f | wc -l) files)"
uws=$(find "$work/fanout/node_modules/.pnpm" -path '*uws-js-unofficial*/binaries/*' -name 'uws_*.node')
[ "$(echo "$uws" | grep -c .)" = 1 ] || fail "fanout: expected one uWebSockets.js binary, found: $uws"
ok "fanout: one uWebSockets.js binary ($(basename "$uws"))"
# The migrate command Compose and Kubernetes run must be this path.
for f in docker-compose.yml infra/k8s/base/ingest-deployment.yaml; do
  grep -q "$migrate_cli" "$src/$f" || fail "$f does not run $migrate_cli"
done
ok "docker-compose.yml and infra/k8s/base run $migrate_cli"

section "scratch database $db_name, Redis prefix $bus_prefix"
pg_isready -q -d "$admin_url" 2>/dev/null || psql "$admin_url" -qAt -c 'select 1' >/dev/null ||
  fail "PostgreSQL at $admin_url is not reachable"
psql "$admin_url" -v ON_ERROR_STOP=1 -qAt -c "CREATE DATABASE \"$db_name\"" >/dev/null
db_created=true
db_url=$(ADMIN="$admin_url" DB="$db_name" node -p 'const u = new URL(process.env.ADMIN); u.pathname = "/" + process.env.DB; u.href')
ok "created"
(cd "$work/ingest" && DATABASE_URL="$db_url" node "$migrate_cli") | sed 's/^/   | /'
ok "migrated with \`node $migrate_cli\` (the Compose migrate service / Kubernetes init container)"

read -r grpc_port ingest_http_port fanout_port lb_grpc_port lb_http_port tls_grpc_port tls_http_port fanout_metrics_port lb_tls_grpc_port lb_https_port < <(node -e "
  const net = require('node:net');
  const servers = Array.from({ length: 10 }, () => net.createServer().listen(0, '127.0.0.1'));
  Promise.all(servers.map((s) => new Promise((r) => s.on('listening', r)))).then(() => {
    console.log(servers.map((s) => s.address().port).join(' '));
    servers.forEach((s) => s.close());
  });")

section "ingest from its deploy folder: node dist/main.js"
enrollment_token="$(node -p 'require("crypto").randomBytes(24).toString("hex")')"
(cd "$work/ingest" && exec env DATABASE_URL="$db_url" REDIS_URL="$redis_url" \
  ENROLLMENT_TOKEN="$enrollment_token" \
  GRPC_INSECURE=true GRPC_HOST=127.0.0.1 GRPC_PORT="$grpc_port" \
  HTTP_HOST=127.0.0.1 HTTP_PORT="$ingest_http_port" \
  MIGRATE_ON_START=false BUS_KEY_PREFIX="$bus_prefix" NODE_ENV=production \
  node dist/main.js >"$work/ingest.log" 2>&1) &
ingest_pid=$!
pids+=("$ingest_pid")
probe wait-ready "http://127.0.0.1:$ingest_http_port/readyz" 30 "$ingest_pid" | sed 's/^/   ok    /' ||
  { tail -n 20 "$work/ingest.log" | sed 's/^/   | /'; fail "ingest did not become ready"; }
probe healthcheck "$src/infra/Dockerfile" ingest HTTP_PORT="$ingest_http_port" | sed 's/^/   ok    /'
probe grpc-health "127.0.0.1:$grpc_port" "$work/ingest" | sed 's/^/   ok    /'

section "agent package: pnpm package:agent, dpkg -i, a demo to the ingest, dpkg -r"
if [ "$(id -u)" != 0 ] || ! command -v dpkg >/dev/null; then
  skip "needs root and dpkg: the agent's .deb was not installed"
elif dpkg-query -W -f='${Status}' tripwire-agent 2>/dev/null | grep -q 'installed'; then
  skip "tripwire-agent is already installed on this machine: left alone, the .deb was not tried"
else
  t=$(date +%s)
  # From the checkout (its node_modules: esbuild, postject, the compiled re2.node).
  logged "$work/package-agent.log" pnpm --dir "$repo" package:agent
  deb=$(ls "$repo"/dist/tripwire-agent/tripwire-agent_*.deb)
  ok "pnpm package:agent: $(basename "$deb") ($(du -h "$deb" | cut -f1), $(($(date +%s) - t))s)"
  # The executable without its companions (re2.node): a clear refusal, not a stack trace.
  cp "$repo/dist/tripwire-agent/root/usr/bin/tripwire-agent" "$work/tripwire-agent-alone"
  code=0
  "$work/tripwire-agent-alone" --version >/dev/null 2>"$work/agent-alone.log" || code=$?
  [ "$code" = 1 ] && grep -q 'cannot load .*re2.node.*reinstall' "$work/agent-alone.log" &&
    ! grep -q '^ *at ' "$work/agent-alone.log" ||
    fail "the executable without re2.node beside it: exit $code, $(head -c 300 "$work/agent-alone.log")"
  ok "the executable alone (no ../lib/tripwire-agent/re2.node): exit 1, \"cannot load …/re2.node … reinstall\""
  # Beside a re2.node in a folder others can write (planted code): refused the same way.
  install -D -m 0644 "$repo/dist/tripwire-agent/root/usr/lib/tripwire-agent/re2.node" "$work/plant/lib/tripwire-agent/re2.node"
  install -D -m 0755 "$work/tripwire-agent-alone" "$work/plant/bin/tripwire-agent"
  rm -f "$work/tripwire-agent-alone"
  chmod 0777 "$work/plant/lib/tripwire-agent"
  code=0
  "$work/plant/bin/tripwire-agent" --version >/dev/null 2>"$work/agent-plant.log" || code=$?
  [ "$code" = 1 ] && grep -q 'is writable by other users' "$work/agent-plant.log" ||
    fail "a re2.node in a folder others can write: exit $code, $(head -c 300 "$work/agent-plant.log")"
  rm -rf "$work/plant"
  ok "a re2.node in a folder others can write: not loaded, exit 1"
  agent_installed=true
  logged "$work/dpkg-install.log" dpkg -i "$deb"
  getent passwd tripwire >/dev/null || fail "dpkg -i made no tripwire user"
  version=$(node -p "require('$repo/services/agent/package.json').version")
  [ "$(tripwire-agent --version)" = "$version" ] || fail "tripwire-agent --version is not $version"
  code=0
  tripwire-agent --no-such-option >/dev/null 2>"$work/agent-usage.log" || code=$?
  [ "$code" = 2 ] && grep -q '^Usage:' "$work/agent-usage.log" ||
    fail "tripwire-agent --no-such-option: exit $code, expected 2 with the usage on stderr"
  ok "dpkg -i: tripwire-agent --version = $version, an unknown option exits 2 with the usage, the tripwire user exists"
  if command -v systemd-analyze >/dev/null; then
    logged "$work/unit-verify.log" systemd-analyze verify tripwire-agent.service
    ok "systemd-analyze verify tripwire-agent.service"
  fi
  # Nothing else on the PATH or in the environment: the binary and /usr/lib/tripwire-agent alone.
  agent_state=$(mktemp -d "$work/agent-state.XXXXXX")
  agent_host="deploy-check-agent-$run_id"
  logged "$work/agent-demo.log" env -i PATH=/usr/bin:/bin TRIPWIRE_ENROLL_TOKEN="$enrollment_token" \
    tripwire-agent demo --server "127.0.0.1:$grpc_port" --insecure --state-dir "$agent_state" \
    --hostname "$agent_host" --rate 100 --duration 2
  stored=$(psql "$db_url" -qAt -c "SELECT count(*) FROM alerts JOIN hosts USING (host_id) WHERE hostname = '$agent_host'")
  [ "$stored" = 200 ] || fail "the packaged agent's demo: $stored alerts in PostgreSQL, expected 200"
  ok "tripwire-agent demo (env -i, no node_modules): 200 alerts acknowledged and in PostgreSQL"
  # As the unit runs it: the tripwire user with CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE, no
  # others. A change to a root-only (0600) file must still be seen and reported.
  secret_file="$work/root-only-file"
  (umask 077 && echo before >"$secret_file")
  printf 'rules:\n  - name: deploy-check-root-only\n    type: FILE\n    severity: CRITICAL\n    target: %s\n' \
    "$secret_file" >"$work/agent-rules.yaml"
  caps_state="$work/agent-caps-state"
  install -d -m 0700 -o tripwire -g tripwire "$caps_state"
  caps_host="deploy-check-agent-caps-$run_id"
  env -i PATH=/usr/bin:/bin TRIPWIRE_ENROLL_TOKEN="$enrollment_token" \
    setpriv --reuid tripwire --regid tripwire --clear-groups \
    --inh-caps -all,+dac_read_search,+sys_ptrace --ambient-caps -all,+dac_read_search,+sys_ptrace \
    --bounding-set -all,+dac_read_search,+sys_ptrace \
    tripwire-agent run --server "127.0.0.1:$grpc_port" --insecure --state-dir "$caps_state" \
    --hostname "$caps_host" --rules-file "$work/agent-rules.yaml" >"$work/agent-caps.log" 2>&1 &
  caps_pid=$!
  pids+=("$caps_pid")
  for _ in $(seq 1 150); do
    grep -q '"msg":"file tripwires armed"' "$work/agent-caps.log" && break
    kill -0 "$caps_pid" 2>/dev/null || break
    sleep 0.2
  done
  grep -q '"msg":"file tripwires armed"' "$work/agent-caps.log" ||
    { tail -n 5 "$work/agent-caps.log" | sed 's/^/   | /' >&2; fail "the agent as tripwire did not arm its file tripwire"; }
  echo after >>"$secret_file"
  alerted=0
  for _ in $(seq 1 150); do
    alerted=$(psql "$db_url" -qAt -c "SELECT count(*) FROM alerts JOIN hosts USING (host_id) WHERE hostname = '$caps_host' AND rule_name = 'deploy-check-root-only'")
    [ "$alerted" -gt 0 ] && break
    sleep 0.2
  done
  [ "$alerted" -gt 0 ] || fail "the agent as tripwire (the unit's capabilities) reported no change to a root-only file"
  stop_service agent-caps "$caps_pid" 15
  ok "as tripwire with the unit's two capabilities: a root-only 0600 file's change was reported"
  logged "$work/dpkg-remove.log" dpkg -r tripwire-agent
  for f in /usr/bin/tripwire-agent /usr/lib/tripwire-agent /lib/systemd/system/tripwire-agent.service; do
    [ ! -e "$f" ] || fail "dpkg -r left $f"
  done
  [ -f /etc/tripwire-agent/agent.env ] || fail "dpkg -r removed the conffile /etc/tripwire-agent/agent.env"
  logged "$work/dpkg-purge.log" dpkg -P tripwire-agent
  agent_installed=false
  [ ! -e /etc/tripwire-agent ] || fail "dpkg -P left /etc/tripwire-agent"
  ok "dpkg -r: binary, re2.node, unit gone (agent.env kept); dpkg -P: /etc/tripwire-agent gone ($(($(date +%s) - t))s in all)"
fi

section "ingest with mTLS: certificates from infra/tls/make-dev-ca.sh"
if command -v openssl >/dev/null; then
  logged "$work/make-dev-ca.log" "$src/infra/tls/make-dev-ca.sh" "$work/tls"
  for cert in server client; do
    openssl verify -CAfile "$work/tls/ca.crt" "$work/tls/$cert.crt" >/dev/null ||
      fail "openssl verify $cert.crt"
  done
  ok "openssl verify -CAfile ca.crt server.crt client.crt: OK ($(openssl x509 -in "$work/tls/server.crt" -noout -ext subjectAltName | tail -n 1 | xargs))"
  # server.pem (HAProxy's crt): the same certificate, and the key that goes with it.
  [ "$(openssl x509 -in "$work/tls/server.pem" -noout -fingerprint -sha256)" = \
    "$(openssl x509 -in "$work/tls/server.crt" -noout -fingerprint -sha256)" ] ||
    fail "server.pem does not start with server.crt"
  [ "$(openssl pkey -in "$work/tls/server.pem" -pubout)" = "$(openssl x509 -in "$work/tls/server.crt" -noout -pubkey)" ] ||
    fail "the key in server.pem does not match server.crt"
  for name in localhost ingest fanout lb; do
    openssl x509 -in "$work/tls/server.crt" -noout -checkhost "$name" | grep -q 'does match' ||
      fail "server.crt does not name $name"
  done
  ca_before=$(openssl x509 -in "$work/tls/ca.crt" -noout -fingerprint -sha256)
  logged "$work/make-dev-ca-again.log" "$src/infra/tls/make-dev-ca.sh" --if-missing "$work/tls"
  [ "$ca_before" = "$(openssl x509 -in "$work/tls/ca.crt" -noout -fingerprint -sha256)" ] ||
    fail "make-dev-ca.sh --if-missing replaced an existing CA"
  ok "server.pem = server.crt + its key; names localhost, ingest, fanout, lb; --if-missing keeps the CA"
  (cd "$work/ingest" && exec env DATABASE_URL="$db_url" REDIS_URL="$redis_url" \
    ENROLLMENT_TOKEN="$(node -p 'require("crypto").randomBytes(24).toString("hex")')" \
    GRPC_TLS_CERT_FILE="$work/tls/server.crt" GRPC_TLS_KEY_FILE="$work/tls/server.key" \
    GRPC_TLS_CLIENT_CA_FILE="$work/tls/ca.crt" GRPC_HOST=127.0.0.1 GRPC_PORT="$tls_grpc_port" \
    HTTP_HOST=127.0.0.1 HTTP_PORT="$tls_http_port" \
    MIGRATE_ON_START=false BUS_KEY_PREFIX="$bus_prefix" NODE_ENV=production \
    node dist/main.js >"$work/ingest-tls.log" 2>&1) &
  tls_pid=$!
  pids+=("$tls_pid")
  probe wait-ready "http://127.0.0.1:$tls_http_port/readyz" 30 "$tls_pid" >/dev/null ||
    { tail -n 20 "$work/ingest-tls.log" | sed 's/^/   | /'; fail "ingest with TLS did not become ready"; }
  # The server certificate names localhost, not only 127.0.0.1.
  probe grpc-health "localhost:$tls_grpc_port" "$work/ingest" "$work/tls/ca.crt" \
    "$work/tls/client.crt" "$work/tls/client.key" | sed 's/^/   ok    /'
  probe grpc-refused "localhost:$tls_grpc_port" "$work/ingest" "$work/tls/ca.crt" | sed 's/^/   ok    /'
  stop_service ingest-tls "$tls_pid" 30
else
  skip "openssl is not installed: infra/tls/make-dev-ca.sh and mTLS were not checked"
fi

section "fanout from its deploy folder: node dist/main.js"
jwt_secret="$(node -p 'require("crypto").randomBytes(32).toString("hex")')"
(cd "$work/fanout" && exec env -u DASHBOARD_DIR DATABASE_URL="$db_url" REDIS_URL="$redis_url" \
  OPERATOR_JWT_SECRET="$jwt_secret" HOST=127.0.0.1 PORT="$fanout_port" \
  METRICS_HOST=127.0.0.1 METRICS_PORT="$fanout_metrics_port" BUS_KEY_PREFIX="$bus_prefix" NODE_ENV=production \
  node dist/main.js >"$work/fanout.log" 2>&1) &
fanout_pid=$!
pids+=("$fanout_pid")
probe wait-ready "http://127.0.0.1:$fanout_port/readyz" 30 "$fanout_pid" | sed 's/^/   ok    /' ||
  { tail -n 20 "$work/fanout.log" | sed 's/^/   | /'; fail "fanout did not become ready"; }
probe healthcheck "$src/infra/Dockerfile" fanout PORT="$fanout_port" | sed 's/^/   ok    /'
probe dashboard "http://127.0.0.1:$fanout_port" | sed 's/^/   ok    /'
probe api-reference "http://127.0.0.1:$fanout_port" | sed 's/^/   ok    /'
probe websocket "http://127.0.0.1:$fanout_port" "$jwt_secret" | sed 's/^/   ok    /'
probe metrics "http://127.0.0.1:$fanout_port" "http://127.0.0.1:$fanout_metrics_port" | sed 's/^/   ok    /'

section "load balancer: infra/haproxy/haproxy.cfg"
# The fan-out trusts X-Forwarded-For (TRUST_PROXY): the balancer must replace the client's, never
# append after it (`option forwardfor` adds a second line behind a forged one).
if grep -Eq '^[[:space:]]*option[[:space:]]+forwardfor' "$src/infra/haproxy/haproxy.cfg" ||
  ! grep -Eq '^[[:space:]]*http-request[[:space:]]+set-header[[:space:]]+X-Forwarded-For[[:space:]]+%\[src\]' "$src/infra/haproxy/haproxy.cfg"; then
  fail "haproxy.cfg must replace X-Forwarded-For (http-request set-header X-Forwarded-For %[src]), not use option forwardfor"
fi
ok "X-Forwarded-For is replaced with the client's address, not appended to"
if command -v haproxy >/dev/null; then
  # The same file, pointed at the services above instead of Docker's DNS names.
  lb_env=(INGEST_ADDR=127.0.0.1 INGEST_GRPC_PORT="$grpc_port" INGEST_HTTP_PORT="$ingest_http_port" INGEST_SLOTS=1
    FANOUT_ADDR=127.0.0.1 FANOUT_PORT="$fanout_port" FANOUT_SLOTS=1)
  # run_lb NAME URL GRPC_TARGET CA [VAR=VALUE...]: HAProxy with lb_env and those variables
  # (CA empty: plaintext), then gRPC health, dashboard and WebSocket through it.
  run_lb() {
    local name="$1" url="$2" target="$3" ca="${4:-}" pid
    shift 4
    env "${lb_env[@]}" "$@" haproxy -db -f "$src/infra/haproxy/haproxy.cfg" >"$work/haproxy-$name.log" 2>&1 &
    pid=$!
    pids+=("$pid")
    # NODE_EXTRA_CA_CERTS: fetch and https trust the development CA, as a browser told to would.
    local extra=()
    [ -n "$ca" ] && extra=(env NODE_EXTRA_CA_CERTS="$ca")
    # Wait for the first /readyz health checks to mark both servers up.
    "${extra[@]}" node "$src/infra/smoke-probe.mjs" wait-ready "$url/readyz" 15 "$pid" | sed "s/^/   ok    (via HAProxy, $name) /" ||
      { tail -n 20 "$work/haproxy-$name.log" | sed 's/^/   | /'; fail "HAProxy ($name) did not reach the fan-out"; }
    local tls_args=()
    [ -n "$ca" ] && tls_args=("$ca")
    for _ in $(seq 1 20); do
      probe grpc-health "$target" "$work/ingest" "${tls_args[@]}" >/dev/null 2>&1 && break
      sleep 0.25
    done
    probe grpc-health "$target" "$work/ingest" "${tls_args[@]}" | sed "s/^/   ok    (via HAProxy, $name) /"
    "${extra[@]}" node "$src/infra/smoke-probe.mjs" dashboard "$url" | sed "s/^/   ok    (via HAProxy, $name) /"
    "${extra[@]}" node "$src/infra/smoke-probe.mjs" websocket "$url" "$jwt_secret" | sed "s/^/   ok    (via HAProxy, $name) /"
    kill -TERM "$pid" 2>/dev/null || true
  }
  if [ -f "$work/tls/server.pem" ]; then
    logged "$work/haproxy-check.log" env LB_TLS_CERT="$work/tls/server.pem" haproxy -c -f "$src/infra/haproxy/haproxy.cfg"
    ok "haproxy -c (TLS, the default): valid ($(haproxy -v | head -n 1 | cut -d' ' -f1-3))"
    run_lb tls "https://localhost:$lb_https_port" "localhost:$lb_tls_grpc_port" "$work/tls/ca.crt" \
      LB_TLS_CERT="$work/tls/server.pem" LB_GRPC_BIND="127.0.0.1:$lb_tls_grpc_port" LB_HTTPS_BIND="127.0.0.1:$lb_https_port"
    # TLS only: plaintext to the same ports gets no answer from a service.
    ! probe grpc-health "127.0.0.1:$lb_tls_grpc_port" "$work/ingest" >/dev/null 2>&1 ||
      fail "the TLS gRPC port answered plaintext h2c"
    ! node -e "fetch('http://127.0.0.1:$lb_https_port/readyz').then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))" ||
      fail "the HTTPS port answered plain HTTP"
    ok "plaintext h2c and HTTP to the TLS ports: refused"
  else
    skip "no certificates (openssl missing): HAProxy's TLS default was not run"
  fi
  logged "$work/haproxy-check.log" env LB_PLAINTEXT=1 haproxy -c -f "$src/infra/haproxy/haproxy.cfg"
  ok "haproxy -c (LB_PLAINTEXT, docker-compose.plaintext.yml): valid"
  run_lb plaintext "http://127.0.0.1:$lb_http_port" "127.0.0.1:$lb_grpc_port" "" \
    LB_PLAINTEXT=1 LB_GRPC_BIND="127.0.0.1:$lb_grpc_port" LB_HTTP_BIND="127.0.0.1:$lb_http_port"
else
  skip "haproxy is not installed (apt-get install haproxy): the load balancer config was not checked"
fi

section "graceful stop (SIGTERM)"
# Ingest may take SHUTDOWN_GRACE_MS (20 s) + 5 s with open streams; here none are open.
stop_service ingest "$ingest_pid" 30
stop_service fanout "$fanout_pid" 15
logs=("$work/ingest.log" "$work/fanout.log")
[ -f "$work/ingest-tls.log" ] && logs+=("$work/ingest-tls.log")
if grep -h '"level":[56]0' "${logs[@]}" >/dev/null; then
  grep -h '"level":[56]0' "${logs[@]}" | head -n 5 | sed 's/^/   | /'
  fail "error or fatal lines in the services' logs"
fi
ok "no error or fatal log lines"

section "Kubernetes: kubectl kustomize"
if command -v kubectl >/dev/null; then
  for dir in "$src/infra/k8s/base" "$src/infra/k8s/overlays/"*/; do
    dir="${dir%/}"
    name="${dir#"$src/"}"
    # An overlay made as docs/operations.md says reads secrets.env, which git ignores: render
    # it with the example's placeholders instead.
    note=""
    if grep -v '^[[:space:]]*#' "$dir/kustomization.yaml" | grep -q '\bsecrets\.env\b' &&
      [ ! -f "$dir/secrets.env" ]; then
      cp "$src/infra/k8s/overlays/example/secrets.example.env" "$dir/secrets.env"
      note=" (secrets.env: the example's placeholders)"
    fi
    logged "$work/kustomize.log" kubectl kustomize "$dir"
    kinds=$(grep -h '^kind:' "$work/kustomize.log" | awk '{print $2}' | sort | uniq -c | awk '{printf "%s %s, ", $1, $2}')
    ok "$name: ${kinds%, }$note"
  done
  # The monitoring component (docs/operations.md#monitoring): two ServiceMonitors and the
  # PrometheusRule, which must be infra/prometheus/alerts.yaml's rules.
  logged "$work/monitoring.log" kubectl kustomize "$src/infra/k8s/overlays/example-monitoring"
  [ "$(grep -c '^kind: ServiceMonitor$' "$work/monitoring.log")" = 2 ] &&
    [ "$(grep -c '^kind: PrometheusRule$' "$work/monitoring.log")" = 1 ] ||
    fail "overlays/example-monitoring does not render 2 ServiceMonitors and 1 PrometheusRule"
  node "$src/scripts/generate-prometheus-rule.mjs" --check | sed 's/^/   ok    /' ||
    fail "the component's PrometheusRule differs from infra/prometheus/alerts.yaml (pnpm monitoring:generate)"
else
  skip "kubectl is not installed: the kustomize trees were not rendered"
fi

section "Compose: docker-compose.yml (+ docker-compose.plaintext.yml), infra/dev-databases/docker-compose.yml"
compose=()
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null; then
  compose=(docker-compose)
fi
if [ ${#compose[@]} -gt 0 ]; then
  # .env as the operations guide says to make it: .env.example with every secret filled in.
  while IFS= read -r line; do
    if [[ "$line" =~ ^([A-Z_]+)=$ ]]; then
      echo "${BASH_REMATCH[1]}=$(node -p 'require("crypto").randomBytes(24).toString("hex")')"
    else
      echo "$line"
    fi
  done <"$src/.env.example" >"$src/.env"
  logged "$work/compose.log" "${compose[@]}" -f "$src/docker-compose.yml" --project-directory "$src" config
  services=$("${compose[@]}" -f "$src/docker-compose.yml" --project-directory "$src" config --services | sort | tr '\n' ' ')
  ok "${compose[*]} config: valid; services: $services"
  for s in postgres redis migrate ingest fanout certs lb; do
    [[ " $services " == *" $s "* ]] || fail "docker-compose.yml has no $s service"
  done
  ok "postgres, redis, migrate, ingest, fanout, certs and lb are defined"
  # TLS by default: the balancer has the certificates and no LB_PLAINTEXT, publishes 8443 and
  # not 8080, and the session cookie is Secure.
  probe compose-tls "$work/compose.log" tls "$work/agent" | sed 's/^/   ok    /'
  logged "$work/compose-plaintext.log" "${compose[@]}" -f "$src/docker-compose.yml" \
    -f "$src/docker-compose.plaintext.yml" --project-directory "$src" config
  probe compose-tls "$work/compose-plaintext.log" plaintext "$work/agent" | sed 's/^/   ok    /'
  rm -f "$src/.env"
  dev="$src/infra/dev-databases/docker-compose.yml"
  logged "$work/compose-dev.log" "${compose[@]}" -f "$dev" config
  ok "infra/dev-databases/docker-compose.yml: valid; services: $("${compose[@]}" -f "$dev" config --services | sort | tr '\n' ' ')"
else
  skip "neither \`docker compose\` nor docker-compose is installed: the Compose files were not validated"
fi
