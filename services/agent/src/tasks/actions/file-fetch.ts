import type { TaskContext, TaskOutcome } from '@tripwire/agent-sdk';
import { type FileFetch, TaskStatus } from '@tripwire/proto';
import { openRegularFile, readChunks } from '../safe-file.js';
import { checkPath } from '../task-inputs.js';

/**
 * A file's content, from the start, in chunks of at most 64 KiB, up to the fetch cap (the
 * request may ask for less). The final response has the file's size and the SHA-256 of the
 * bytes sent; `truncated` when the file is longer.
 */
export async function fileFetch(
  params: FileFetch,
  ctx: TaskContext,
  maxFetchBytes: number,
): Promise<TaskOutcome> {
  const path = checkPath('path', params.path);
  const cap = Math.min(params.maxBytes || maxFetchBytes, maxFetchBytes);
  const { handle, stats } = await openRegularFile(path);
  try {
    const { sha256, bytes } = await readChunks(handle, cap, ctx.signal, (content, offset) =>
      ctx.emit({ $case: 'fileFetch', fileFetch: { content, offset, size: 0, sha256: '' } }),
    );
    return {
      status: TaskStatus.TASK_STATUS_SUCCEEDED,
      truncated: stats.size > bytes,
      response: {
        $case: 'fileFetch',
        fileFetch: { content: Buffer.alloc(0), offset: bytes, size: stats.size, sha256 },
      },
    };
  } finally {
    await handle.close();
  }
}
