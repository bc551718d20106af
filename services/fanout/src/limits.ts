/**
 * Every code the fan-out closes a browser with and every cut-off it applies
 * that is not a config variable, in one place: search a name to find where it
 * bites. Configurable limits live in config.ts (WS_MAX_PAYLOAD_BYTES,
 * WS_MAX_BACKPRESSURE_BYTES, HISTORY_MAX_ENTRIES…).
 */

/** The browser stopped reading: it should reconnect and resume from its last position. */
export const CLOSE_SLOW_CONSUMER = 4008;
/** The socket's credential ended (sign-out, expiry, revocation): sign in again, do not just reconnect. */
export const CLOSE_CREDENTIAL_ENDED = 4001;
/** The node is shutting down: reconnect, to another node if one is up. */
export const CLOSE_SERVICE_RESTART = 1012;
/** A client frame over WS_MAX_PAYLOAD_BYTES (RFC 6455 "message too big"). */
export const CLOSE_FRAME_TOO_LARGE = 1009;
/** A handler failed and the socket's state can no longer be trusted (RFC 6455 "internal error"). */
export const CLOSE_INTERNAL_ERROR = 1011;

/** The largest REST request body. */
export const MAX_BODY_BYTES = 64 * 1024;
/** A failing handler is logged at most once per this interval; the lines in between are counted. */
export const HANDLER_ERROR_LOG_INTERVAL_MS = 10_000;

/** How often slow consumers are looked for. */
export const SLOW_CONSUMER_SWEEP_MS = 100;
/** Consecutive sweeps over WS_MAX_BACKPRESSURE_BYTES before a socket is closed as slow. */
export const SLOW_CONSUMER_SWEEPS = 2;
/**
 * The native backpressure limit, as a multiple of WS_MAX_BACKPRESSURE_BYTES. It is the hard
 * ceiling on what one socket holds (4 MiB at the default 1 MiB) and cuts at once, without the
 * sweep's grace; the 3× headroom above the sweep's limit covers the two sweeps it takes to act
 * at storm rates (about a second of 2,000 alerts/s of 1 KiB frames). Past it (a stalled event
 * loop, huge details) uWebSockets.js closes the socket itself: 1006 instead of 4008, the browser
 * reconnects and resumes all the same. Was 16× only so an unpaced test passed (docs/fanout.md).
 */
export const NATIVE_BACKPRESSURE_FACTOR = 4;
/**
 * The native frame limit, as a multiple of WS_MAX_PAYLOAD_BYTES: uWebSockets.js drops the TCP
 * connection (1006) on frames over its limit; keeping it higher lets the message handler close
 * with 1009 and say why. The native limit still caps memory.
 */
export const NATIVE_PAYLOAD_FACTOR = 4;

/** Incident (id, revision) pairs remembered to drop repeats. */
export const RECENT_INCIDENT_REVISIONS = 20_000;
/** Hosts whose latest status_version is remembered to drop older changes. */
export const RECENT_HOST_VERSIONS = 20_000;
/**
 * Task changes (task_id, version) and output chunks (task_id, sequence, stream) remembered to
 * drop one published twice. A streaming shell uses one per chunk: enough for tens of tasks
 * streaming at once over the few seconds a republish can lag.
 */
export const RECENT_TASK_VERSIONS = 50_000;

/** The longest start() waits to warm the replay window from Redis before taking connections. */
export const WARM_START_MAX_MS = 10_000;

/** How often a resume on a node behind its `since` looks whether the node has caught up. */
export const RESUME_CATCH_UP_POLL_MS = 20;

/**
 * The longest a resume served from PostgreSQL waits for rows stored before its `since` to be
 * marked published (with their positions) before sending the unmarked ones by time: an ingest
 * marks within milliseconds of Redis confirming the append, so a longer wait means it died
 * first, or the alert still waits in a publish backlog.
 */
export const RESUME_MARKS_WAIT_MS = 1_000;
/** How soon that wait (or the longer one for rows a registered ingest will mark) reads the page again... */
export const RESUME_MARKS_POLL_MS = 20;
/** ...doubling after each read, up to this. */
export const RESUME_MARKS_POLL_MAX_MS = 500;
