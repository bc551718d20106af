import type { Logger } from '@tripwire/logger';
import { RejectCode, type ServerCommand } from '@tripwire/proto';
import type { AgentRule } from './agent-types.js';
import { fromWireRule } from './alert-wire.js';
import type { Outbox } from './outbox.js';

export interface CommandHandlerDeps {
  outbox: Outbox;
  log: Logger;
  /** A complete new rule set from the server. */
  applyRules: (rules: AgentRule[]) => void;
}

/** What the server's acknowledgements, rejections and rule updates do to the agent. */
export class CommandHandler {
  acked = 0;
  rejected = 0;

  constructor(private readonly deps: CommandHandlerDeps) {}

  handle(command: ServerCommand): void {
    const { outbox, log } = this.deps;
    switch (command.command?.$case) {
      case 'ack':
        // Durable on the server: the outbox may forget them.
        this.acked += outbox.complete(command.command.ack.alertIds);
        return;
      case 'rejection': {
        // The server will never store this alert as it is; resending cannot help.
        const { alertId, code, reason } = command.command.rejection;
        if (outbox.complete([alertId]) === 0) return;
        this.rejected++;
        log.warn(
          { alertId, code: RejectCode[code] ?? code, reason },
          'the server rejected an alert; dropped it from the outbox',
        );
        return;
      }
      case 'rules': {
        const wire = command.command.rules.rules;
        const rules = wire.flatMap((r) => fromWireRule(r) ?? []);
        if (rules.length < wire.length)
          log.warn(
            { skipped: wire.length - rules.length },
            'ignored rules of an unknown type or severity',
          );
        this.deps.applyRules(rules);
        return;
      }
      default:
      // Pings are answered by the stream itself.
    }
  }
}
