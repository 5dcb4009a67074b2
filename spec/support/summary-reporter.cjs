// The spec reporter, plus one plain last line computed from the run: "N passed, N failed[, N skipped]".
// When MOCHA_SUMMARY_FILE is set the same line is written there, for CI to print last.
'use strict';
const { writeFileSync } = require('node:fs');
const Mocha = require('mocha');
const { EVENT_RUN_END } = Mocha.Runner.constants;

class SummaryReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(EVENT_RUN_END, () => {
      const { passes, failures, pending } = runner.stats ?? this.stats;
      const line = `${passes} passed, ${failures} failed` + (pending > 0 ? `, ${pending} skipped` : '');
      process.stdout.write(`${line}\n`);
      if (process.env.MOCHA_SUMMARY_FILE) writeFileSync(process.env.MOCHA_SUMMARY_FILE, `${line}\n`);
    });
  }
}
module.exports = SummaryReporter;
