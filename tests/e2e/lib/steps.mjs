// Journey steps: each names the earlier steps whose state it builds on. When one of them did
// not pass, the step is skipped (not failed), so the first failure is the one to read and
// unrelated steps still run. A failing step is screenshotted, then `recover` puts the page
// somewhere known for the next one. A step also fails when the page logged errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { shot } from "./browser.mjs";

/**
 * `step(name, needs, fn)` for the page `getPage()` returns once the tests run;
 * `step.passed` holds the names of the steps that passed.
 */
export function stepper(getPage, recover = async () => {}) {
  const passed = new Set();
  const step = (name, needs, fn) => {
    test(name, async (t) => {
      const page = getPage();
      const missing = needs.filter((n) => !passed.has(n));
      if (missing.length) {
        t.skip(`needs the earlier step "${missing[0]}"`);
        return;
      }
      page.problems.length = 0;
      try {
        await fn(t);
        assert.deepEqual(page.problems, [], "the page logged errors");
        passed.add(name);
      } catch (e) {
        await shot(page, `FAILED ${name}`).catch(() => {});
        await recover();
        throw e;
      }
    });
  };
  step.passed = passed;
  return step;
}
