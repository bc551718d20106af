#!/usr/bin/env bash
# A development certificate authority and the certificates TripWire's TLS needs (gRPC TLS/mTLS
# at ingest, and HTTPS + gRPC TLS at the Compose load balancer):
#
#   infra/tls/make-dev-ca.sh [--if-missing] [OUT_DIR]      (default infra/tls/out, ignored by git)
#
#   ca.crt                  the CA: agents and browsers trust it (server verification); ingest
#                           trusts it for client certificates (GRPC_TLS_CLIENT_CA_FILE)
#   server.crt, server.key  the server certificate (GRPC_TLS_CERT_FILE, GRPC_TLS_KEY_FILE), for
#                           localhost, 127.0.0.1 and the Compose/Kubernetes names ingest,
#                           fanout and lb
#   server.pem              server.crt then server.key in one file: HAProxy's `crt`
#   client.crt, client.key  an agent's client certificate for mTLS
#
# --if-missing: leave an OUT_DIR that already holds ca.crt, server.pem and client.crt alone
# (Compose's one-shot `certs` service runs it on every `up`; the first one creates them).
# Environment: SERVER_SANS adds subject alternative names (e.g. "DNS:ingest.example.com,IP:10.0.0.5"),
# CLIENT_CN names the client (default tripwire-agent), DAYS the leaf lifetime (default 397).
# For development and tests only: the CA key sits next to the certificates, unprotected.
# Production certificates come from your PKI (or cert-manager in Kubernetes).
set -euo pipefail

if_missing=false
if [ "${1:-}" = --if-missing ]; then
  if_missing=true
  shift
fi
out="${1:-$(dirname "$0")/out}"
days="${DAYS:-397}"
sans="DNS:localhost,IP:127.0.0.1,DNS:ingest,DNS:fanout,DNS:lb${SERVER_SANS:+,$SERVER_SANS}"
client_cn="${CLIENT_CN:-tripwire-agent}"

command -v openssl >/dev/null || { echo "openssl is required (apt-get install openssl)" >&2; exit 1; }
mkdir -p "$out"
cd "$out"
if $if_missing && [ -s ca.crt ] && [ -s server.pem ] && [ -s client.crt ]; then
  echo "kept $(pwd): certificates already there (server SANs: $(openssl x509 -in server.crt -noout -ext subjectAltName | tail -n 1 | xargs))"
  exit 0
fi
umask 077
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
serial() { echo "0x$(openssl rand -hex 16)"; }

key ca.key
openssl req -x509 -new -key ca.key -sha256 -days 3650 -set_serial "$(serial)" \
  -subj "/O=TripWire development/CN=TripWire development CA" \
  -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out ca.crt

# sign NAME CN EXTENSIONS: NAME.key and NAME.crt signed by the CA.
sign() {
  key "$1.key"
  openssl req -new -key "$1.key" -subj "/O=TripWire development/CN=$2" -out "$tmp/$1.csr"
  printf '%s\n' "$3" >"$tmp/$1.ext"
  openssl x509 -req -in "$tmp/$1.csr" -CA ca.crt -CAkey ca.key -set_serial "$(serial)" \
    -sha256 -days "$days" -extfile "$tmp/$1.ext" -out "$1.crt" 2>/dev/null
}

sign server ingest "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=$sans"

sign client "$client_cn" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"

cat server.crt server.key >server.pem
chmod 644 ca.crt server.crt client.crt
openssl verify -CAfile ca.crt -purpose sslserver server.crt >/dev/null
openssl verify -CAfile ca.crt -purpose sslclient client.crt >/dev/null
echo "wrote $(pwd): ca.crt ca.key server.crt server.key server.pem client.crt client.key"
echo "server SANs: $sans; client CN: $client_cn; valid $days days"
