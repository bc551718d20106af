export * from './alert.js';
export * from './host.js';
export * from './incident.js';
export * from './incident-state.js';
export * from './limits.js';
export * from './resolution-method.js';
export * from './severity.js';
export * from './tripwire-type.js';
