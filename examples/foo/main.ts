// Example "foo", used in-process: `npm install` once in this folder, then `npm start` (node --import tsx main.ts).
import { foo } from "./ops.ts";

console.log(`foo() = ${await foo()}`);
console.log(`foo(10) = ${await foo(10)}`);
console.log(`foo.map([1, 2, 3, 4]) = ${JSON.stringify(await foo.map([1, 2, 3, 4]))}`);
// Same map in 2 worker threads: each thread re-imports ./ops.ts and finds `foo` by its export.
console.log(`foo.map([5, 6, 7], { processes: 2 }) = ${JSON.stringify(await foo.map([5, 6, 7], { processes: 2 }))}`);
