import type { TaskContext, TaskOutcome } from '@tripwire/agent-sdk';
import { type FileFetch, TaskStatus } from '@tripwire/proto';
import { openRegularFile, readChunks } from '../safe-file.js';
import { checkPath, isInside, TaskRefusal } from '../task-inputs.js';

/** What would let whoever reads it act as this agent, or enroll others. */
export interface AgentSecrets {
  /** credentials.json (the agent token), the journal, the quarantine. */
  stateDir: string;
  /** The enrollment token file and the mTLS client key, when configured. */
  files: readonly string[];
}

/**
 * Fetching the agent's own token would turn a responder into the agent: receive the host's
 * tasks (shell included), report forged outcomes and alerts. Hashing them stays possible.
 */
function refuseOwnSecret(path: string, secrets: AgentSecrets): void {
  if (isInside(path, secrets.stateDir) || secrets.files.includes(path))
    throw new TaskRefusal("the agent's own state and credentials are never fetched");
}

/**
 * A file's content, from the start, in chunks of at most 64 KiB, up to the fetch cap (the
 * request may ask for less). The final response has the file's size and the SHA-256 of the
 * bytes sent; `truncated` when the file is longer.
 */
export async function fileFetch(
  params: FileFetch,
  ctx: TaskContext,
  maxFetchBytes: number,
  ownSecrets: AgentSecrets,
): Promise<TaskOutcome> {
  const path = checkPath('path', params.path);
  refuseOwnSecret(path, ownSecrets);
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
