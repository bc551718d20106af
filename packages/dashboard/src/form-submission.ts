import { useState } from 'preact/hooks';
import { ApiError } from './api.js';

/**
 * A form's request to the API: busy while it runs, and the API's refusal afterwards (its
 * message, and the problem of each field it names) for the form to show beside its inputs.
 */
export function useFormSubmission() {
  const [fields, setFields] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  /** Runs `request`; true when it succeeded. */
  const send = async (request: () => Promise<void>): Promise<boolean> => {
    setBusy(true);
    setFields({});
    setError(null);
    try {
      await request();
      return true;
    } catch (err) {
      if (err instanceof ApiError) {
        setFields(err.fields);
        setError(err.message);
      } else setError(String(err));
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { fields, setFields, error, busy, send };
}
