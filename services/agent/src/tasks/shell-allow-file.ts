import { readPolicyFile } from './policy-file.js';

/** The shell allow-list: one RE2 pattern a line (policy-file.ts: owner, mode, size checked). */
export function readShellAllowFile(path: string): Promise<string[]> {
  return readPolicyFile('shell allow file', path);
}
