// Name-ordered pages of the SQLite IAM store's listings (users, groups, roles, managed
// policies), the twin of pg-iam-page.ts.

import type { ListUsersQuery } from './types.js';

/**
 * A page of a name-ordered IAM listing: names after @after, paths starting with @prefix
 * (NULL for all), at most @limit rows (negative for all). `name` and `path` are the
 * columns; `extra` more conditions. '' sorts before every name, so the bound is always a
 * seek into the primary key.
 */
export function listPage(table: string, columns: string, name: string, path = 'path', extra = ''): string {
  return `SELECT ${columns} FROM ${table}
     WHERE ${name} > @after AND (@prefix IS NULL OR substr(${path}, 1, length(@prefix)) = @prefix)${extra}
     ORDER BY ${name} LIMIT @limit`;
}

/** listPage's parameters for a query. */
export function pageParams(q: ListUsersQuery): { after: string; prefix: string | null; limit: number } {
  return { after: q.after ?? '', prefix: q.pathPrefix ?? null, limit: q.limit ?? -1 }; // SQLite: a negative LIMIT is no limit
}
