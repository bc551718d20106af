export {
  type AgentClient,
  type AgentClientOptions,
  type AgentClientStats,
  createAgentClient,
} from './agent-client.js';
export type { AgentCredentials } from './agent-state.js';
export { DEAD_LETTER_FILE } from './agent-state.js';
export * from './agent-types.js';
export * from './alert-limits.js';
export { alertFromDraft } from './alert-wire.js';
export { fsyncDirectory, writeFileAtomic } from './atomic-file.js';
export type { TlsOptions } from './channel-credentials.js';
export { type DeadLetterEntry, DeadLetterFile } from './dead-letter.js';
export {
  type ClippedDetail,
  clipDetail,
  clipUtf8,
  detailAsText,
  repairString,
} from './detail-clip.js';
export { DEFAULT_LOCK_STALE_MS } from './lock-file.js';
export {
  Outbox,
  type OutboxAlert,
  type OutboxOptions,
  OVERFLOW_RULE_NAME,
  type OverflowDetail,
} from './outbox.js';
export { type BackoffOptions, ReconnectBackoff } from './reconnect-backoff.js';
export { DEAD_LETTER_RULE_NAME } from './rejection-handler.js';
export { storableRuleName } from './rule-name.js';
export { MAX_SECRET_FILE_BYTES, readSecretFile, SecretFileError } from './secret-file.js';
export { TaskChannel, type TaskChannelOptions, type TaskChannelStats } from './task-channel.js';
export { TaskDispatcher, type TaskDispatcherStats } from './task-dispatcher.js';
export { AGENT_RESTARTED, JOURNAL_MAX_TASKS, TaskJournal } from './task-journal.js';
export type {
  TaskAbortReason,
  TaskContext,
  TaskOutcome,
  TaskPayload,
  TaskRunner,
} from './task-runner.js';
