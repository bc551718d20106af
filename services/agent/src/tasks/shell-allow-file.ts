import { constants } from 'node:fs';
import { open } from 'node:fs/promises';

const MAX_FILE_BYTES = 64 * 1024;
const MAX_PATTERNS = 256;

/**
 * The shell allow-list: one RE2 pattern a line, blank lines and `#` comments skipped. The file
 * decides what operators may run on this host, so it must belong to this user or root and be
 * writable by no one else (like the enrollment token file).
 */
export async function readShellAllowFile(path: string): Promise<string[]> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW).catch((err: Error) => {
    throw new Error(`cannot read the shell allow file ${path}: ${err.message}`);
  });
  try {
    const st = await handle.stat();
    const me = process.getuid?.();
    if (!st.isFile()) throw new Error(`the shell allow file ${path} is not a regular file`);
    if (me !== undefined && st.uid !== me && st.uid !== 0)
      throw new Error(
        `the shell allow file ${path} belongs to uid ${st.uid}: chown it to this user or root`,
      );
    if ((st.mode & 0o022) !== 0)
      throw new Error(`the shell allow file ${path} is writable by other users: chmod go-w it`);
    if (st.size > MAX_FILE_BYTES)
      throw new Error(`the shell allow file ${path} is over ${MAX_FILE_BYTES} bytes`);
    const patterns = (await handle.readFile('utf8'))
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#'));
    if (patterns.length > MAX_PATTERNS)
      throw new Error(`the shell allow file ${path} has over ${MAX_PATTERNS} patterns`);
    return patterns;
  } finally {
    await handle.close();
  }
}
