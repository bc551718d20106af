export {
  type AgentClient,
  type AgentClientOptions,
  type AgentClientStats,
  createAgentClient,
} from './agent-client.js';
export type { AgentCredentials } from './agent-state.js';
export * from './agent-types.js';
export type { TlsOptions } from './channel-credentials.js';
export {
  Outbox,
  type OutboxAlert,
  type OutboxOptions,
  OVERFLOW_RULE_NAME,
  type OverflowDetail,
} from './outbox.js';
export { type BackoffOptions, ReconnectBackoff } from './reconnect-backoff.js';
