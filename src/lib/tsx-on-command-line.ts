// Whether this process was started with tsx already loaded (`node --import tsx`, in NODE_OPTIONS):
// tests and development. Registering tsx again would run every module through two loader chains.
export function tsxOnCommandLine(): boolean {
  return [...process.execArgv, ...(process.env.NODE_OPTIONS ?? "").split(/\s+/)].some((a) => a.includes("tsx"));
}
