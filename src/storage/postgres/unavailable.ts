// Recognising "PostgreSQL cannot be reached" among the failures of the PostgreSQL stores:
// no connection can be made (refused, reset, timed out, the server shutting down or
// starting), or a connection broke under a query. The services answer it as a dependency
// that is down — S3 503 ServiceUnavailable, KMS 503 DependencyTimeoutException, IAM 500
// ServiceFailure, STS 503 ServiceUnavailable — which clients retry, instead of a 500
// InternalError; the cause goes to the log (its text names the host and port, never the
// URL's password: node-postgres's errors do not carry the connection string).
//
// The pool's connections mark such errors where they arise (pool.ts); isDatabaseUnavailable
// also knows the pool's own "timeout exceeded when trying to connect", made outside them.
// Nothing is retried here: a write either committed or did not, and the caller's request
// fails whole, so an outage leaves every object as it was before the request.

/** Socket errors that mean the server is not there (or went away). */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED']);
/** SQLSTATEs of a server going away or not taking connections (class 08: connection exception). */
const SERVER_CODES = new Set(['57P01', '57P02', '57P03', '53300']);
/** node-postgres's and pg-pool's own messages for a connection that broke or never came. */
const MESSAGES = [
  'Connection terminated unexpectedly',
  'Connection terminated',
  'Connection terminated due to connection timeout',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error and is not queryable',
  'Client was closed and is not queryable',
];

/** Whether `e` says the connection failed or broke (not a statement the server refused). */
function isConnectionFailure(e: unknown): boolean {
  if (typeof e !== 'object' || e === null) return false;
  const { code, message } = e as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || SERVER_CODES.has(code) || code.startsWith('08'))) return true;
  return typeof message === 'string' && MESSAGES.includes(message);
}

/** Marks `e` as "the database is unavailable" when it is a connection failure; returns it. */
export function markIfUnavailable(e: unknown): unknown {
  if (isConnectionFailure(e)) Object.assign(e as object, { databaseUnavailable: true });
  return e;
}

/** Marks any error of making a connection: whatever the cause, no query can run. */
export function markUnavailable(e: unknown): unknown {
  if (typeof e === 'object' && e !== null) Object.assign(e, { databaseUnavailable: true });
  return e;
}

/** Whether `e` (or an error it wraps as `cause`) says the PostgreSQL database cannot be reached. */
export function isDatabaseUnavailable(e: unknown): boolean {
  for (let cur = e, depth = 0; typeof cur === 'object' && cur !== null && depth < 8; cur = (cur as { cause?: unknown }).cause, depth++) {
    if ((cur as { databaseUnavailable?: unknown }).databaseUnavailable === true) return true;
    const message = (cur as { message?: unknown }).message;
    if (message === 'timeout exceeded when trying to connect') return true;
  }
  return false;
}
