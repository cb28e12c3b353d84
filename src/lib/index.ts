export { Shell, type ShellOptions, type ShellResult } from "./shell.ts";
export { ShellError } from "./shell-error.ts";
export type { ShellValue } from "./shell-template.ts";
