import { readFileSync } from 'node:fs';
import { type ChannelCredentials, type ChannelOptions, credentials } from '@grpc/grpc-js';

export interface TlsOptions {
  /** CA bundle that signed the server's certificate; default: the system roots. */
  caFile?: string;
  /** Client certificate and key, for mTLS (both or neither). */
  certFile?: string;
  keyFile?: string;
  /** Expect this name in the server's certificate instead of the host in `server`. */
  serverNameOverride?: string;
}

function readPem(option: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`tls.${option}: cannot read ${path}: ${(err as Error).message}`);
  }
}

/** Plaintext without TLS options; TLS, or mTLS with a client certificate, from PEM files. */
export function channelCredentials(tls: TlsOptions | null | undefined): ChannelCredentials {
  if (!tls) return credentials.createInsecure();
  if (Boolean(tls.certFile) !== Boolean(tls.keyFile))
    throw new Error('tls.certFile and tls.keyFile go together (both for mTLS, or neither)');
  return credentials.createSsl(
    tls.caFile ? readPem('caFile', tls.caFile) : null,
    tls.keyFile ? readPem('keyFile', tls.keyFile) : null,
    tls.certFile ? readPem('certFile', tls.certFile) : null,
  );
}

/**
 * Keepalive pings every 10 s (answered within 5 s) notice a dead connection in
 * seconds, even with nothing to send. The ingest service (grpc-js) accepts
 * pings that often. Each connection attempt gets a channel of its own, so the
 * agent's backoff, not grpc-js's, decides when to try again.
 */
export function channelOptions(tls: TlsOptions | null | undefined): ChannelOptions {
  return {
    'grpc.keepalive_time_ms': 10_000,
    'grpc.keepalive_timeout_ms': 5_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.use_local_subchannel_pool': 1,
    ...(tls?.serverNameOverride
      ? {
          'grpc.ssl_target_name_override': tls.serverNameOverride,
          'grpc.default_authority': tls.serverNameOverride,
        }
      : {}),
  };
}
