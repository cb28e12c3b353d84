// Example "foo": a plain function as an operator (a job by default). Run: `npm install && npm start` in this folder.
import { operator } from "nbox";

export const foo = operator(function foo(i = 4) {
  return i * i;
});
