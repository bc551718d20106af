export * from './bus.js';
export * from './bus-message.js';
export * from './bus-publisher.js';
export * from './bus-subscriber.js';
export * from './memory-bus.js';
export * from './redis-client.js';
export * from './reply-deadline.js';
export * from './stream-position.js';
