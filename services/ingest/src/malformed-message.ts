import type { ServiceDefinition } from '@grpc/grpc-js';

/**
 * What a handler receives instead of a request that did not decode. grpc-js
 * would end such a call with INTERNAL; handlers answer INVALID_ARGUMENT, the
 * caller's fault, and count it.
 */
export class MalformedMessage {
  constructor(
    readonly messageType: string,
    readonly problem: string,
  ) {}

  describe(): string {
    return `the message could not be decoded as ${this.messageType} (${this.problem})`;
  }
}

/** The same service, with request decoders that return a MalformedMessage instead of throwing. */
export function tolerateMalformedRequests<T extends ServiceDefinition>(
  service: T,
  packageName: string,
): T {
  const tolerant: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(service)) {
    const messageType = `${packageName}.${method.path.split('/').pop()} request`;
    tolerant[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        try {
          return method.requestDeserialize(bytes);
        } catch (err) {
          return new MalformedMessage(messageType, (err as Error).message);
        }
      },
    };
  }
  return tolerant as T;
}
