// The administration routes of an online root-key rotation (online-rotation.ts), for
// `coffer custody rotate|migrate --online`:
//
//   POST /_coffer/api/custody/rotation   coffer:RotateRootKey        start (or resume after a failure)
//        {"command": "rotate", "newKeyLabel"?: L, "itemsPerSecond"?: n}
//        {"command": "migrate", "to": "file" | "pkcs11" | "external-kms", "settings": {VAR: value}, "itemsPerSecond"?: n}
//   GET  /_coffer/api/custody/rotation   coffer:GetRootKeyRotation   the status
//   DELETE /_coffer/api/custody/rotation coffer:CancelRootKeyRotation cancel a cluster's rotation
//        before its switch (409 InvalidState after it, on one server, or with none in progress)
//   all answer the status: {"state", "from", "to", "pass", "done", "total", "resealed", ...}
//
// `settings` are the new provider's variables (COFFER_PKCS11_*, COFFER_EXTERNAL_KMS_*) and
// never a secret: a PIN or a secret key is read by the server from the file a *_FILE
// variable names (custody-record.ts, ONLINE_SETTINGS). The start, a resume and the end are
// audit events under the signer.

import { adminError, type AdminRoute } from '../../admin/route.js';
import { RotationRequestError, type OnlineRequest, type RootKeyRotator } from './online-rotation.js';

export const ROTATION_ROUTE_PATH = 'custody/rotation';

const invalid = (message: string) => adminError('ValidationException', message);

function parseRequest(body: Record<string, unknown>): OnlineRequest {
  const rate = body.itemsPerSecond;
  if (rate !== undefined && (typeof rate !== 'number' || !Number.isFinite(rate) || rate <= 0)) throw invalid('itemsPerSecond must be a positive number.');
  const itemsPerSecond = rate === undefined ? {} : { itemsPerSecond: rate };
  if (body.command === 'rotate') {
    if (body.newKeyLabel !== undefined && (typeof body.newKeyLabel !== 'string' || body.newKeyLabel === '')) throw invalid('newKeyLabel must be a non-empty string.');
    return { command: 'rotate', ...(typeof body.newKeyLabel === 'string' ? { newKeyLabel: body.newKeyLabel } : {}), ...itemsPerSecond };
  }
  if (body.command === 'migrate') {
    const to = body.to;
    if (to !== 'file' && to !== 'pkcs11' && to !== 'external-kms') throw invalid('to must be one of file, pkcs11, external-kms.');
    const settings = body.settings ?? {};
    if (typeof settings !== 'object' || settings === null || Array.isArray(settings) || Object.values(settings).some((v) => typeof v !== 'string')) throw invalid('settings must be an object of strings.');
    return { command: 'migrate', to, settings: settings as Record<string, string>, ...itemsPerSecond };
  }
  throw invalid('command must be rotate or migrate.');
}

export function rotationRoutes(rotation: RootKeyRotator): AdminRoute[] {
  const refused = (e: unknown) => e instanceof RotationRequestError ? adminError(e.code, e.message, e.code === 'ValidationException' ? 400 : 409) : e;
  return [
    {
      method: 'POST',
      path: ROTATION_ROUTE_PATH,
      action: 'coffer:RotateRootKey',
      async run(r) {
        try {
          return await rotation.start(parseRequest(r.json()), r.caller);
        } catch (e) {
          throw refused(e);
        }
      },
    },
    { method: 'GET', path: ROTATION_ROUTE_PATH, action: 'coffer:GetRootKeyRotation', run: async () => rotation.status() },
    {
      method: 'DELETE',
      path: ROTATION_ROUTE_PATH,
      action: 'coffer:CancelRootKeyRotation',
      async run(r) {
        try {
          return await rotation.cancel(r.caller);
        } catch (e) {
          throw refused(e);
        }
      },
    },
  ];
}
