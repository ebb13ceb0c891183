// The administration API's route table: app.ts adds each module's route, the handler
// asks it for the route of a request. A new route needs its own file and one add() in
// app.ts, nothing in the handler.

import { ADMIN_PREFIX, adminError, type AdminRoute } from './route.js';

export class AdminRoutes {
  private readonly routes: AdminRoute[] = [];

  /** Adds a route; a second one for the same method and path is a wiring mistake and throws. */
  add(route: AdminRoute): this {
    if (this.routes.some((r) => r.path === route.path && r.method === route.method)) {
      throw new Error(`two administration routes for ${route.method} ${ADMIN_PREFIX}${route.path}`);
    }
    this.routes.push(route);
    return this;
  }

  /** The route for a request, or the error it answers: 405 for a known path, 404 otherwise. */
  match(method: string | undefined, path: string): AdminRoute {
    const route = this.routes.find((r) => r.path === path && r.method === method);
    if (route) return route;
    throw this.routes.some((r) => r.path === path)
      ? adminError('MethodNotAllowed', `${method} is not allowed on ${ADMIN_PREFIX}${path}.`, 405)
      : adminError('UnknownOperation', `Coffer has no administration route ${ADMIN_PREFIX}${path}.`, 404);
  }
}
