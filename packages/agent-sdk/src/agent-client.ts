import { arch, hostname as osHostname, platform as osPlatform } from 'node:os';
import { type ChannelCredentials, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { createLogger, type Logger } from '@tripwire/logger';
import { AlertServiceClient } from '@tripwire/proto';
import { type AgentCredentials, AgentState } from './agent-state.js';
import type { AgentRule, AlertDraft } from './agent-types.js';
import {
  DEFAULT_DEAD_LETTER_MAX_BYTES,
  DEFAULT_DETAIL_MAX_BYTES,
  MAX_DETAIL_BYTES,
  MIN_DETAIL_MAX_BYTES,
} from './alert-limits.js';
import { AlertStream } from './alert-stream.js';
import { alertFromDraft } from './alert-wire.js';
import { channelCredentials, channelOptions, type TlsOptions } from './channel-credentials.js';
import { CommandHandler } from './command-handler.js';
import { DeadLetterFile } from './dead-letter.js';
import {
  AGENT_TOKEN_METADATA,
  ENROLLMENT_KEY_METADATA,
  loadEnrollmentKey,
} from './enrollment-key.js';
import { Outbox } from './outbox.js';
import { type BackoffOptions, ReconnectBackoff } from './reconnect-backoff.js';
import { RejectionHandler } from './rejection-handler.js';
import { readSecretFile, SecretFileError } from './secret-file.js';
import { endStream } from './stream-end.js';
import { TaskChannel, type TaskChannelStats } from './task-channel.js';
import { TaskJournal } from './task-journal.js';
import type { TaskRunner } from './task-runner.js';

export interface AgentClientOptions {
  /**
   * "host:port" of the ingest service, or several separated by commas
   * ("a:50051,b:50051"): each reconnect, and each failed registration, moves to
   * the next address (round robin), so an agent fails over to another instance.
   */
  server: string;
  /**
   * Needed only when there are no stored credentials, or the server rejected them. Prefer
   * `enrollmentTokenFile`, or pass it from the environment: never from a command-line argument.
   */
  enrollmentToken?: string;
  /**
   * A file holding the enrollment token (mode 0600 or stricter, this user's; see readSecretFile).
   * Read at start, when present, and again at each registration, so a token written there later
   * lets an agent whose token the server rejected register again without a restart.
   */
  enrollmentTokenFile?: string;
  /**
   * Holds credentials.json, rules.json and the outbox; created 0700 if missing. start() refuses
   * one that belongs to another user or that other users can write.
   */
  stateDir: string;
  /** Default os.hostname(). */
  hostname?: string;
  /** Default `${os.platform()}-${os.arch()}`. */
  platform?: string;
  agentVersion: string;
  /** null/undefined: plaintext. */
  tls?: TlsOptions | null;
  /** Cap on the outbox (alerts held on disk). Default 64 MiB. */
  outboxMaxBytes?: number;
  /**
   * event_detail_json is clipped to this many bytes (largest strings first, each marked in
   * `truncated`). Default 60 KiB, under ingest's default MAX_EVENT_DETAIL_BYTES (64 KiB); a server
   * that refuses a detail as too large lowers it to the limit it states.
   */
  detailMaxBytes?: number;
  /** Cap on the dead-letter file (rotated once, so at most twice this). Default 16 MiB. */
  deadLetterMaxBytes?: number;
  /** Alerts per stream message. Default 500. */
  batchMaxEvents?: number;
  /** Longest an alert waits for others to share its message. Default 20 ms. */
  batchMaxDelayMs?: number;
  /** Default: silent. */
  log?: Logger;
  /** Called at start with the stored rules (if any) and on every RulesUpdate from the server. */
  onRules?: (rules: AgentRule[]) => void;
  /** Reconnect waits; default 1 s growing x1.5 to 60 s, ±20% jitter. */
  backoff?: BackoffOptions;
  /** The outbox lock of a writer that stopped refreshing it for this long is taken over. Default 10 s. */
  lockStaleMs?: number;
  /**
   * Another process took over this agent's outbox lock: alerts can no longer be queued. The CLI
   * exits (its service manager restarts it, and the new process waits for the lock). Default: logged.
   */
  onFatal?: (err: Error) => void;
  /**
   * Response actions: with a runner, the client also opens TaskService.StreamTasks and runs the
   * server's tasks through it (journaled in `stateDir/tasks.json`). Without one, it never does.
   */
  tasks?: TaskRunner;
}

export interface AgentClientStats {
  /** Alerts in the outbox (not yet acknowledged). */
  queued: number;
  /** Alerts written to a stream, resends included. */
  sent: number;
  acked: number;
  /** Rejected alerts the agent could not fix (CRITICAL ones are in deadLettered too). */
  rejected: number;
  /** Rejected alerts the agent fixed (clipped, clock corrected, repaired) and sent again. */
  fixed: number;
  /** CRITICAL rejected alerts kept in the dead-letter file (each reported by an alert). */
  deadLettered: number;
  /** Older dead letters discarded by the file's rotation (each discard reported by an alert). */
  deadLettersDiscarded: number;
  /** Unfixable rejections by RejectCode name. */
  rejectedByCode: Record<string, number>;
  /** Alerts dropped because the outbox was full (reported by an overflow alert). */
  dropped: number;
  connected: boolean;
  /** Connection attempts after the first. */
  reconnects: number;
  /** The task stream, when the client runs response actions. */
  tasks?: TaskChannelStats;
}

export interface AgentClient {
  /** Loads the state folder, registers if needed, opens (recovers) the outbox, then connects in the background. */
  start(): Promise<void>;
  /** Resolves with the alert_id once the alert is in the outbox and fsynced. */
  enqueue(draft: AlertDraft): Promise<string>;
  /** Empty until start() has loaded or obtained credentials. */
  readonly hostId: string;
  rules(): AgentRule[];
  stats(): AgentClientStats;
  /** True once the outbox is empty (everything acknowledged or rejected); false on timeout. */
  flush(timeoutMs: number): Promise<boolean>;
  /** Ends the stream cleanly (what the server received is acknowledged first) and closes files. */
  stop(): Promise<void>;
}

/** Bytes of alerts per stream message; the server's message limit is 8 MiB by default. */
const BATCH_MAX_BYTES = 2 * 1024 * 1024;
/** A stream this old (after the server first spoke) counts as healthy: the backoff starts over. */
const HEALTHY_AFTER_MS = 10_000;
const REGISTER_DEADLINE_MS = 15_000;
const STOP_GRACE_MS = 5_000;

export function createAgentClient(options: AgentClientOptions): AgentClient {
  return new TripwireAgentClient(options);
}

class TripwireAgentClient implements AgentClient {
  private readonly log: Logger;
  private readonly state: AgentState;
  private readonly backoff: ReconnectBackoff;
  private credentials: AgentCredentials | undefined;
  /** The server rejected the stored agent token. */
  private tokenRejected = false;
  private activeRules: AgentRule[] = [];
  private rulesSaved = Promise.resolve();
  private outbox: Outbox | undefined;
  private commands: CommandHandler | undefined;
  private rejections: RejectionHandler | undefined;
  private deadLetters: DeadLetterFile | undefined;
  /** What event_detail_json is clipped to; lowered when a server refuses a detail as too large. */
  private detailMaxBytes: number;
  /** Server clock minus this host's clock (µs), from the last Ping or the registration. */
  private clockOffsetUs: number | undefined;
  private channelCreds: ChannelCredentials | undefined;
  private taskChannel: TaskChannel | undefined;
  private stream: AlertStream | undefined;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private stopping = false;
  private batchMaxEvents: number;
  private sent = 0;
  private reconnects = 0;
  /** The ingest addresses, tried in turn; `serverIndex` is the one in use. */
  private readonly servers: string[];
  private serverIndex = 0;

  constructor(private readonly options: AgentClientOptions) {
    this.servers = parseServerList(options.server);
    if (!options.agentVersion) throw new Error('agentVersion is required');
    this.log = (options.log ?? createLogger({ name: 'tripwire-agent', level: 'silent' })).child({
      server: options.server,
    });
    this.state = new AgentState(options.stateDir);
    this.backoff = new ReconnectBackoff(options.backoff);
    this.batchMaxEvents = Math.max(1, options.batchMaxEvents ?? 500);
    this.detailMaxBytes = Math.max(
      MIN_DETAIL_MAX_BYTES,
      Math.min(MAX_DETAIL_BYTES, options.detailMaxBytes ?? DEFAULT_DETAIL_MAX_BYTES),
    );
  }

  get hostId(): string {
    return this.credentials?.hostId ?? '';
  }

  rules(): AgentRule[] {
    return this.activeRules;
  }

  stats(): AgentClientStats {
    return {
      queued: this.outbox?.size ?? 0,
      sent: this.sent,
      acked: this.commands?.acked ?? 0,
      rejected: this.rejections?.rejected ?? 0,
      fixed: this.rejections?.fixed ?? 0,
      deadLettered: this.rejections?.deadLettered ?? 0,
      deadLettersDiscarded: this.deadLetters?.discarded ?? 0,
      rejectedByCode: { ...this.rejections?.byCode },
      dropped: this.outbox?.dropped ?? 0,
      connected: this.stream?.established ?? false,
      reconnects: this.reconnects,
      ...(this.taskChannel && { tasks: this.taskChannel.stats() }),
    };
  }

  async start(): Promise<void> {
    if (this.loop || this.outbox) throw new Error('the agent client was already started');
    const { readableByOthers } = await this.state.ensureDir();
    if (readableByOthers)
      this.log.warn(
        { stateDir: this.state.dir },
        'the state folder is readable by other users (its files are 0600); chmod 700 it',
      );
    this.channelCreds = channelCredentials(this.options.tls);
    // The outbox's lock first: a second agent on this folder stops here, before it registers
    // or writes anything.
    this.outbox = await Outbox.open({
      path: this.state.outboxPath,
      maxBytes: this.options.outboxMaxBytes,
      log: this.log,
      lockStaleMs: this.options.lockStaleMs,
      onLockLost: (err) => this.lockLost(err),
    });
    try {
      await this.loadState();
    } catch (err) {
      await this.outbox.close();
      this.outbox = undefined;
      throw err;
    }
    this.deadLetters = new DeadLetterFile(
      this.state.deadLetterPath,
      this.options.deadLetterMaxBytes ?? DEFAULT_DEAD_LETTER_MAX_BYTES,
    );
    this.rejections = new RejectionHandler({
      outbox: this.outbox,
      deadLetters: this.deadLetters,
      log: this.log,
      enqueue: (draft) => this.enqueue(draft),
      fixContext: () => ({
        detailMaxBytes: this.detailMaxBytes,
        clockOffsetUs: this.clockOffsetUs,
      }),
      lowerDetailLimit: (bytes) => {
        if (bytes >= this.detailMaxBytes) return;
        this.detailMaxBytes = bytes;
        this.log.warn(
          { detailMaxBytes: bytes },
          'the server takes less event detail; clipping to its limit',
        );
      },
    });
    this.commands = new CommandHandler({
      outbox: this.outbox,
      rejections: this.rejections,
      log: this.log,
      applyRules: (rules) => this.setRules(rules, true),
    });
    this.log.info(
      { hostId: this.hostId, queued: this.outbox.size },
      'agent started; connecting to the server',
    );
    this.loop = this.connectLoop();
    await this.startTasks();
  }

  /** The task stream, beside the alert stream, when a runner was given. */
  private async startTasks(): Promise<void> {
    const runner = this.options.tasks;
    if (!runner) return;
    const journal = new TaskJournal(this.state.tasksJournalPath);
    await journal.load();
    this.taskChannel = new TaskChannel({
      servers: this.servers,
      channelCredentials: this.channelCreds!,
      channelOptions: channelOptions(this.options.tls),
      credentials: () => (this.tokenRejected ? undefined : this.credentials),
      runner,
      journal,
      log: this.log.child({ stream: 'tasks' }),
      backoff: this.options.backoff,
    });
    this.taskChannel.start();
  }

  /** Stored credentials and rules; registers when there are no credentials. */
  private async loadState(): Promise<void> {
    this.credentials = await this.state.loadCredentials();
    // A token file that exists is checked now, so an unsafe one stops the start, not a later
    // re-registration. It may be missing once this host has credentials.
    if (this.options.enrollmentTokenFile)
      await this.enrollmentToken().catch((err: unknown) => {
        if (!(err instanceof SecretFileError && err.code === 'ENOENT' && this.credentials))
          throw err;
      });
    const stored = await this.state.loadRules().catch((err) => {
      this.log.warn({ err: (err as Error).message }, 'ignoring unreadable stored rules');
      return undefined;
    });
    if (stored) this.setRules(stored, false);
    if (!this.credentials) this.credentials = await this.register();
  }

  private lockLost(err: Error): void {
    this.log.fatal({ err: err.message }, 'another process took over the outbox lock; stopping');
    this.options.onFatal?.(err);
  }

  /** The enrollment token given, or the one in the token file now. */
  private async enrollmentToken(): Promise<string | undefined> {
    if (this.options.enrollmentToken) return this.options.enrollmentToken;
    const file = this.options.enrollmentTokenFile;
    return file ? readSecretFile(file) : undefined;
  }

  /** Whether a rejected agent token can be replaced by registering again. */
  private get canEnroll(): boolean {
    return !!(this.options.enrollmentToken || this.options.enrollmentTokenFile);
  }

  async enqueue(draft: AlertDraft): Promise<string> {
    if (!this.outbox) throw new Error('call start() before enqueue()');
    if (this.stopping) throw new Error('the agent client is stopped');
    const alert = alertFromDraft(draft, this.detailMaxBytes);
    await this.outbox.append(alert);
    return alert.alertId;
  }

  flush(timeoutMs: number): Promise<boolean> {
    const outbox = this.outbox;
    if (!outbox || outbox.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (result: boolean) => {
        clearTimeout(timer);
        outbox.off('empty', onEmpty);
        resolve(result);
      };
      const onEmpty = () => done(true);
      const timer = setTimeout(() => done(outbox.size === 0), timeoutMs);
      outbox.on('empty', onEmpty);
    });
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await this.taskChannel?.stop();
    this.wake?.();
    if (this.stream) await endStream(this.stream, STOP_GRACE_MS);
    await this.loop;
    await this.rulesSaved;
    await this.commands?.settled();
    await this.outbox?.close();
    await this.deadLetters?.close();
    this.log.info(this.stats(), 'agent client stopped');
  }

  private setRules(rules: AgentRule[], fromServer: boolean): void {
    this.activeRules = rules;
    if (fromServer) {
      this.log.info({ rules: rules.length }, 'rules updated by the server');
      // Saved one after another, so the file always ends up with the newest set.
      this.rulesSaved = this.rulesSaved
        .then(() => this.state.saveRules(rules))
        .catch((err) => this.log.error({ err }, 'could not store the rules; using them anyway'));
    }
    try {
      this.options.onRules?.(rules);
    } catch (err) {
      this.log.error({ err }, 'the onRules callback failed');
    }
  }

  private get server(): string {
    return this.servers[this.serverIndex]!;
  }

  /** Round robin: the next attempt goes to the next address in the list. */
  private nextServer(): void {
    this.serverIndex = (this.serverIndex + 1) % this.servers.length;
  }

  private newClient(): AlertServiceClient {
    return new AlertServiceClient(
      this.server,
      this.channelCreds!,
      channelOptions(this.options.tls),
    );
  }

  /** RegisterAgent with the enrollment token; stores and returns the new credentials. */
  private async register(): Promise<AgentCredentials> {
    const token = await this.enrollmentToken();
    if (!token) {
      throw new Error(
        this.credentials
          ? 'the server rejected the stored agent token and no enrollment token is configured: set one to register again'
          : `no stored credentials in ${this.state.dir} and no enrollment token: set one to register this host`,
      );
    }
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${token}`);
    // Proof of being this host if it is enrolled already: the stored token (a rotation), else an
    // admin's approval of this agent's key (the server's ALREADY_EXISTS says which).
    if (this.credentials) metadata.set(AGENT_TOKEN_METADATA, this.credentials.agentToken);
    metadata.set(ENROLLMENT_KEY_METADATA, await loadEnrollmentKey(this.state.dir));
    const request = {
      hostname: this.options.hostname ?? osHostname(),
      platform: this.options.platform ?? `${osPlatform()}-${arch()}`,
      agentVersion: this.options.agentVersion,
    };
    // An address that cannot be reached is skipped for the next one; a refusal is final.
    for (let tried = 1; ; tried++) {
      try {
        return await this.registerWith(request, metadata);
      } catch (err) {
        const code = (err as { code?: number }).code;
        const unreachable = code === status.UNAVAILABLE || code === status.DEADLINE_EXCEEDED;
        if (!unreachable || tried >= this.servers.length) throw err;
        this.log.warn(
          { server: this.server, err: (err as Error).message },
          'registration failed; trying the next server',
        );
        this.nextServer();
      }
    }
  }

  private async registerWith(
    request: { hostname: string; platform: string; agentVersion: string },
    metadata: Metadata,
  ): Promise<AgentCredentials> {
    const server = this.server;
    const client = this.newClient();
    try {
      const response = await new Promise<{
        hostId: string;
        agentToken: string;
        serverTimeUs: number;
      }>((resolve, reject) =>
        client.registerAgent(
          request,
          metadata,
          { deadline: Date.now() + REGISTER_DEADLINE_MS },
          (err, res) => (err ? reject(err) : resolve(res)),
        ),
      );
      const credentials: AgentCredentials = {
        hostId: response.hostId,
        agentToken: response.agentToken,
        registeredAt: new Date().toISOString(),
      };
      await this.state.saveCredentials(credentials);
      if (response.serverTimeUs > 0) this.clockOffsetUs = response.serverTimeUs - Date.now() * 1000;
      this.tokenRejected = false;
      this.log.info(
        { hostId: credentials.hostId, hostname: request.hostname, server },
        'registered',
      );
      return credentials;
    } catch (err) {
      const e = err as ServiceError;
      if (e.code === status.UNAUTHENTICATED)
        throw new Error(`${server} refused the enrollment token: ${e.details}`);
      if (e.code !== undefined)
        throw Object.assign(
          new Error(`cannot register with ${server}: ${status[e.code]}: ${e.details}`),
          { code: e.code },
        );
      throw err;
    } finally {
      client.close();
    }
  }

  /** Stream, and when the stream ends for any reason, wait (backoff) and stream again. */
  private async connectLoop(): Promise<void> {
    for (let attempt = 0; !this.stopping; attempt++) {
      if (attempt > 0) this.reconnects++;
      let healthy = false;
      // Tried, not succeeded: a refused registration (ALREADY_EXISTS until an admin approves)
      // waits for the pause like any failure, instead of asking again at once in a loop.
      let registered = false;
      try {
        if (this.tokenRejected && this.canEnroll) {
          registered = true;
          this.credentials = await this.register();
        }
        healthy = await this.streamOnce();
      } catch (err) {
        this.log.error({ err: (err as Error).message }, 'cannot connect');
      }
      if (this.stopping) break;
      if (healthy) this.backoff.reset();
      this.nextServer();
      // A rejected token is replaced at once, but only once per pause.
      if (this.tokenRejected && this.canEnroll && !registered) continue;
      const delayMs = this.backoff.next();
      this.log.info({ delayMs, server: this.server }, 'reconnecting after a pause');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delayMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  /** One stream, start to end. Returns whether it was healthy (the backoff may start over). */
  private async streamOnce(): Promise<boolean> {
    const credentials = this.credentials!;
    const client = this.newClient();
    const stream = new AlertStream({
      client,
      agentToken: credentials.agentToken,
      hostId: credentials.hostId,
      outbox: this.outbox!,
      limits: {
        maxEvents: this.batchMaxEvents,
        maxDelayMs: this.options.batchMaxDelayMs ?? 20,
        maxBytes: BATCH_MAX_BYTES,
        maxInFlight: this.batchMaxEvents * 8,
      },
      onCommand: (command) => this.commands!.handle(command),
      onSent: (n) => {
        this.sent += n;
      },
      onServerTime: (serverTimeUs) => {
        this.clockOffsetUs = serverTimeUs - Date.now() * 1000;
      },
      log: this.log,
    });
    this.stream = stream;
    const end = await stream.ended;
    this.stream = undefined;
    client.close();
    const lived = Date.now() - stream.openedAt;
    const healthy = stream.acknowledged || (stream.established && lived >= HEALTHY_AFTER_MS);
    if (this.stopping && end.code === status.OK) return healthy;
    const fields = { code: status[end.code], details: end.details, lived, server: this.server };
    if (end.code === status.UNAUTHENTICATED) {
      this.tokenRejected = true;
      if (this.canEnroll)
        this.log.warn(fields, 'the server rejected the agent token; registering again');
      else
        this.log.error(
          fields,
          'the server rejects the agent token and no enrollment token is configured: set one so the agent can register again',
        );
    } else if (end.code === status.RESOURCE_EXHAUSTED && this.batchMaxEvents > 1) {
      // Most likely a batch over the server's MAX_EVENTS_PER_BATCH: send smaller ones.
      this.batchMaxEvents = Math.max(1, Math.floor(this.batchMaxEvents / 2));
      this.log.warn(
        { ...fields, batchMaxEvents: this.batchMaxEvents },
        'stream refused; smaller batches',
      );
    } else {
      this.log.warn(fields, 'stream ended; will reconnect and resend everything unacknowledged');
    }
    return healthy;
  }
}

/** "a:1,b:2" → ["a:1", "b:2"]; every entry must be host:port. */
export function parseServerList(server: string): string[] {
  const servers = server
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (servers.length === 0 || servers.some((s) => !/^[^\s,]+:\d+$/.test(s)))
    throw new Error(`server must be "host:port" or a comma list of them, not "${server}"`);
  return servers;
}
