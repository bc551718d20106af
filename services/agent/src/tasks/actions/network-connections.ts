import type { TaskContext, TaskOutcome } from '@tripwire/agent-sdk';
import { NetworkConnection, TaskStatus } from '@tripwire/proto';
import { readSockets } from '../../sensors/proc-net-tcp.js';
import { findSocketOwners } from '../../sensors/socket-owners.js';
import { ListPages } from '../list-pages.js';
import { OutputBudget } from '../output-budget.js';

/** TCP and UDP sockets (v4 and v6) of this network namespace, with the pid holding each. */
export async function networkConnections(ctx: TaskContext, procRoot: string): Promise<TaskOutcome> {
  const sockets = await readSockets(procRoot, ['tcp', 'tcp6', 'udp', 'udp6']);
  const owners = await findSocketOwners(procRoot, new Set(sockets.map((s) => s.inode)));
  const budget = new OutputBudget(ctx.maxOutputBytes);
  const pages = new ListPages<NetworkConnection>(
    budget,
    (c) => NetworkConnection.encode(c).finish().length,
    (connections) => ({ $case: 'networkConnections', networkConnections: { connections } }),
    ctx.emit,
  );
  for (const s of sockets) {
    const added = pages.add({
      protocol: s.protocol,
      localAddress: s.localAddress,
      localPort: s.localPort,
      remoteAddress: s.remoteAddress,
      remotePort: s.remotePort,
      state: s.stateName,
      uid: s.uid,
      inode: s.inode,
      pid: owners.get(s.inode) ?? 0,
    });
    if (!added) break;
  }
  pages.flush();
  return {
    status: TaskStatus.TASK_STATUS_SUCCEEDED,
    truncated: budget.truncated,
    response: { $case: 'networkConnections', networkConnections: { connections: [] } },
  };
}
