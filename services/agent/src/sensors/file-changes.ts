import { type FileFacts, formatMode } from './file-facts.js';

export type FileChange = 'created' | 'modified' | 'deleted' | 'mode_changed' | 'owner_changed';

/** A FILE alert's detail: every key always present, null where it does not apply. */
export interface FileChangeDetail {
  path: string;
  change: FileChange;
  old_sha256: string | null;
  new_sha256: string | null;
  old_mode: string | null;
  new_mode: string | null;
  /** Owner now (the last known owner for 'deleted'). */
  uid: number;
  gid: number;
  old_uid: number | null;
  old_gid: number | null;
  /** Size in bytes now (the last known size for 'deleted'). */
  size: number;
  inode: number;
  /** For a symbolic link: where it points now (or pointed, for 'deleted'). */
  link_target: string | null;
  [key: string]: unknown;
}

/**
 * The alerts one path's move from `before` to `after` deserves (undefined = absent). A content
 * change is one 'modified' alert that also shows any mode or owner change; otherwise an owner
 * change and a mode change are one alert each. A new inode with the same content (an editor's
 * atomic save) is no change at all.
 */
export function describeChanges(
  path: string,
  before: FileFacts | undefined,
  after: FileFacts | undefined,
): FileChangeDetail[] {
  if (!before && !after) return [];
  const now = (after ?? before)!;
  const detail = (change: FileChange): FileChangeDetail => ({
    path,
    change,
    old_sha256: before?.sha256 ?? null,
    new_sha256: after?.sha256 ?? null,
    old_mode: before ? formatMode(before.mode) : null,
    new_mode: after ? formatMode(after.mode) : null,
    uid: now.uid,
    gid: now.gid,
    old_uid: before?.uid ?? null,
    old_gid: before?.gid ?? null,
    size: now.size,
    inode: now.ino,
    link_target: now.linkTarget ?? null,
  });
  if (!before) return [detail('created')];
  if (!after) return [detail('deleted')];

  // An unreadable side (sha256 null) proves nothing about the content either way.
  const contentChanged =
    (before.sha256 !== null && after.sha256 !== null && before.sha256 !== after.sha256) ||
    (before.linkTarget ?? null) !== (after.linkTarget ?? null);
  if (contentChanged) return [detail('modified')];
  const out: FileChangeDetail[] = [];
  if (before.uid !== after.uid || before.gid !== after.gid) out.push(detail('owner_changed'));
  if (before.mode !== after.mode) out.push(detail('mode_changed'));
  return out;
}
