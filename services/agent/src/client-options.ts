import type { AgentClientOptions } from '@tripwire/agent-sdk';
import type { Logger } from '@tripwire/logger';
import type { AgentConfig } from './agent-config.js';
import { AGENT_VERSION } from './agent-version.js';

/** The SDK client's settings from the agent's configuration (shared by `run` and `demo`). */
export function clientOptions(config: AgentConfig, log: Logger): AgentClientOptions {
  return {
    server: config.TRIPWIRE_SERVER,
    enrollmentToken: config.TRIPWIRE_ENROLL_TOKEN,
    enrollmentTokenFile: config.TRIPWIRE_ENROLL_TOKEN_FILE,
    stateDir: config.TRIPWIRE_STATE_DIR,
    hostname: config.TRIPWIRE_HOSTNAME,
    agentVersion: AGENT_VERSION,
    tls: config.TRIPWIRE_TLS_CA
      ? {
          caFile: config.TRIPWIRE_TLS_CA,
          certFile: config.TRIPWIRE_TLS_CERT,
          keyFile: config.TRIPWIRE_TLS_KEY,
          serverNameOverride: config.TRIPWIRE_TLS_SERVER_NAME,
        }
      : null,
    outboxMaxBytes: config.TRIPWIRE_OUTBOX_MAX_MB * 1024 * 1024,
    detailMaxBytes: config.TRIPWIRE_DETAIL_MAX_BYTES,
    deadLetterMaxBytes: config.TRIPWIRE_DEAD_LETTER_MAX_MB * 1024 * 1024,
    lockStaleMs: config.TRIPWIRE_LOCK_STALE_S * 1000,
    log,
    // Another process has the outbox now: exit, so the service manager starts one that waits for it.
    onFatal: () => process.exit(1),
  };
}
