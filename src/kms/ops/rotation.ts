// PLACEHOLDER: being written; answers UnsupportedOperationException until then.
import type { KmsOperation } from '../operation.js';
import { kmsError } from '../errors.js';
const pending: KmsOperation = async () => { throw kmsError('UnsupportedOperationException', 'not implemented yet'); };
export const enableKeyRotation: KmsOperation = pending;
export const disableKeyRotation: KmsOperation = pending;
export const getKeyRotationStatus: KmsOperation = pending;
export const rotateKeyOnDemand: KmsOperation = pending;
export const listKeyRotations: KmsOperation = pending;
