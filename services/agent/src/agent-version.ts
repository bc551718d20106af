import { readFileSync } from 'node:fs';

/** This package's version, sent when registering. */
export const AGENT_VERSION: string = JSON.parse(
  readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
).version;
