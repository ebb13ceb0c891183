// PLACEHOLDER: being written; answers UnsupportedOperationException until then.
import type { KmsOperation } from '../operation.js';
import { kmsError } from '../errors.js';
const pending: KmsOperation = async () => { throw kmsError('UnsupportedOperationException', 'not implemented yet'); };
export const encrypt: KmsOperation = pending;
export const decrypt: KmsOperation = pending;
export const reEncrypt: KmsOperation = pending;
export const generateDataKey: KmsOperation = pending;
export const generateDataKeyWithoutPlaintext: KmsOperation = pending;
export const generateRandom: KmsOperation = pending;
