import { readFileSync } from 'node:fs';
import { BUNDLE, shippedFile } from './shipped-files.js';

/** This package's version, sent when registering (the single executable's is set at its build). */
export const AGENT_VERSION: string =
  BUNDLE?.version ?? JSON.parse(readFileSync(shippedFile('package.json'), 'utf8')).version;
