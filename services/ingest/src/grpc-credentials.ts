import { readFileSync } from 'node:fs';
import { ServerCredentials } from '@grpc/grpc-js';
import { ConfigError, type IngestConfig } from './config.js';

function readPem(variable: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(`${variable}: cannot read ${path}: ${(err as Error).message}`);
  }
}

/**
 * TLS when a certificate is configured; mTLS (client certificates required and
 * checked against the CA) when a client CA is configured too; plaintext only
 * when GRPC_INSECURE=true (the config schema enforces that choice).
 */
export function serverCredentials(config: IngestConfig): ServerCredentials {
  if (!config.GRPC_TLS_CERT_FILE || !config.GRPC_TLS_KEY_FILE)
    return ServerCredentials.createInsecure();
  const clientCa = config.GRPC_TLS_CLIENT_CA_FILE
    ? readPem('GRPC_TLS_CLIENT_CA_FILE', config.GRPC_TLS_CLIENT_CA_FILE)
    : null;
  return ServerCredentials.createSsl(
    clientCa,
    [
      {
        cert_chain: readPem('GRPC_TLS_CERT_FILE', config.GRPC_TLS_CERT_FILE),
        private_key: readPem('GRPC_TLS_KEY_FILE', config.GRPC_TLS_KEY_FILE),
      },
    ],
    clientCa !== null,
  );
}
