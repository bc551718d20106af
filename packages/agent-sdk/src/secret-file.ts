// A secret kept in a file (the enrollment token), so that it is never on a command line, where
// every local user reads it (`ps`, /proc/<pid>/cmdline). The file is checked the way ssh checks a
// private key: another user who can read it has the secret, one who can write it chooses it.
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { octal } from './agent-state.js';

/** A token is one short line; anything bigger is the wrong file. */
export const MAX_SECRET_FILE_BYTES = 4096;

/** Why a secret file was refused; `code` ENOENT when it does not exist. */
export class SecretFileError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'SecretFileError';
  }
}

/**
 * Reads the one-line secret in `path`: a regular file of this user (or root), mode 0600 or
 * stricter, at most 4 KiB; surrounding whitespace is trimmed. Checked on the open file, so the
 * path cannot be swapped between the check and the read; opened non-blocking, so a FIFO planted
 * at the path cannot hang the agent.
 */
export async function readSecretFile(
  path: string,
  what = 'enrollment token file',
): Promise<string> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new SecretFileError(`cannot read the ${what} ${path}: ${e.message}`, e.code);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new SecretFileError(`the ${what} ${path} is not a regular file`);
    const me = process.getuid?.();
    if (me !== undefined && info.uid !== me && info.uid !== 0)
      throw new SecretFileError(
        `the ${what} ${path} belongs to uid ${info.uid}, another user, who chooses what it holds; chown it to this user`,
      );
    if ((info.mode & 0o077) !== 0)
      throw new SecretFileError(
        `the ${what} ${path} is open to other users (mode ${octal(info.mode)}); chmod 600 ${path}`,
      );
    if (info.size > MAX_SECRET_FILE_BYTES)
      throw new SecretFileError(
        `the ${what} ${path} is ${info.size} bytes; it must hold only the token (at most ${MAX_SECRET_FILE_BYTES})`,
      );
    const buffer = Buffer.alloc(MAX_SECRET_FILE_BYTES + 1);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    const secret = buffer.subarray(0, bytesRead).toString('utf8').trim();
    if (bytesRead > MAX_SECRET_FILE_BYTES)
      throw new SecretFileError(`the ${what} ${path} grew past ${MAX_SECRET_FILE_BYTES} bytes`);
    if (secret === '') throw new SecretFileError(`the ${what} ${path} is empty`);
    // A gRPC metadata value is printable ASCII; a second line is a file that is not a token.
    if (!/^[\x20-\x7e]+$/.test(secret))
      throw new SecretFileError(`the ${what} ${path} must hold one token on one line`);
    return secret;
  } finally {
    await handle.close();
  }
}
