// When the addon's file is missing, the backend choice says why in one line, taken from what the install script left
// in build/status.txt: never that line when it says the addon was built (TFJS_BACKEND=native would fail "because"
// the kernels were built).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { absentReason } from '@quantlab/native';

test('an absent addon: the install line when it says what is missing, never a stale "built" line', () => {
  const missing = '@quantlab/native: native oneDNN kernels not built: missing oneDNN headers (libdnnl-dev); training runs on wasm. To enable (Debian): apt-get install -y libdnnl-dev g++ make python3, then npm rebuild';
  assert.equal(absentReason(`${missing}\n`), missing);
  for (const stale of ['@quantlab/native: built the oneDNN kernels (services/native/build/Release/quantlab_native.node)\n', null, '']) {
    const why = absentReason(stale);
    assert.doesNotMatch(why, /built the oneDNN kernels/);
    assert.match(why, /not built .*apt-get install -y libdnnl-dev/);
  }
});
