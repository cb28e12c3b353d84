import { sep } from "node:path";

/** Is absolute path `p` the folder `tree` or somewhere below it? (string test: resolve links first) */
export const isInside = (p: string, tree: string): boolean => p === tree || p.startsWith(tree.endsWith(sep) ? tree : tree + sep);
