/** A query a caller asked for that cannot be run as asked (REST answers 400 invalid_parameter). */
export class InvalidQueryError extends Error {
  override name = 'InvalidQueryError';
}
