import type { TaskContext, TaskOutcome } from '@tripwire/agent-sdk';
import { type FileHash, TaskStatus } from '@tripwire/proto';
import { formatMode } from '../../sensors/file-facts.js';
import { readUserNames } from '../../sensors/passwd-users.js';
import { openRegularFile, readChunks } from '../safe-file.js';
import { checkPath } from '../task-inputs.js';

/** SHA-256, size, mode, owner and mtime of one regular file (never through a symlink). */
export async function fileHash(params: FileHash, ctx: TaskContext): Promise<TaskOutcome> {
  const path = checkPath('path', params.path);
  const { handle, stats } = await openRegularFile(path);
  try {
    const { sha256 } = await readChunks(handle, Number.MAX_SAFE_INTEGER, ctx.signal);
    const users = await readUserNames();
    // Whole microseconds from the nanoseconds: mtimeMs as a float is off by one now and then.
    const { mtimeNs } = await handle.stat({ bigint: true });
    return {
      status: TaskStatus.TASK_STATUS_SUCCEEDED,
      response: {
        $case: 'fileHash',
        fileHash: {
          path,
          sha256,
          size: stats.size,
          mode: formatMode(stats.mode),
          uid: stats.uid,
          gid: stats.gid,
          owner: users.get(stats.uid) ?? '',
          mtimeUs: Number(mtimeNs / 1000n),
        },
      },
    };
  } finally {
    await handle.close();
  }
}
