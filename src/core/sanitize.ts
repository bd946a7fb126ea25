/**
 * Text from the registry may hold terminal escape sequences, and bidi controls that make a
 * terminal show text in another order than it is (U+202E shows "exe.txt" for "txt.exe"): print
 * them escaped.
 */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

export function escapeControl(text: string): string {
  return text
    .replace(CONTROL, (c) => {
      const code = c.charCodeAt(0);
      return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
    })
    .replace(/\n/g, '\\n')
    .replace(/\t/g, '\\t');
}
