// PLACEHOLDER: being written; answers UnsupportedOperationException until then.
import type { KmsOperation } from '../operation.js';
import { kmsError } from '../errors.js';
const pending: KmsOperation = async () => { throw kmsError('UnsupportedOperationException', 'not implemented yet'); };
export const createKey: KmsOperation = pending;
export const describeKey: KmsOperation = pending;
export const listKeys: KmsOperation = pending;
export const enableKey: KmsOperation = pending;
export const disableKey: KmsOperation = pending;
export const updateKeyDescription: KmsOperation = pending;
