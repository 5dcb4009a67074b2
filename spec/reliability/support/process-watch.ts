/**
 * Watches the process for what must never happen under load or faults: an unhandled promise
 * rejection, an uncaught exception, or a MaxListenersExceededWarning (the usual sign of a leak
 * of sockets or listeners). Mocha's own listeners stay in place; these only record.
 */

/** What the watch saw. */
export interface ProcessWatch {
  /** One line per event, in order. */
  readonly events: readonly string[];
  /** Removes the listeners and returns the events. Safe to call twice. */
  stop(): readonly string[];
}

function describeReason(reason: unknown): string {
  if (reason instanceof Error) return `${reason.name}: ${reason.message}`;
  return String(reason);
}

/**
 * Starts watching. Call in `before` (or at the start of a test) and `stop()` when done.
 *
 * @example
 * const watch = watchProcess();
 * await runTheLoad();
 * expect(watch.stop()).to.deep.equal([]);
 */
export function watchProcess(): ProcessWatch {
  const events: string[] = [];
  const onRejection = (reason: unknown): void => {
    events.push(`unhandledRejection: ${describeReason(reason)}`);
  };
  const onException = (error: Error): void => {
    events.push(`uncaughtException: ${describeReason(error)}`);
  };
  const onWarning = (warning: Error): void => {
    if (warning.name === 'MaxListenersExceededWarning') events.push(`warning: ${describeReason(warning)}`);
  };
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  process.on('warning', onWarning);
  let stopped = false;
  return {
    events,
    stop: () => {
      if (!stopped) {
        stopped = true;
        process.removeListener('unhandledRejection', onRejection);
        process.removeListener('uncaughtException', onException);
        process.removeListener('warning', onWarning);
      }
      return events;
    },
  };
}
