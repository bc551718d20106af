import Mustache from 'mustache';

/**
 * Message text from a route's template (mustache: logic-less, so an operator's template
 * cannot run code; no partials are given, and the view is plain JSON, so no lambdas).
 * The escaping depends on where the text goes.
 */
export type TextEscape = 'none' | 'slack' | 'html';

const ESCAPES: Record<TextEscape, (s: string) => string> = {
  none: (s) => s,
  // Slack's mrkdwn control characters (api.slack.com/reference/surfaces/formatting#escaping).
  slack: (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;'),
  html: Mustache.escape,
};

export const DEFAULT_INCIDENT_TEMPLATE =
  '[{{severity}}] Incident {{event}} on {{hostname}}: {{rule_name}} ({{tripwire_type}}), {{alert_count}} alert(s)';
export const DEFAULT_ALERT_TEMPLATE =
  '[{{severity}}] Alert on {{hostname}}: {{rule_name}} ({{tripwire_type}})';

/** Throws on a template that does not parse (checked when a route is saved). */
export function checkTemplate(template: string) {
  Mustache.parse(template);
}

export function renderText(
  template: string | null,
  event: Record<string, unknown>,
  escaping: TextEscape,
): string {
  const source =
    template ?? (event.event === 'alert' ? DEFAULT_ALERT_TEMPLATE : DEFAULT_INCIDENT_TEMPLATE);
  const view = { ...event, hostname: event.hostname ?? event.host_id };
  return Mustache.render(source, view, {}, { escape: ESCAPES[escaping] });
}
