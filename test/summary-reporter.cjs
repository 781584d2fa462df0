// Mocha reporter: the spec reporter's output, then one plain closing line
// `N passed, N failed[, N skipped]` that CI reads (mocha's own summary is not read).
'use strict'
const Mocha = require('mocha')
const { Spec } = Mocha.reporters
const { EVENT_RUN_END, EVENT_TEST_PASS, EVENT_TEST_FAIL, EVENT_TEST_PENDING } = Mocha.Runner.constants

class SummaryReporter extends Spec {
  constructor (runner, options) {
    super(runner, options)
    let passed = 0
    let failed = 0
    let skipped = 0
    runner.on(EVENT_TEST_PASS, () => { passed++ })
    runner.on(EVENT_TEST_FAIL, () => { failed++ })
    runner.on(EVENT_TEST_PENDING, () => { skipped++ })
    runner.once(EVENT_RUN_END, () => {
      const tail = skipped > 0 ? `, ${skipped} skipped` : ''
      process.stdout.write(`${passed} passed, ${failed} failed${tail}\n`)
    })
  }
}

module.exports = SummaryReporter
