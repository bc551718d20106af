import { constants } from 'node:fs';
import { open } from 'node:fs/promises';

const MAX_FILE_BYTES = 64 * 1024;
const MAX_LINES = 256;

/**
 * A file of the agent's response-action policy (the shell allow file, the path allow file):
 * one entry a line, blank lines and `#` comments skipped. It decides what operators may do on
 * this host, so it must belong to this user or root and be writable by no one else (like the
 * enrollment token file), is never a symlink, and is bounded in size and entries.
 */
export async function readPolicyFile(label: string, path: string): Promise<string[]> {
  const what = `the ${label} ${path}`;
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW).catch((err: Error) => {
    throw new Error(`cannot read ${what}: ${err.message}`);
  });
  try {
    const st = await handle.stat();
    const me = process.getuid?.();
    if (!st.isFile()) throw new Error(`${what} is not a regular file`);
    if (me !== undefined && st.uid !== me && st.uid !== 0)
      throw new Error(`${what} belongs to uid ${st.uid}: chown it to this user or root`);
    if ((st.mode & 0o022) !== 0)
      throw new Error(`${what} is writable by other users: chmod go-w it`);
    if (st.size > MAX_FILE_BYTES) throw new Error(`${what} is over ${MAX_FILE_BYTES} bytes`);
    const lines = (await handle.readFile('utf8'))
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#'));
    if (lines.length > MAX_LINES) throw new Error(`${what} has over ${MAX_LINES} entries`);
    return lines;
  } finally {
    await handle.close();
  }
}
