import { CLOSE_SERVICE_RESTART } from './limits.js';
import type { FanoutSocket, Sender } from './socket-state.js';

/**
 * At shutdown: tells every browser to reconnect elsewhere, closes it with
 * CLOSE_SERVICE_RESTART, waits up to `drainMs` for the closes to complete,
 * then cuts what is left.
 */
export async function drainSockets(
  sockets: Set<FanoutSocket>,
  sender: Sender,
  drainMs: number,
): Promise<void> {
  for (const ws of [...sockets]) {
    const state = ws.getUserData();
    sender.send(ws, {
      type: 'closing',
      reason: 'server shutting down: reconnect, to another node if one is up',
    });
    state.closed = true;
    // Never end a socket inside its own cork(): this uWebSockets.js build then keeps the
    // loop's cork buffer and later sends from other sockets never leave.
    ws.end(CLOSE_SERVICE_RESTART, 'service restart');
  }
  const deadline = Date.now() + drainMs;
  while (sockets.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  for (const ws of sockets) ws.close();
}
