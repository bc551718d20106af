/** How an incident was resolved (PostgreSQL's incident_resolution enum). */
export const RESOLUTION_METHODS = ['MANUAL', 'AUTOMATED', 'PLAYBOOK'] as const;
export type ResolutionMethod = (typeof RESOLUTION_METHODS)[number];
