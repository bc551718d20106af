import { readFile } from 'node:fs/promises';

/** uid → user name from an /etc/passwd-format file; empty when it cannot be read. */
export async function readUserNames(passwdPath = '/etc/passwd'): Promise<Map<number, string>> {
  const names = new Map<number, string>();
  let text: string;
  try {
    text = await readFile(passwdPath, 'utf8');
  } catch {
    return names;
  }
  for (const line of text.split('\n')) {
    const [name, , uid] = line.split(':');
    if (!name || uid === undefined || !/^\d+$/.test(uid) || line.startsWith('#')) continue;
    const n = Number(uid);
    if (!names.has(n)) names.set(n, name);
  }
  return names;
}
