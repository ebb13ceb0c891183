// The error every config check throws: what is wrong, and a hint that says how to fix it.

export class ConfigError extends Error {
  constructor(message: string, readonly hint?: string) {
    super(message);
  }
}
