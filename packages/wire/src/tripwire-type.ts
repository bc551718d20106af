/** What a tripwire watches; PostgreSQL's tripwire_type enum has the same values. */
export const TRIPWIRE_TYPES = ['FILE', 'NETWORK', 'PROCESS'] as const;
export type TripwireType = (typeof TRIPWIRE_TYPES)[number];
