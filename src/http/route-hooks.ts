/**
 * Hooks given to chosen routes as they are declared (fastify's onRoute), instead of hooks on
 * every request that ask each time which route they are on: fastify builds a fresh object for
 * every read of `request.routeOptions`, and a route-level hook knows its route already.
 */
import type { onRequestHookHandler, onResponseHookHandler, RouteOptions } from 'fastify';

interface RouteHooks {
  onRequest: onRequestHookHandler;
  onResponse: onResponseHookHandler;
}

/**
 * Appends `hook` to the route's own `name` hooks (they run after the app's hooks of that name).
 * A new array each time: fastify declares a GET route's HEAD twin from a copy of the options
 * made before the onRoute hooks ran, and runs them again for it; sharing an array would give
 * the twin the hook twice.
 */
export function addRouteHook<Name extends keyof RouteHooks>(route: RouteOptions, name: Name, hook: RouteHooks[Name]): void {
  const present: unknown = route[name];
  const hooks: unknown[] = present === undefined ? [] : Array.isArray(present) ? (present as unknown[]) : [present];
  (route as unknown as Record<Name, unknown[]>)[name] = [...hooks, hook];
}
