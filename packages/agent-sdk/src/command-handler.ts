import type { Logger } from '@tripwire/logger';
import { RejectCode, type Rejection, type ServerCommand } from '@tripwire/proto';
import type { AgentRule } from './agent-types.js';
import { fromWireRule } from './alert-wire.js';
import type { Outbox } from './outbox.js';
import type { RejectionHandler } from './rejection-handler.js';

export interface CommandHandlerDeps {
  outbox: Outbox;
  rejections: RejectionHandler;
  log: Logger;
  /** A complete new rule set from the server. */
  applyRules: (rules: AgentRule[]) => void;
}

/** What the server's acknowledgements, rejections and rule updates do to the agent. */
export class CommandHandler {
  acked = 0;
  /** Rejections are handled one at a time, in order (each may write files). */
  private rejecting: Promise<void> = Promise.resolve();

  constructor(private readonly deps: CommandHandlerDeps) {}

  handle(command: ServerCommand): void {
    const { outbox, log } = this.deps;
    switch (command.command?.$case) {
      case 'ack':
        // Durable on the server: the outbox may forget them.
        this.acked += outbox.complete(command.command.ack.alertIds);
        this.deps.rejections.forget(command.command.ack.alertIds);
        return;
      case 'rejection': {
        const rejection: Rejection = command.command.rejection;
        this.rejecting = this.rejecting
          .then(() => this.deps.rejections.handle(rejection))
          .catch((err: unknown) =>
            log.error(
              { err, alertId: rejection.alertId, code: RejectCode[rejection.code] },
              'handling a rejected alert failed; it stays in the outbox and is sent again',
            ),
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

  /** Resolves once every rejection received so far has been dealt with. */
  settled(): Promise<void> {
    return this.rejecting;
  }
}
