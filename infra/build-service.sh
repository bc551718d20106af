#!/usr/bin/env bash
# The one recipe for a service's deployable folder. infra/Dockerfile runs it to
# build the images and .ci/deploy-check.sh runs it (outside Docker) to prove what
# the images would contain, so the two cannot drift apart.
#
#   infra/build-service.sh fetch                  # pnpm-lock.yaml's packages into the store
#   infra/build-service.sh deploy <service> <out> # install, build, pnpm deploy --prod into <out>
#                                                 # (ingest, fanout; agent: /opt/tripwire-agent, for
#                                                 # hosts with Node 20 (pnpm package:agent: the .deb),
#                                                 # which compiles re2: python3, make, g++)
#
# Run from the repository root. `fetch` needs only package.json, pnpm-lock.yaml and
# pnpm-workspace.yaml, so the Docker layer it makes is reused until the lockfile changes;
# `deploy` then works offline from the store.
set -euo pipefail

export CI=true TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1

step() { printf '[build-service] %s\n' "$*"; }

case "${1:-}" in
  fetch)
    step "pnpm fetch"
    pnpm fetch
    ;;

  deploy)
    service="${2:?usage: infra/build-service.sh deploy <ingest|fanout|agent> <out-dir>}"
    out="${3:?usage: infra/build-service.sh deploy <ingest|fanout> <out-dir>}"
    package="@tripwire/$service"
    [ -f "services/$service/package.json" ] || { echo "no such service: services/$service" >&2; exit 2; }
    if [ -e "$out" ] && [ -n "$(ls -A "$out")" ]; then
      echo "$out is not empty" >&2
      exit 2
    fi

    # The service, the workspace packages it depends on (dev ones too: turbo's ^build
    # follows them) and the root's tools (tsc, turbo); nothing else in the workspace.
    step "pnpm install --filter $package..."
    pnpm install --frozen-lockfile --offline --filter "$package..."

    step "turbo run build --filter=$package..."
    pnpm turbo run build --filter="$package..." --output-logs=errors-only --no-daemon

    # pnpm 10 deploys from the lockfile only when workspace packages are injected. Turning
    # inject-workspace-packages on for the whole workspace would change the lockfile and
    # make every developer's workspace packages copies instead of links, so it is set for
    # this command only. (`pnpm deploy --legacy` also works but re-resolves versions,
    # which needs the registry's metadata; this way needs nothing but the store.)
    # Workspace packages are copied as they would be published: their `files` (dist/,
    # migrations/), which is how the dashboard's dist/ reaches the fan-out folder.
    step "pnpm deploy --prod $package -> $out"
    pnpm --config.inject-workspace-packages=true deploy --offline --prod --filter="$package" "$out"

    # uWebSockets.js ships native binaries for every platform and Node ABI (~90 MiB); keep
    # the one this Node on this platform loads. The build stage and the runtime image use
    # the same Node image, so this is the one the service will load.
    keep="uws_$(node -p 'process.platform + "_" + process.arch + "_" + process.versions.modules').node"
    while IFS= read -r -d '' binary; do
      [ "$(basename "$binary")" = "$keep" ] || rm -f "$binary"
    done < <(find "$out/node_modules/.pnpm" -path '*uws-js-unofficial*/binaries/*' -name 'uws_*.node' -print0)

    # re2 (the agent's PROCESS patterns) is compiled by node-gyp at install; at run time it needs
    # only build/Release/re2.node and its JavaScript, not the vendored C++ sources or objects.
    while IFS= read -r -d '' re2dir; do
      rm -rf "$re2dir/vendor" "$re2dir/build/Release/obj.target" "$re2dir/build/Release/.deps"
    done < <(find "$out/node_modules/.pnpm" -maxdepth 3 -type d -path '*/re2@*/node_modules/re2' -print0)

    step "done: $(du -sh "$out" | cut -f1) in $out"
    ;;

  *)
    echo "usage: infra/build-service.sh fetch | deploy <ingest|fanout> <out-dir>" >&2
    exit 2
    ;;
esac
