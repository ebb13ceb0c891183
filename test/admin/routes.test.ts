// The administration API's route table (src/admin/routes.ts): which route a request gets,
// the 404 and 405 it answers otherwise, and a route added twice.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdminRoutes } from '../../src/admin/routes.js';
import type { AdminRoute } from '../../src/admin/route.js';
import { isServiceError } from '../../src/errors.js';

const route = (method: AdminRoute['method'], path: string): AdminRoute => ({ method, path, action: null, run: async () => ({ method, path }) });

test('a request gets the route of its method and path', () => {
  const get = route('GET', 'things');
  const post = route('POST', 'things');
  const routes = new AdminRoutes().add(get).add(post).add(route('GET', 'other'));
  assert.equal(routes.match('GET', 'things'), get);
  assert.equal(routes.match('POST', 'things'), post);
});

test('a known path with another method is a 405 MethodNotAllowed, an unknown path a 404 UnknownOperation', () => {
  const routes = new AdminRoutes().add(route('GET', 'things'));
  assert.throws(() => routes.match('DELETE', 'things'), (e) => isServiceError(e) && e.status === 405 && e.code === 'MethodNotAllowed' && e.message === 'DELETE is not allowed on /_coffer/api/things.');
  assert.throws(() => routes.match('GET', 'thing'), (e) => isServiceError(e) && e.status === 404 && e.code === 'UnknownOperation' && e.message === 'Coffer has no administration route /_coffer/api/thing.');
});

test('a second route for the same method and path is refused when it is added', () => {
  const routes = new AdminRoutes().add(route('GET', 'things'));
  assert.throws(() => routes.add(route('GET', 'things')), /two administration routes for GET \/_coffer\/api\/things/);
  routes.add(route('PUT', 'things'));
});
