// For running the fan-out service in-process (the single-process stack, tests).
export { type FanoutConfig, loadConfig } from './config.js';
export { createFanoutServer, type FanoutDeps, type FanoutServer } from './fanout-server.js';
export { createOperatorAuth } from './operator-auth.js';
