// A page's address in the console's hash router (#/keys, #/buckets/<name>?prefix=...).

export interface Route {
  /** Path segments after "#/", decoded. */
  parts: string[];
  params: URLSearchParams;
}
