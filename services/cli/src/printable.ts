/**
 * Text from the API (run names, error messages) shown as escapes where it holds control characters: a name with
 * ESC sequences could otherwise clear the terminal, recolour or rewrite lines, or fake output with a newline; bidi
 * overrides could reorder what is shown. `\n` inside a value becomes `\x0a` too: one value, one line.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

export function printable(value: string): string {
  return value.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
