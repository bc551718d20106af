/** A store the views follow: they subscribe, and the store calls `changed()` after each change. */
export class ChangeNotifier {
  private readonly listeners = new Set<() => void>();

  /** Returns the unsubscribe function (what preact's effects want back). */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  protected changed(): void {
    for (const l of this.listeners) l();
  }
}
