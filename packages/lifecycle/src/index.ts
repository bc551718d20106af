/**
 * Runs `stop` once on the first SIGTERM or SIGINT, then exits 0 (1 if stop
 * failed). A second signal while stopping is ignored: the drain is already under way.
 */
export function stopOnSignals(
  stop: () => Promise<void>,
  onSignal: (signal: string) => void = () => {},
): void {
  let stopping = false;
  const handle = (signal: string) => {
    if (stopping) return;
    stopping = true;
    onSignal(signal);
    stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => handle('SIGTERM'));
  process.on('SIGINT', () => handle('SIGINT'));
}
