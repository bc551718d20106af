// For tests that run the ingest service in-process (e.g. the fan-out end-to-end test).
export { type IngestConfig, loadConfig } from './config.js';
export { createIngestServer, type IngestDeps, type IngestServer } from './ingest-server.js';
