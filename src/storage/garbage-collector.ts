// Garbage collection on demand, off the request path: S3 asks for it after every commit
// that may have left garbage blobs (S3Services.collectGarbage), often many times a second.
// The request never waits and never sees a failure: a failed collection is reported and
// its garbage stays listed for the next one (recovery.ts).

/**
 * A fire-and-forget trigger for `collect`: at most one collection runs at a time, and the
 * calls that arrive while it runs are served by one more collection after it, which picks
 * up the garbage their commits added.
 */
export function garbageCollector(collect: () => Promise<unknown>, onError: (err: unknown) => void): () => void {
  let running = false;
  let again = false;
  const run = (): void => {
    again = false;
    collect()
      .catch(onError)
      .finally(() => {
        if (again) run();
        else running = false;
      });
  };
  return () => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    run();
  };
}
