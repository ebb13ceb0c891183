// Name-ordered pages of the PostgreSQL IAM store's listings (users, groups, roles,
// managed policies): names compared and ordered folded, as the name indexes fold them.

import type { ListUsersQuery } from './types.js';
import { ci } from './pg-iam-schema.js';

/**
 * A page of a name-ordered IAM listing: names after $1 (folded), paths starting with $2
 * (byte for byte; NULL for all), at most $3 rows (NULL for all). `name` and `path` are the columns; `extra` more conditions.
 */
export function listPage(table: string, columns: string, name: string, path = 'path', extra = ''): string {
  return `SELECT ${columns} FROM ${table}
     WHERE lower(${name}) > ${ci(1)} AND ($2::text IS NULL OR substr(${path}, 1, length($2::text)) = $2::text)${extra}
     ORDER BY lower(${name}) LIMIT $3`;
}

/** listPage's values for a query. */
export function pageValues(q: ListUsersQuery): unknown[] {
  return [q.after ?? '', q.pathPrefix ?? null, q.limit ?? null];
}
