import { isMain } from "../../src/index.ts";
console.log(`isMain=${isMain(import.meta)}`);
