export type Role = 'viewer' | 'admin';

export interface Operator {
  /** Who: the token's subject, recorded as the actor in the audit log. */
  name: string;
  role: Role;
}

/** Which credential a request was authenticated by, so an open WebSocket can recheck it. */
export interface Credential {
  kind: 'jwt' | 'session' | 'api_token';
  /** The session's hash (hex) or the API token's id; the subject for a JWT. */
  ref: string;
  expiresAt: Date;
  /** A JWT's iat: an admin's revoke-all ends the JWTs issued up to it. */
  issuedAt?: Date;
}

export interface VerifiedOperator extends Operator {
  credential: Credential;
}

/**
 * How an operator appears in the audit log and on incidents (created_by, note
 * authors): the prefix keeps a token whose subject is, say, "ingest" apart from
 * the ingest service itself.
 */
export const auditActor = (operator: Pick<Operator, 'name'>) => `operator:${operator.name}`;

/** An API token acts as `token:<its name>`: never mistaken for a person of the same name. */
export const apiTokenOperatorName = (tokenName: string) => `token:${tokenName}`;

export class AuthError extends Error {
  constructor(
    message: string,
    readonly status: 401 | 403,
    readonly reason: string,
  ) {
    super(message);
  }
}
