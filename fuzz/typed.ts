// What counts as a crash for the targets: any error that is not a ServiceError, and a
// ServiceError of status 500 or more (the handlers turn an untyped error into one).

import { ServiceError } from '../src/errors.js';
import { outcomeLabel } from './engine.js';

/** The outcome label of a typed 4xx error (words echoed from `input` left out); rethrows anything else (a crash). */
export function typedOutcome(e: unknown, input = ''): string {
  if (e instanceof ServiceError && e.status < 500) return outcomeLabel(e.code, e.message, input);
  throw e;
}
