import type { TaskPayload } from '@tripwire/agent-sdk';
import type { OutputBudget } from './output-budget.js';

/** Entries per response: a page stays far under gRPC's message limit. */
const PAGE_ENTRIES = 500;

/**
 * Sends a long listing as pages of entries (non-final responses), within the task's output
 * budget: an entry that no longer fits ends the listing, marked truncated.
 */
export class ListPages<T> {
  private page: T[] = [];
  private full = false;

  constructor(
    private readonly budget: OutputBudget,
    private readonly size: (entry: T) => number,
    private readonly toPayload: (entries: T[]) => TaskPayload,
    private readonly emit: (payload: TaskPayload) => void,
  ) {}

  /** False once the budget is spent: the caller may stop producing. */
  add(entry: T): boolean {
    if (this.full) return false;
    const bytes = this.size(entry);
    if (this.budget.take(bytes) < bytes) {
      this.full = true;
      return false;
    }
    this.page.push(entry);
    if (this.page.length >= PAGE_ENTRIES) this.flush();
    return true;
  }

  flush(): void {
    if (this.page.length === 0) return;
    this.emit(this.toPayload(this.page));
    this.page = [];
  }
}
