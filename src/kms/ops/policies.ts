// PLACEHOLDER: being written; answers UnsupportedOperationException until then.
import type { KmsOperation } from '../operation.js';
import { kmsError } from '../errors.js';
const pending: KmsOperation = async () => { throw kmsError('UnsupportedOperationException', 'not implemented yet'); };
export const getKeyPolicy: KmsOperation = pending;
export const putKeyPolicy: KmsOperation = pending;
export const listKeyPolicies: KmsOperation = pending;
